// The broker goes away for 20 s mid-stream and comes back: the same KafkaSink
// (never restarted) holds what its bounded buffer can, rejects the rest (the
// pipeline counts those), and delivers every record it accepted once the
// broker returns. Read back with kcat.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaSink, SinkBufferFullError } from '../../src/pipeline/sinks/kafka-sink.js';
import { knownRecords } from '../peers/flow-fixtures.js';
import { consumeTopic, releasePeer, startPeer, waitFor, withPeerStopped } from '../peers/peers.js';

let kafka: Record<string, string>;
const NODE = 'pfd-outage';

before(async () => {
  kafka = await startPeer('kafka');
});

after(async () => {
  await releasePeer('kafka');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('broker stopped for 20 s: every accepted record delivered at least once, the rest rejected and counted, no restart', async () => {
  const topic = `pfd.e2e.${Date.now().toString(36)}.outage`;
  const bufferBytes = 2 * 1024 * 1024;
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, compression: 'lz4', bufferBytes, retryMaxMs: 1_000 });
  await sink.start();

  const accepted = new Set<string>();
  let rejected = 0;
  let seq = 1;
  let maxBuffered = 0;
  let writing = true;
  // 2,000 records/s in batches of 100, as the pipeline's sink runner would hand them over.
  const writer = (async () => {
    while (writing) {
      const batch = knownRecords(NODE, 100, 6, seq);
      seq += 100;
      try {
        await sink.write(batch);
        for (const r of batch) accepted.add(r.id!);
      } catch (err) {
        if (!(err instanceof SinkBufferFullError)) throw err;
        rejected += batch.length;
      }
      maxBuffered = Math.max(maxBuffered, sink.bufferedBytes);
      await sleep(50);
    }
  })();
  // Waits that end early, failing the test, should the writer fail.
  const pause = (ms: number) => Promise.race([sleep(ms), writer]);
  try {
    // A broker just (re)started by the previous test file may take a few
    // seconds to create the topic: wait for delivery, not for a fixed time.
    await Promise.race([waitFor('delivery before the outage', async () => (sink.delivered > 0 ? true : undefined), 30_000), writer]);
    await pause(2_000);
    kafka = await withPeerStopped('kafka', async () => {
      await pause(20_000);
      assert.equal(sink.ready, false, 'not ready while the broker is away');
      assert.ok(rejected > 0, 'the buffer filled and writes were rejected');
    });
    // The producer reconnects within its retry backoff; after that the buffer drains and writes fit again.
    await pause(4_000);
    const rejectedUntilRecovered = rejected;
    await pause(3_000);
    writing = false;
    await writer;
    await sink.flush();
    assert.equal(sink.ready, true, 'ready again without a restart');
    assert.equal(sink.bufferedRecords, 0);
    await sink.stop();

    assert.ok(maxBuffered <= bufferBytes, `buffer stayed within its bound (${maxBuffered} <= ${bufferBytes})`);
    assert.deepEqual(sink.losses(), [], 'nothing accepted was lost');
    assert.equal(accepted.size + rejected, seq - 1, 'every record is accepted or rejected');
    assert.equal(rejected, rejectedUntilRecovered, 'once delivery resumed no write was rejected');
  } finally {
    writing = false;
    await writer.catch(() => {});
    await sink.stop(2_000);
  }

  const delivered = new Set((await consumeTopic(kafka.bootstrap, topic)).map((m) => m.headers['record-id']));
  const missing = [...accepted].filter((id) => !delivered.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} accepted records never reached the broker`);
});

test('stop() while the broker is away returns within its timeout and counts the undelivered records as shutdown losses', async () => {
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic: `pfd.e2e.${Date.now().toString(36)}.shutdown`, retryMaxMs: 500 });
  await sink.start();
  try {
    kafka = await withPeerStopped('kafka', async () => {
      await sink.write(knownRecords(NODE, 500));
      const started = Date.now();
      await sink.stop(2_000);
      const took = Date.now() - started;
      assert.ok(took < 6_000, `stop() took ${took} ms`);
    });
    assert.deepEqual(sink.losses(), [{ stage: 'sink:kafka', reason: 'shutdown', count: 500 }]);
    assert.equal(sink.bufferedRecords, 0);
    await assert.rejects(sink.write(knownRecords(NODE, 1)), /write\(\) before start\(\) or after stop\(\)/);
  } finally {
    await sink.stop();
  }
});
