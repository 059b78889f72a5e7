// KafkaSink.start() against the real broker (test/peers/kafka: a PLAINTEXT
// listener and a SASL_SSL one) with the mistakes people make in the kafka.*
// options: each error names the option to check, not only the client
// library's words ("Closed connection", "Request is not valid given the
// current SASL state", "self-signed certificate in certificate chain").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KafkaSink, type KafkaSinkOptions } from '../../src/pipeline/sinks/kafka-sink.js';
import { releasePeer, startPeer } from '../peers/peers.js';

let kafka: Record<string, string>;
const dir = mkdtempSync('/tmp/pfd-kafka-start-');

before(async () => {
  kafka = await startPeer('kafka');
});

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await releasePeer('kafka');
});

async function startError(options: Omit<KafkaSinkOptions, 'brokers'> & { brokers?: string[] }): Promise<string> {
  const sink = new KafkaSink({ brokers: [kafka['sasl-ssl']], ...options });
  try {
    await sink.start();
  } catch (err) {
    assert.equal(sink.ready, false);
    return (err as Error).message;
  }
  await sink.stop();
  return assert.fail('start() succeeded');
}

const sasl = (): KafkaSinkOptions['sasl'] => ({ mechanism: 'scram-sha-512', username: kafka['sasl-user'], password: kafka['sasl-password'] });

test('a port nothing listens on: check kafka.brokers', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  assert.match(await startError({ brokers: [`127.0.0.1:${port}`] }), /ECONNREFUSED.*\(nothing listens there: check kafka\.brokers/);
});

test('a host name that does not resolve: check kafka.brokers', async () => {
  assert.match(await startError({ brokers: ['podflow-no-such-broker.invalid:9092'] }), /ENOTFOUND.*\(the host name does not resolve: check kafka\.brokers\)/);
});

test('TLS towards a PLAINTEXT listener: kafka.tls.enabled', async () => {
  assert.match(await startError({ brokers: [kafka.bootstrap], tls: {} }), /\(the listener does not speak TLS: .*kafka\.tls\.enabled false\)/);
});

test('plaintext towards a SASL_SSL listener: kafka.tls.enabled or kafka.sasl', async () => {
  assert.match(await startError({}), /Closed connection \(the broker closed the connection: is this a TLS listener \(set kafka\.tls\.enabled\) or one that needs SASL \(kafka\.sasl\)\?\)/);
});

test('TLS without SASL towards a SASL_SSL listener: kafka.sasl', async () => {
  assert.match(await startError({ tls: { caFile: kafka.ca } }), /\(the broker closed the connection after TLS: does this listener need SASL \(kafka\.sasl\.mechanism, username, password\)\?\)/);
});

test('SASL towards a PLAINTEXT listener: remove kafka.sasl or use the SASL listener', async () => {
  assert.match(await startError({ brokers: [kafka.bootstrap], sasl: sasl() }), /\(this listener does not take SASL: .*remove kafka\.sasl\)/);
});

test('a broker certificate the system roots do not trust: kafka.tls.caFile', async () => {
  assert.match(await startError({ tls: {}, sasl: sasl() }), /self-signed certificate in certificate chain \(TLS failed: check kafka\.tls\.caFile/);
});

test('a server name the certificate does not carry: kafka.tls.serverName', async () => {
  assert.match(await startError({ tls: { caFile: kafka.ca, serverName: 'kafka.example' }, sasl: sasl() }), /altnames.*\(TLS failed: .*kafka\.tls\.serverName/);
});

test('a CA file that is not PEM is refused naming kafka.tls.caFile (Node would ignore it silently)', async () => {
  const notPem = join(dir, 'ca.der');
  writeFileSync(notPem, 'not a certificate\n');
  assert.match(await startError({ tls: { caFile: notPem }, sasl: sasl() }), /kafka sink: kafka\.tls\.caFile ".*ca\.der" holds no PEM certificate \(expected a "-----BEGIN CERTIFICATE-----" block\)/);
  const key = join(dir, 'client.key');
  writeFileSync(key, 'not a key\n');
  assert.match(await startError({ tls: { caFile: kafka.ca, certFile: kafka['client-cert'], keyFile: key }, sasl: sasl() }), /kafka\.tls\.keyFile ".*client\.key" holds no PEM private key/);
});

test('the right TLS and SASL settings still connect, with a client certificate too', async () => {
  const sink = new KafkaSink({ brokers: [kafka['sasl-ssl']], tls: { caFile: kafka.ca, certFile: kafka['client-cert'], keyFile: kafka['client-key'] }, sasl: sasl() });
  await sink.start();
  assert.equal(sink.ready, true);
  await sink.stop();
});
