// The broker goes away for 20 s mid-stream and comes back: the same KafkaSink
// (never restarted) holds what its bounded buffer can, sheds the rest and
// counts it ("buffer_full") while still taking LOSS records, and delivers
// every record it took once the broker returns. Read back with kcat.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaSink, LOSS_RESERVE_BYTES } from '../../src/pipeline/sinks/kafka-sink.js';
import { RecordType, type FlowRecord } from '../../src/pipeline/types.js';
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

const lossRecord: FlowRecord = {
  id: `${NODE}/loss/1`, type: RecordType.LOSS, nodeName: NODE, time: { seconds: 1_700_000_000, nanos: 0 },
  loss: { stage: 'sink:kafka', reason: 'buffer_full', count: 1 }, observation: { probe: 'agent', hook: 'pipeline' },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('broker stopped for 20 s: every accepted record delivered at least once, the rest shed and counted, LOSS records kept, no restart', async () => {
  const topic = `pfd.e2e.${Date.now().toString(36)}.outage`;
  const bufferBytes = 2 * 1024 * 1024;
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic, compression: 'lz4', bufferBytes, retryMaxMs: 1_000 });
  await sink.start();

  const accepted = new Set<string>();
  let rejected = 0;
  let extraShed = 0;
  const shedCount = () => sink.losses().find((l) => l.reason === 'buffer_full')?.count ?? 0;
  let seq = 1;
  let written = 0;
  let maxBuffered = 0;
  let writing = true;
  // About 2,000 records/s in batches of up to 100, as the pipeline's sink runner would hand them over.
  const writer = (async () => {
    while (writing) {
      // Data records only: a full buffer sheds those, LOSS records are tried below.
      const batch = knownRecords(NODE, 100, 6, seq).filter((r) => r.type !== RecordType.LOSS);
      seq += 100;
      const shedBefore = shedCount();
      await sink.write(batch);
      const shed = shedCount() - shedBefore;
      if (shed === 0) for (const r of batch) accepted.add(r.id!);
      else assert.equal(shed, batch.length, 'a batch is taken or shed whole');
      rejected += shed;
      written += batch.length;
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
    let deliveredDuringOutage = 0;
    kafka = await withPeerStopped('kafka', async () => {
      await pause(20_000);
      assert.equal(sink.ready, false, 'not ready while the broker is away');
      assert.ok(rejected > 0, 'the buffer filled and writes were shed');
      // A full buffer still takes a LOSS record (from its reserve) and sheds the data beside it.
      const buffered = sink.bufferedRecords;
      const shedBefore = shedCount();
      // More data than the room a batch of the writer's left.
      const data = knownRecords(NODE, 500, 6, 10_000_000).filter((r) => r.type !== RecordType.LOSS);
      await sink.write([lossRecord, ...data]);
      assert.equal(sink.bufferedRecords, buffered + 1, 'the LOSS record was buffered');
      assert.equal(shedCount() - shedBefore, data.length, 'the data records were shed');
      extraShed = data.length;
      deliveredDuringOutage = sink.delivered;
    });
    // Delivery resumes when the producer's next attempt reaches the broker, which can be seconds after the
    // broker answers again (up to a backoff, then a new producer if the batch in flight at the stop was
    // kept without its acknowledgement: OUT_OF_ORDER_SEQUENCE_NUMBER), more on a loaded machine: so it is
    // waited for, not assumed. Its first batch takes the whole buffer, and from then on writes fit again.
    await Promise.race([waitFor('delivery after the outage', async () => (sink.delivered > deliveredDuringOutage ? true : undefined), 60_000), writer]);
    const rejectedUntilRecovered = rejected;
    await pause(3_000);
    writing = false;
    await writer;
    await sink.flush();
    assert.equal(sink.ready, true, 'ready again without a restart');
    assert.equal(sink.bufferedRecords, 0);
    await sink.stop();

    assert.ok(maxBuffered <= bufferBytes + LOSS_RESERVE_BYTES, `buffer stayed within its bound and the LOSS reserve (${maxBuffered} <= ${bufferBytes} + ${LOSS_RESERVE_BYTES})`);
    assert.deepEqual(sink.losses(), [{ stage: 'sink:kafka', reason: 'buffer_full', count: rejected + extraShed }], 'only shed records were lost');
    assert.equal(accepted.size + rejected, written, 'every record is accepted or shed');
    assert.equal(rejected, rejectedUntilRecovered, 'once delivery resumed nothing was shed');
  } finally {
    writing = false;
    await writer.catch(() => {});
    await sink.stop(2_000);
  }

  const delivered = new Set((await consumeTopic(kafka.bootstrap, topic)).map((m) => m.headers['record-id']));
  assert.ok(delivered.has(lossRecord.id!), 'the LOSS record taken while the buffer was full was delivered');
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
