// The run-time memory bound (memoryLimitBytes): records held in the queues and
// in-flight writes never pass it, whatever their size; what would is shed at
// the sink queue and counted as "memory_limit", and the held bytes come back
// to zero once the sink catches up. The sink queues hold at most three
// quarters of the limit (in equal parts, so a stuck sink does not take the
// others' memory), the ingest queue (one burst) the last quarter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { estimateRecordBytes } from '../../src/pipeline/record-bytes.js';
import { type FlowRecord, RecordType } from '../../src/pipeline/types.js';
import { CollectingSink, sampleRecords } from './pipeline-fixtures.js';

/** HTTP records whose paths make each one about `pathBytes` bigger than the sample. */
function bigRecords(n: number, pathBytes: number): FlowRecord[] {
  const http = sampleRecords().HTTP;
  return Array.from({ length: n }, (_, i) => ({ ...http, http: { ...http.http, path: `/${String(i).padStart(pathBytes, 'x')}` } }));
}

function memoryDrops(pipeline: Pipeline): number {
  return pipeline.snapshot().stages.reduce((n, s) => n + (s.dropped.memory_limit ?? 0), 0);
}

test('record size estimates grow with what the record holds', () => {
  const r = sampleRecords();
  const http = estimateRecordBytes(r.HTTP);
  assert.ok(http >= 760 && http < 2048, `an HTTP record is about 1 KiB, estimated ${http}`);
  assert.equal(estimateRecordBytes(bigRecords(1, 4000)[0]) - estimateRecordBytes(bigRecords(1, 1000)[0]), 3000);
  assert.ok(estimateRecordBytes(r.DNS) > estimateRecordBytes({ ...r.DNS, dns: { ...r.DNS.dns, answers: [] } }));
});

test('the memory bound holds while a sink is slow: the excess is shed as memory_limit, the rest delivered', async () => {
  const sink = new CollectingSink();
  sink.delayMs = 20;
  const limit = 256 * 1024;
  // Queue capacities alone would let ~4000 records of ~5 KiB (20 MiB) wait.
  const pipeline = new Pipeline({
    nodeName: 'node-a', sinks: [sink], memoryLimitBytes: limit, ingestQueueCapacity: 4000, sinkQueueCapacity: 4000,
    sinkBatchSize: 16, sinkMaxInFlight: 1, lossIntervalMs: 0,
  });
  await pipeline.start();
  const total = 2000;
  let peak = 0;
  // Bursts of 50 KiB, as ring-buffer batches arrive, well inside the ingest queue's quarter of the limit.
  for (let sent = 0; sent < total; sent += 10) {
    pipeline.ingest(bigRecords(10, 4000));
    peak = Math.max(peak, pipeline.snapshot().memory!.heldBytes);
    await new Promise((r) => setImmediate(r));
    peak = Math.max(peak, pipeline.snapshot().memory!.heldBytes);
  }
  const snap = pipeline.snapshot();
  assert.equal(snap.memory!.limitBytes, limit);
  assert.ok(peak <= limit, `held ${peak} bytes, above the ${limit} byte bound`);
  assert.ok(peak > limit * 0.6, `the bound was approached (peak ${peak}), so the test exercised it`);
  const sinkStage = snap.stages.find((s) => s.stage === 'sink:memory')!;
  assert.ok((sinkStage.dropped.memory_limit ?? 0) > 1000, `most records shed at the sink queue: ${JSON.stringify(sinkStage.dropped)}`);
  assert.ok(snap.losses.some((l) => l.stage === 'sink:memory' && l.reason === 'memory_limit' && l.count > 0), 'memory_limit is a loss (LOSS records, metrics)');

  const report = await pipeline.stop(5000);
  assert.equal(report.undrained, 0);
  assert.equal(sink.records.filter((r) => r.type !== RecordType.LOSS).length + memoryDrops(pipeline), total, 'every record is delivered or counted as shed');
  assert.ok(sink.records.some((r) => r.loss?.reason === 'memory_limit'), 'and the stream itself says so in a LOSS record');
  assert.equal(pipeline.snapshot().memory!.heldBytes, 0, 'what the queues held is released once written');
});

test('without a memory limit the same burst is held in full (the bound above is what sheds)', async () => {
  const sink = new CollectingSink();
  sink.delayMs = 20;
  const pipeline = new Pipeline({
    nodeName: 'node-a', sinks: [sink], ingestQueueCapacity: 4000, sinkQueueCapacity: 4000, sinkBatchSize: 16, sinkMaxInFlight: 1, lossIntervalMs: 0,
  });
  await pipeline.start();
  pipeline.ingest(bigRecords(500, 4000));
  await new Promise((r) => setImmediate(r));
  const snap = pipeline.snapshot();
  assert.equal(snap.memory!.limitBytes, null);
  assert.ok(snap.memory!.heldBytes > 500 * 4000, `the held bytes are measured: ${snap.memory!.heldBytes}`);
  assert.equal(snap.queues.find((q) => q.name === 'sink:memory')!.bytes, snap.memory!.heldBytes);
  await pipeline.stop(10000);
  assert.equal(memoryDrops(pipeline), 0);
  assert.equal(sink.records.length, 500);
});

test('ingest sheds as memory_limit when one burst passes its quarter of the limit', () => {
  const pipeline = new Pipeline({ nodeName: 'node-a', sinks: [new CollectingSink()], memoryLimitBytes: 200 * 1024 });
  pipeline.ingest(bigRecords(100, 4000));
  const ingest = pipeline.snapshot().stages.find((s) => s.stage === 'ingest')!;
  assert.equal(ingest.emitted, 10, `50 KiB of ~5 KiB records accepted: ${JSON.stringify(ingest)}`);
  assert.equal(ingest.dropped.memory_limit, 90);
  assert.ok(pipeline.snapshot().memory!.heldBytes <= 50 * 1024);
  assert.throws(() => new Pipeline({ nodeName: 'n', sinks: [], memoryLimitBytes: 0 }), /memoryLimitBytes: 0 is not valid \(expected a positive number of bytes\)/);
});

test('a stuck sink sheds within its own share; a healthy sink next to it loses nothing', async () => {
  const stuck = new CollectingSink('stuck');
  stuck.delayMs = 3000;
  const healthy = new CollectingSink('healthy');
  const limit = 512 * 1024;
  const pipeline = new Pipeline({
    nodeName: 'node-a', sinks: [stuck, healthy], memoryLimitBytes: limit, ingestQueueCapacity: 4000, sinkQueueCapacity: 4000,
    sinkBatchSize: 16, sinkMaxInFlight: 1, lossIntervalMs: 0,
  });
  await pipeline.start();
  const total = 1000;
  for (let sent = 0; sent < total; sent += 10) {
    pipeline.ingest(bigRecords(10, 4000));
    await new Promise((r) => setImmediate(r));
    assert.ok(pipeline.snapshot().memory!.heldBytes <= limit);
  }
  while (healthy.records.length < total) await new Promise((r) => setTimeout(r, 5));
  const snap = pipeline.snapshot();
  const stuckBytes = snap.queues.find((q) => q.name === 'sink:stuck')!.bytes!;
  assert.ok(stuckBytes <= (limit * 3) / 4 / 2 && stuckBytes > (limit * 3) / 4 / 2 - 6000, `the stuck sink holds its share: ${stuckBytes}`);
  assert.equal(snap.stages.find((s) => s.stage === 'sink:healthy')!.dropped.memory_limit, undefined);
  assert.ok(snap.stages.find((s) => s.stage === 'sink:stuck')!.dropped.memory_limit! > 800);
  await pipeline.stop(200);
});
