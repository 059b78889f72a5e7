// KafkaSink against a real single-node KRaft broker (test/peers/kafka),
// read back with kcat and decoded with protoc: consumers nobody here wrote.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test, type TestContext } from 'node:test';
import { KafkaSink } from '../../src/pipeline/sinks/kafka-sink.js';
import { CONTENT_TYPES } from '../../src/pipeline/sinks/kafka-message.js';
import kafkajs, { ENCODED_TAIL, RecordSlab } from '../../src/pipeline/sinks/kafka-client.js';
import type { KafkaCompression } from '../../src/pipeline/sinks/kafka-codecs.js';
import { encodeCanonicalJson } from '../../src/proto/json.js';
import { HTTP_RECORD_PROTOC_TEXT, httpRecord, knownRecords } from '../peers/flow-fixtures.js';
import { consumeTopic, protocDecode, releasePeer, startPeer } from '../peers/peers.js';

// kafkajs's own murmur2 (the Java client's), to check the sink's faster one places keys the same way.
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

type ProduceRequest = (args: object) => { encode(): Promise<{ buffer: Buffer }> };

/** kafkajs's Produce request v3 as kafka-client.ts installed it, and kafkajs's own (evaluated afresh, then put back). */
function produceRequests(): { ours: ProduceRequest; stock: ProduceRequest } {
  const require = createRequire(import.meta.url);
  const path = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');
  const ours = require(path) as ProduceRequest;
  delete require.cache[path];
  const stock = require(path) as ProduceRequest;
  require.cache[path]!.exports = ours;
  return { ours, stock };
}

let kafka: Record<string, string>;
const run = Date.now().toString(36);
const NODE = 'pfd-node';

before(async () => {
  kafka = await startPeer('kafka');
});

after(async () => {
  await releasePeer('kafka');
});

test('the replaced Produce request writes the bytes kafkajs\'s own writes for the same messages', async (t: TestContext) => {
  t.mock.method(Date, 'now', () => 1_764_480_000_000);
  const { ours, stock } = produceRequests();
  assert.notEqual(ours, stock, 'kafka-client.ts replaced the module');
  const slab = new RecordSlab();
  const messages = Array.from({ length: 300 }, (_, i) => {
    const key = Buffer.from(`conversation-${i % 7}`);
    const value = Buffer.alloc(50 + (i % 200), i);
    const headers = { 'record-id': `n/boot/${i}`, 'record-type': 'FLOW', node: 'n\u00e9' };
    slab.begin(1024);
    slab.bytes(key);
    slab.bytes(value);
    slab.varint(3);
    for (const [k, v] of Object.entries(headers)) {
      slab.bytes(k);
      slab.bytes(v);
    }
    return { key, value, headers, [ENCODED_TAIL]: slab.end() };
  });
  for (const compression of [kafkajs.CompressionTypes.None, kafkajs.CompressionTypes.GZIP]) {
    const args = {
      acks: -1, timeout: 30_000, compression, producerId: 4242, producerEpoch: 3,
      topicData: [
        { topic: 'a', partitions: [{ partition: 0, firstSequence: 7, messages: messages.slice(0, 200) }, { partition: 2, firstSequence: 0, messages: messages.slice(200, 201) }] },
        { topic: 'b', partitions: [{ partition: 1, firstSequence: 99, messages: messages.slice(201) }] },
      ],
    };
    const [mine, theirs] = await Promise.all([ours(args).encode(), stock(args).encode()]);
    assert.ok(mine.buffer.equals(theirs.buffer), `compression ${compression}: same request bytes`);
  }
});

test('records reach Kafka exactly: protoc decodes them, keys keep conversations on one partition, headers name schema and type', async () => {
  const topic = `pfd.e2e.${run}.exact`;
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, compression: 'lz4' });
  await sink.start();
  const records = [httpRecord(NODE), ...knownRecords(NODE, 36)];
  try {
    await sink.write(records.slice(0, 10));
    await sink.write(records.slice(10));
    await sink.flush();
    assert.equal(sink.delivered, records.length);
    assert.deepEqual(sink.losses(), []);
  } finally {
    await sink.stop();
  }

  const messages = await consumeTopic(kafka.bootstrap, topic);
  assert.equal(messages.length, records.length, 'exactly one message per record');
  const byId = new Map(records.map((r) => [r.id, r]));
  const partitionOf = new Map<string, number>();
  for (const m of messages) {
    const record = byId.get(m.headers['record-id']);
    assert.ok(record, `unexpected message ${JSON.stringify(m.headers)}`);
    byId.delete(record.id!);
    assert.equal(m.key, record.conversationId);
    assert.deepEqual(m.headers, {
      'content-type': 'application/x-protobuf; messageType=podflow.v1.FlowRecord',
      'schema-version': 'v1',
      'record-type': ['', 'FLOW', 'TCP_OPEN', 'TCP_CLOSE', 'TCP_FAILED', 'TCP_RESET', 'RETRANSMIT', 'DROP', 'DNS', 'HTTP', 'LOSS'][record.type!],
      'record-id': record.id,
      node: NODE,
    });
    // Both directions of a conversation (source and destination swapped) share a partition.
    const seen = partitionOf.get(m.key);
    if (seen !== undefined) assert.equal(m.partition, seen, `conversation ${m.key} split over partitions`);
    partitionOf.set(m.key, m.partition);
    // The partition a Java or kafkajs producer would choose for this key (the topic has 3).
    assert.equal(m.partition, (kafkajsMurmur2(Buffer.from(m.key)) & 0x7fffffff) % 3, `partition of ${m.key}`);
    const text = await protocDecode(m.value);
    assert.match(text, new RegExp(`^id: "${record.id}"\n`));
    assert.match(text, new RegExp(`\nconversation_id: "${record.conversationId}"\n`));
    if (record.id === `${NODE}/boot1/1`) assert.equal(text, HTTP_RECORD_PROTOC_TEXT);
  }
  assert.equal(byId.size, 0);
  assert.ok(new Set(partitionOf.values()).size > 1, 'conversations spread over partitions');
});

test('every compression codec is readable by the broker and by librdkafka', async () => {
  for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as KafkaCompression[]) {
    const topic = `pfd.e2e.${run}.${compression}`;
    const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, compression });
    await sink.start();
    try {
      await sink.write(knownRecords(NODE, 500));
      await sink.flush();
    } finally {
      await sink.stop();
    }
    const messages = await consumeTopic(kafka.bootstrap, topic);
    assert.equal(messages.length, 500, compression);
    const ids = new Set(messages.map((m) => m.headers['record-id']));
    assert.equal(ids.size, 500, compression);
    const text = await protocDecode(messages[0].value);
    assert.match(text, new RegExp(`^id: "${messages[0].headers['record-id']}"`), compression);
  }
});

test('a batch larger than the topic\'s max.message.bytes is split and delivered, nothing lost', async () => {
  const topic = `pfd.e2e.${run}.split`;
  const admin = new kafkajs.Kafka({ brokers: [kafka.bootstrap], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: '65536' }] }] });
  await admin.disconnect();
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, compression: 'none', lingerMs: 1_000 });
  await sink.start();
  const records = knownRecords(NODE, 2000);
  try {
    await sink.write(records);
    await sink.flush();
  } finally {
    await sink.stop();
  }
  assert.equal(sink.delivered, 2000);
  assert.deepEqual(sink.losses(), []);
  const messages = await consumeTopic(kafka.bootstrap, topic);
  assert.deepEqual(new Set(messages.map((m) => m.headers['record-id'])), new Set(records.map((r) => r.id)));
});

test('JSON and OCSF encodings carry their content type', async () => {
  const topic = `pfd.e2e.${run}.json`;
  const record = httpRecord(NODE);
  for (const encoding of ['json', 'ocsf'] as const) {
    const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic: `${topic}.${encoding}`, encoding });
    await sink.start();
    try {
      await sink.write([record]);
      await sink.flush();
    } finally {
      await sink.stop();
    }
    const [message] = await consumeTopic(kafka.bootstrap, `${topic}.${encoding}`);
    assert.equal(message.headers['content-type'], CONTENT_TYPES[encoding]);
    const value = JSON.parse(message.value.toString()) as Record<string, unknown>;
    if (encoding === 'json') assert.equal(message.value.toString(), encodeCanonicalJson(record));
    else {
      assert.equal(value.class_uid, 4002);
      assert.equal((value.metadata as { uid: string }).uid, record.id);
    }
  }
});

test('one topic per record type', async () => {
  const topic = `pfd.e2e.${run}.bytype`;
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, topicPerRecordType: true });
  await sink.start();
  try {
    await sink.write([httpRecord(NODE), ...knownRecords(NODE, 9)]);
    await sink.flush();
  } finally {
    await sink.stop();
  }
  assert.equal((await consumeTopic(kafka.bootstrap, `${topic}.http`)).length, 1);
  assert.equal((await consumeTopic(kafka.bootstrap, `${topic}.tcp_close`)).length, 1);
  assert.equal((await consumeTopic(kafka.bootstrap, `${topic}.flow`)).length, 1);
});

test('TLS with SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (and a client certificate) deliver', async () => {
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    const topic = `pfd.e2e.${run}.tls.${mechanism}`;
    const sink = new KafkaSink({
      brokers: [kafka['sasl-ssl']],
      topic,
      tls: { caFile: kafka.ca, certFile: kafka['client-cert'], keyFile: kafka['client-key'] },
      sasl: { mechanism, username: kafka['sasl-user'], password: kafka['sasl-password'] },
    });
    await sink.start();
    try {
      await sink.write(knownRecords(NODE, 20));
      await sink.flush();
    } finally {
      await sink.stop();
    }
    assert.equal(sink.delivered, 20, mechanism);
    assert.equal((await consumeTopic(kafka.bootstrap, topic)).length, 20, mechanism);
  }
});

test('a wrong password fails start() with an error naming the user and the cause', async () => {
  const sink = new KafkaSink({
    brokers: [kafka['sasl-ssl']],
    tls: { caFile: kafka.ca },
    sasl: { mechanism: 'scram-sha-512', username: kafka['sasl-user'], password: 'not-the-password' },
  });
  await assert.rejects(sink.start(), (err: Error) => {
    assert.match(err.message, /kafka sink: cannot connect to 127\.0\.0\.1:\d+ as "podflow" \(scram-sha-512\)/);
    assert.match(err.message, /authentication failed/i);
    return true;
  });
  assert.equal(sink.ready, false);
});

test('an unknown CA file fails start() naming the option and path', async () => {
  const sink = new KafkaSink({ brokers: [kafka['sasl-ssl']], tls: { caFile: '/nonexistent/ca.pem' } });
  await assert.rejects(sink.start(), /kafka sink: cannot read kafka\.tls\.caFile "\/nonexistent\/ca\.pem"/);
});
