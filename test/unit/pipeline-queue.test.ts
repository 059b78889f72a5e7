import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { BoundedQueue } from '../../src/pipeline/bounded-queue.js';
import { RecordIdAssigner } from '../../src/pipeline/record-ids.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { SinkRunner } from '../../src/pipeline/sink-runner.js';
import { CollectingSink, sampleRecords } from './pipeline-fixtures.js';

test('the bounded queue is FIFO, refuses when full and wraps around', () => {
  const q = new BoundedQueue<number>(3);
  assert.ok(q.push(1) && q.push(2) && q.push(3));
  assert.equal(q.push(4), false);
  assert.equal(q.shift(), 1);
  assert.ok(q.push(4));
  assert.deepEqual(q.take(10), [2, 3, 4]);
  assert.equal(q.shift(), undefined);
  q.push(5);
  assert.equal(q.clear(), 1);
  assert.throws(() => new BoundedQueue(0), /queue capacity must be a positive integer, got 0/);
});

const options = { queueCapacity: 10, lossQueueCapacity: 2, batchSize: 4, maxInFlight: 1 };

test('record ids are <node>/<boot id>/<seq>, consecutive across the blocks they are cut from, for any node name', () => {
  for (const node of ['node-a', 'n', 'nœud-ü/日本']) {
    const ids = new RecordIdAssigner(node, 'b0');
    for (let seq = 1; seq <= 1100; seq++) assert.equal(ids.next(), `${node}/b0/${seq}`);
    assert.equal(ids.issued, 1100);
  }
  assert.match(new RecordIdAssigner('node-a').next(), /^node-a\/[0-9a-f]{8}\/1$/);
});

test('record ids stay right over many blocks, where each block reuses the prefixes the previous one laid out', () => {
  const ids = new RecordIdAssigner('ip-10-0-12-34.eu-west-1.compute.internal', 'b0');
  for (let seq = 1; seq <= 120_000; seq++) {
    const id = ids.next();
    if (id !== `ip-10-0-12-34.eu-west-1.compute.internal/b0/${seq}`) assert.fail(`id ${seq}: ${id}`);
  }
});

test('the sink runner batches, keeps in-flight writes bounded and drops past capacity', async () => {
  const sink = new CollectingSink();
  sink.delayMs = 5;
  const runner = new SinkRunner(sink, options);
  const flow = sampleRecords().FLOW;
  for (let i = 0; i < 15; i++) runner.offer({ ...flow, id: String(i) });
  assert.ok(await runner.waitIdle(performance.now() + 30_000));
  assert.equal(sink.maxInFlight, 1);
  // The first full batch is written as it forms; the queue then holds 10 of the 11 offered after it.
  assert.deepEqual(sink.batches.map((b) => b.length), [4, 4, 4, 2]);
  assert.deepEqual(sink.records.map((r) => r.id), Array.from({ length: 14 }, (_, i) => String(i)));
  assert.deepEqual(runner.counter.snapshot(), { stage: 'sink:memory', received: 15, emitted: 14, failed: 0, dropped: { queue_full: 1 } });
  const snap = runner.snapshot();
  assert.equal(snap.written, 14);
  assert.equal(snap.latency.count, 4);
  assert.ok(snap.latency.sumSeconds >= 0.016);
});

test('LOSS records go out ahead of queued data; their own drops are counted apart', async () => {
  const sink = new CollectingSink();
  const runner = new SinkRunner(sink, options);
  const r = sampleRecords();
  runner.offer(r.FLOW);
  runner.offer(r.HTTP);
  for (let i = 0; i < 3; i++) runner.offerLoss(r.LOSS);
  await runner.waitIdle(performance.now() + 30_000);
  assert.deepEqual(sink.records.map((x) => x.type), [r.LOSS.type, r.LOSS.type, r.FLOW.type, r.HTTP.type]);
  const snap = runner.snapshot();
  assert.equal(snap.lossRecordsWritten, 2);
  assert.equal(snap.lossRecordsDropped, 1);
  assert.equal(snap.written, 2);
  assert.deepEqual([...runner.counter.losses()], [], 'LOSS drops never feed LOSS records');
});

test('a rejected write counts its records as write_failed and reports the error', async () => {
  const sink = new CollectingSink();
  sink.failWrites = 1;
  const events: string[] = [];
  const runner = new SinkRunner(sink, { ...options, onWrite: (e) => events.push(`${e.records}:${e.error?.message ?? 'ok'}`) });
  for (let i = 0; i < 6; i++) runner.offer(sampleRecords().FLOW);
  await runner.waitIdle(performance.now() + 30_000);
  assert.deepEqual(events, ['4:broker unavailable', '2:ok']);
  assert.deepEqual(runner.counter.snapshot().dropped, { write_failed: 4 });
  assert.equal(runner.snapshot().writeErrors, 1);
});

test('abandon counts queued and in-flight records once, even if the write settles later', async () => {
  const sink = new CollectingSink();
  // Long enough that the first write is still in flight at abandon() even when a loaded machine stalls the test.
  sink.delayMs = 1000;
  const runner = new SinkRunner(sink, options);
  for (let i = 0; i < 7; i++) runner.offer(sampleRecords().FLOW);
  await sleep(10);
  assert.equal(await runner.waitIdle(performance.now() + 5), false);
  assert.equal(runner.abandon('shutdown_deadline'), 7);
  const deadline = performance.now() + 30_000;
  while (sink.inFlight > 0 && performance.now() < deadline) await sleep(10);
  assert.equal(sink.inFlight, 0, 'the abandoned write settled');
  const c = runner.counter.snapshot();
  assert.equal(c.emitted + (c.dropped.shutdown_deadline ?? 0), 7);
  assert.equal(c.emitted, 0);
});

test('a sink batch of records ingested is enriched, shaped and handed to write() before ingest returns; a smaller remainder waits for the turn to end', async () => {
  const sink = new CollectingSink();
  const enriched: string[] = [];
  const pipeline = new Pipeline({
    nodeName: 'n1', bootId: 'b', sinks: [sink], sinkBatchSize: 4, sinkMaxInFlight: 2, lossIntervalMs: 0,
    enricher: { enrich: (r) => { enriched.push(r.id!); } },
  });
  await pipeline.start();
  const flow = sampleRecords().FLOW;
  pipeline.ingest(Array.from({ length: 10 }, () => ({ ...flow })));
  // Both write slots took a full batch while the records were fresh; two records wait.
  assert.equal(enriched.length, 10);
  assert.deepEqual(sink.batches.map((b) => b.length), [4, 4]);
  pipeline.ingest([{ ...flow }]);
  assert.equal(enriched.length, 10, 'one record is less than a batch: it waits for the end of the turn');
  await pipeline.stop(2000);
  assert.deepEqual(sink.batches.map((b) => b.length), [4, 4, 3]);
  assert.deepEqual(enriched, Array.from({ length: 11 }, (_, i) => `n1/b/${i + 1}`));
});
