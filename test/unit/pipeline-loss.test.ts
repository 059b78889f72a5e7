// LOSS records, loss sources, snapshots and shutdown of the whole pipeline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord, LossCount } from '../../src/pipeline/types.js';
import { CollectingSink, copy, sampleRecords } from './pipeline-fixtures.js';

const LOSS = podflow.v1.RecordType.LOSS;
const flows = (n: number): FlowRecord[] => Array.from({ length: n }, () => copy(sampleRecords().FLOW));
/**
 * Until every queue is empty and no write is in flight. The stages hand records on in setImmediate turns:
 * a fixed wait (it was 20 ms) fires first when a loaded machine stalls the process that long.
 */
async function settle(pipeline: Pipeline): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const snap = pipeline.snapshot();
    if (snap.queues.every((q) => q.depth === 0) && snap.sinks.every((x) => x.inFlight === 0)) return;
    if (performance.now() > deadline) assert.fail(`the pipeline did not settle: ${JSON.stringify(snap.queues)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('LOSS records carry the delta per (stage, reason) since the previous ones', async () => {
  const sink = new CollectingSink();
  const probeLosses: LossCount[] = [{ stage: 'ringbuf', reason: 'ringbuf_full', count: 7 }];
  const pipeline = new Pipeline({ nodeName: 'n1', bootId: 'b', sinks: [sink], ingestQueueCapacity: 10, lossIntervalMs: 0, lossSources: [{ losses: () => probeLosses }], now: () => 1764504001123 });
  await pipeline.start();
  pipeline.ingest(flows(15));
  await settle(pipeline);
  assert.equal(pipeline.emitLossRecords(), 2);
  assert.equal(pipeline.emitLossRecords(), 0, 'nothing new, nothing emitted');
  pipeline.ingest(flows(12));
  probeLosses[0].count = 9;
  assert.equal(pipeline.emitLossRecords(), 2);
  await settle(pipeline);
  const losses = sink.records.filter((r) => r.type === LOSS).map((r) => `${r.loss!.stage}/${r.loss!.reason}=${r.loss!.count}`);
  assert.deepEqual(losses, ['ingest/queue_full=5', 'ringbuf/ringbuf_full=7', 'ingest/queue_full=2', 'ringbuf/ringbuf_full=2']);
  const first = sink.records.find((r) => r.type === LOSS)!;
  assert.equal(first.nodeName, 'n1');
  assert.match(first.id!, /^n1\/b\/\d+$/);
  assert.deepEqual(first.time, { seconds: 1764504001, nanos: 123000000 });
  assert.equal(first.observation?.probe, 'agent');
  await pipeline.stop(1000);
});

test('LOSS records overtake data already waiting for the sink', async () => {
  const sink = new CollectingSink();
  sink.delayMs = 30;
  const pipeline = new Pipeline({ nodeName: 'n1', sinks: [sink], sinkQueueCapacity: 20, sinkBatchSize: 5, sinkMaxInFlight: 1, lossIntervalMs: 0 });
  await pipeline.start();
  pipeline.ingest(flows(40));
  // The first batch went out as it formed: it is in flight, 20 records wait, 15 were dropped.
  assert.equal(pipeline.snapshot().sinks[0]!.inFlight, 1);
  assert.equal(pipeline.emitLossRecords(), 1);
  await pipeline.stop(30_000);
  const types = sink.batches.map((b) => b.map((r) => (r.type === LOSS ? 'L' : 'F')).join(''));
  assert.deepEqual(types, ['FFFFF', 'LFFFF', 'FFFFF', 'FFFFF', 'FFFFF', 'F']);
  assert.equal(sink.records.find((r) => r.type === LOSS)!.loss!.count, 15);
});

test('the periodic timer emits LOSS records while running', async () => {
  const sink = new CollectingSink();
  const pipeline = new Pipeline({ nodeName: 'n1', sinks: [sink], ingestQueueCapacity: 5, lossIntervalMs: 10 });
  await pipeline.start();
  pipeline.ingest(flows(8));
  const loss = () => sink.records.filter((r) => r.type === LOSS);
  // Waited for (a stalled process can run the 10 ms timer late), then five more intervals for a second one.
  const deadline = performance.now() + 60_000;
  while (loss().length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 50));
  await settle(pipeline);
  assert.deepEqual(loss().map((r) => [r.loss!.stage, r.loss!.reason, r.loss!.count]), [['ingest', 'queue_full', 3]]);
  await pipeline.stop(1000);
});

test('stop drains within the deadline, counts what it could not deliver, and stops sinks', async () => {
  const sink = new CollectingSink();
  // Draining all five batches takes 2.5 s; the deadline ends it after the first, with room for a loaded machine.
  sink.delayMs = 500;
  const pipeline = new Pipeline({ nodeName: 'n1', sinks: [sink], sinkBatchSize: 10, sinkMaxInFlight: 1, lossIntervalMs: 0 });
  await pipeline.start();
  pipeline.ingest(flows(50));
  const t0 = performance.now();
  const report = await pipeline.stop(600);
  const elapsed = performance.now() - t0;
  assert.ok(elapsed < 2000, `stop took ${elapsed} ms with a 600 ms deadline`);
  const snap = pipeline.snapshot();
  const s = snap.stages.find((x) => x.stage === 'sink:memory')!;
  assert.ok(report.undrained > 0);
  assert.equal(s.emitted + (s.dropped.shutdown_deadline ?? 0), 50);
  assert.equal(report.undrained, s.dropped.shutdown_deadline);
  assert.equal(report.finalLossRecords, 1);
  assert.ok(sink.flushed && sink.stopped);
  pipeline.ingest(flows(3));
  assert.equal(pipeline.snapshot().stages[0].dropped.stopped, 3);
});

test('snapshot shows stages, queue depths and capacities, and sink stats', async () => {
  const sink = new CollectingSink();
  const pipeline = new Pipeline({ nodeName: 'n1', sinks: [sink], ingestQueueCapacity: 100, sinkQueueCapacity: 50, lossQueueCapacity: 8, lossIntervalMs: 0, shape: { filters: { allow: [{ type: ['HTTP'] }], deny: [] } } });
  await pipeline.start();
  pipeline.ingest(Object.values(sampleRecords()).filter((r) => r.type !== LOSS).map(copy));
  assert.deepEqual(pipeline.snapshot().queues.map((q) => [q.name, q.depth, q.capacity]), [['ingest', 9, 100], ['sink:memory', 0, 50], ['sink:memory:loss', 0, 8]]);
  await settle(pipeline);
  const snap = pipeline.snapshot();
  assert.deepEqual(snap.stages.map((s) => [s.stage, s.received, s.emitted]), [['ingest', 9, 9], ['enrich', 0, 0], ['shape', 9, 1], ['sink:memory', 1, 1]]);
  assert.equal(snap.stages[2].dropped.filtered, 8);
  assert.equal(snap.sinks[0].written, 1);
  assert.equal(snap.sinks[0].latency.buckets.at(-1)!.le, Infinity);
  await pipeline.stop(1000);
});

test('an enricher that throws: the record goes on unenriched, counted as failed (not lost), the first error logged', async () => {
  const sink = new CollectingSink();
  const warnings: { obj: unknown; msg: string }[] = [];
  const logger = { warn: (obj: unknown, msg: string) => warnings.push({ obj, msg }) } as never;
  const enricher = { enrich: (r: FlowRecord) => { if (r.type === podflow.v1.RecordType.HTTP) throw new Error('pod index broken'); if (r.source) r.source.node = 'enriched'; } };
  const pipeline = new Pipeline({ nodeName: 'n1', sinks: [sink], enricher, logger, lossIntervalMs: 0 });
  await pipeline.start();
  const input = Object.values(sampleRecords()).filter((r) => r.type !== LOSS).map(copy);
  const failing = input.filter((r) => r.type === podflow.v1.RecordType.HTTP).length;
  assert.ok(failing >= 1);
  pipeline.ingest([...input, ...input.filter((r) => r.type === podflow.v1.RecordType.HTTP).map(copy)]);
  await settle(pipeline);
  const enrich = pipeline.snapshot().stages.find((st) => st.stage === 'enrich')!;
  assert.deepEqual(enrich, { stage: 'enrich', received: input.length + failing, emitted: input.length + failing, failed: 2 * failing, dropped: {} });
  assert.equal(sink.records.length, input.length + failing, 'every record delivered');
  assert.ok(sink.records.filter((r) => r.type === podflow.v1.RecordType.HTTP).every((r) => r.source?.node !== 'enriched'), 'sent unenriched');
  assert.deepEqual(pipeline.snapshot().losses.filter((l) => l.stage === 'enrich'), [], 'not a loss');
  assert.equal(warnings.length, 1, 'logged once');
  assert.match(warnings[0].msg, /enricher failed on a record: passing it on unenriched/);
  assert.equal((warnings[0].obj as { err: Error }).err.message, 'pod index broken');
  await pipeline.stop(1000);
});

test('configuration mistakes fail at construction or start, naming the option', async () => {
  assert.throws(() => new Pipeline({ nodeName: 'n', sinks: [], ingestQueueCapacity: 0 }), /ingestQueueCapacity: 0 is not valid \(expected a positive integer\)/);
  assert.throws(() => new Pipeline({ nodeName: 'n', sinks: [new CollectingSink('a'), new CollectingSink('a')] }), /sinks: "a" is configured twice/);
  assert.throws(() => new Pipeline({ nodeName: '', sinks: [] }), /record ids need a node name/);
  const broken = new CollectingSink('kafka');
  broken.start = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9092'));
  await assert.rejects(new Pipeline({ nodeName: 'n', sinks: [broken] }).start(), /sink kafka: connect ECONNREFUSED 127\.0\.0\.1:9092/);
  // An error that names its sink already is not named twice.
  broken.start = () => Promise.reject(new Error('kafka sink: cannot connect to 127.0.0.1:9092: ECONNREFUSED'));
  await assert.rejects(new Pipeline({ nodeName: 'n', sinks: [broken] }).start(), { message: 'kafka sink: cannot connect to 127.0.0.1:9092: ECONNREFUSED' });
});
