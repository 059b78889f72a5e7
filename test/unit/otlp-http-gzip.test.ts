// OtlpSink over HTTP/protobuf with gzip (the default) against a plain HTTP
// server that keeps what it receives: log requests are gzipped by the sink at
// zlib's fastest level (otlp-log-exporter.ts says why), marked as gzip
// content, and hold every record; the empty health-check request is valid
// gzip too (a collector answers an empty body marked gzip with 400).
// test/e2e/otlp-sink.test.ts checks that a real collector reads them.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { OtlpSink } from '../../src/pipeline/sinks/otlp-sink.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { knownRecords } from '../peers/flow-fixtures.js';

interface Received { path: string; encoding: string | undefined; body: Buffer }

async function collectorStandIn(): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', encoding: req.headers['content-encoding'], body: Buffer.concat(chunks) });
      // An empty ExportLogsServiceResponse: everything accepted.
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** RFC 1952's XFL byte: 4 when the compressor used its fastest algorithm, 0 for zlib's default level. */
const XFL = 8;

/** The log requests an OtlpSink (HTTP/protobuf, `compression`) sent for `records`. */
async function logRequests(compression: 'gzip' | 'none', records: FlowRecord[]): Promise<Received[]> {
  const stand = await collectorStandIn();
  const sink = new OtlpSink({
    endpoint: stand.url, protocol: 'http/protobuf', compression, nodeName: 'pfd-gzip', agentVersion: 'test', metrics: false, scheduledDelayMs: 10,
  });
  try {
    await sink.start();
    await sink.write(records);
    await sink.flush();
  } finally {
    await sink.stop();
    await stand.close();
  }
  assert.deepEqual(sink.losses(), []);
  return stand.received.filter((r) => r.path === '/v1/logs');
}

test('http/protobuf with gzip: every log request gzipped at the fastest level, the health check included, every record in it', async () => {
  const records = knownRecords('pfd-gzip', 500);
  const logs = await logRequests('gzip', records);
  assert.ok(logs.length >= 2, 'the start-up check and at least one export');
  for (const r of logs) {
    assert.equal(r.encoding, 'gzip');
    assert.equal(r.body[XFL], 4, 'gzip at the fastest level');
  }
  assert.equal(gunzipSync(logs[0]!.body).length, 0, 'the start-up check is an empty request');
  const text = Buffer.concat(logs.map((r) => gunzipSync(r.body))).toString('latin1');
  for (const r of records) assert.ok(text.includes(r.id!), `record ${r.id} exported`);
});

test('http/protobuf without compression: log requests sent as they are', async () => {
  const records = knownRecords('pfd-plain', 50);
  const logs = await logRequests('none', records);
  for (const r of logs) assert.equal(r.encoding, undefined);
  const text = Buffer.concat(logs.map((r) => r.body)).toString('latin1');
  for (const r of records) assert.ok(text.includes(r.id!), `record ${r.id} exported`);
});
