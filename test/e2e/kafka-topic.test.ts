// KafkaSink.start() and its topics, against a real broker that does not
// create topics on demand (auto.create.topics.enable=false, as production
// clusters are usually run): test/peers/kafka run from a copy whose broker
// configuration differs in that line alone, on free ports, in a directory of
// its own (the shared peer creates topics on demand, which the other tests use).
// A missing topic fails start-up naming the topic and what to do; before,
// start() succeeded, the agent was ready, and every send failed with
// "This server does not host this topic-partition" until the buffer was full
// and the records were shed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
// kafkajs through the sink's loader, which patches two of its modules before kafkajs loads them.
import kafkajs from '../../src/pipeline/sinks/kafka-client.js';
import { KafkaSink } from '../../src/pipeline/sinks/kafka-sink.js';
import { knownRecords } from '../peers/flow-fixtures.js';
import { consumeTopic } from '../peers/peers.js';

const run = promisify(execFile);
const peers = fileURLToPath(new URL('../../../test/peers/', import.meta.url));
const dir = mkdtempSync('/tmp/pfd-kafka-topics-');
const script = join(dir, 'kafka');
let env: NodeJS.ProcessEnv;
let bootstrap: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  cpSync(join(peers, 'kafka'), script);
  cpSync(join(peers, 'kafka.d'), join(dir, 'kafka.d'), { recursive: true });
  const properties = join(dir, 'kafka.d/server.properties.in');
  const original = readFileSync(properties, 'utf8');
  const changed = original.replace(/^auto\.create\.topics\.enable=true$/m, 'auto.create.topics.enable=false');
  assert.notEqual(changed, original, 'the peer broker configuration has auto.create.topics.enable=true to turn off');
  writeFileSync(properties, changed);
  env = {
    ...process.env, PODFLOW_PEERS_RUN: join(dir, 'run'),
    PODFLOW_KAFKA_PORT: String(await freePort()), PODFLOW_KAFKA_CONTROLLER_PORT: String(await freePort()), PODFLOW_KAFKA_SASL_SSL_PORT: String(await freePort()),
  };
  const { stdout } = await run(script, ['start'], { env, timeout: 10 * 60_000 });
  bootstrap = /^bootstrap=(.*)$/m.exec(stdout)![1];
});

after(async () => {
  await run(script, ['clean'], { env }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a topic the broker does not have (and does not create) fails start() naming it, and nothing is ready', async () => {
  // A broker that creates topics on demand has them within seconds; this one never will.
  const sink = new KafkaSink({ brokers: [bootstrap], topic: 'pfd.e2e.missing', topicWaitMs: 2000 });
  await assert.rejects(sink.start(), (err: Error) => {
    assert.match(err.message, new RegExp(`^kafka sink: cannot produce to ${bootstrap.replace(/[.]/g, '\\.')}, topic "pfd\\.e2e\\.missing": not on the broker after 2 s, `
      + 'and it does not create topics on demand \\(auto\\.create\\.topics\\.enable=false\\): create it, or set kafka\\.topic to an existing topic$'));
    return true;
  });
  assert.equal(sink.ready, false);
  await assert.rejects(sink.write(knownRecords('pfd-topics', 1)), /write\(\) before start\(\)/);
});

test('with kafka.topicPerRecordType every per-type topic must exist', async () => {
  const sink = new KafkaSink({ brokers: [bootstrap], topic: 'pfd.e2e.typed', topicPerRecordType: true, topicWaitMs: 2000 });
  await assert.rejects(sink.start(), /topics "pfd\.e2e\.typed\.flow", .*"pfd\.e2e\.typed\.loss" \(kafka\.topicPerRecordType\): not on the broker after 2 s/);
});

test('a topic created beforehand: start() succeeds and records are delivered', async () => {
  const admin = new kafkajs.Kafka({ brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic: 'pfd.e2e.created', numPartitions: 3 }], waitForLeaders: true }), true);
  } finally {
    await admin.disconnect();
  }
  const sink = new KafkaSink({ brokers: [bootstrap], topic: 'pfd.e2e.created' });
  await sink.start();
  const records = knownRecords('pfd-topics', 12);
  try {
    await sink.write(records);
    await sink.flush();
  } finally {
    await sink.stop();
  }
  assert.deepEqual(sink.losses(), []);
  assert.equal((await consumeTopic(bootstrap, 'pfd.e2e.created')).length, records.length);
});
