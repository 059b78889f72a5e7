// The accounting invariant: for a known workload pushed through deliberately
// small queues into a slow sink, records delivered + records counted as
// dropped = records produced, exactly; and the LOSS records in the stream add
// up to every non-policy drop.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { StdoutSink } from '../../src/pipeline/sinks/stdout.js';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { copy, sampleRecords } from './pipeline-fixtures.js';

/** A reader that takes one chunk per millisecond: the slow end of a pipe. */
class SlowReader extends Writable {
  text = '';
  constructor() {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.text += chunk.toString();
    setTimeout(done, 1);
  }
}

test('delivered + dropped = produced, through small queues into a slow stdout sink', async () => {
  const reader = new SlowReader();
  const sink = new StdoutSink({ format: 'json', productVersion: 'test', stream: reader });
  const pipeline = new Pipeline({
    nodeName: 'node-a',
    bootId: 'inv',
    sinks: [sink],
    // Smaller than one batch: ingest drains each batch at once (a sink batch's worth), so only a batch larger than the queue overflows it.
    ingestQueueCapacity: 150,
    sinkQueueCapacity: 50,
    sinkBatchSize: 10,
    sinkMaxInFlight: 1,
    lossIntervalMs: 20,
    enricher: { enrich: (r) => { if (r.source) r.source.node = 'enriched'; } },
    shape: { filters: { allow: [], deny: [{ toNamespace: ['kube-system'] }] }, sampling: { FLOW: 0.5 } },
  });
  await pipeline.start();
  const samples = Object.values(sampleRecords()).filter((r) => r.type !== podflow.v1.RecordType.LOSS);
  let produced = 0;
  let maxIngestMs = 0;
  // 40 ring-buffer batches of 200, four per event-loop turn.
  for (let turn = 0; turn < 10; turn++) {
    for (let b = 0; b < 4; b++) {
      const batch: FlowRecord[] = [];
      for (let i = 0; i < 200; i++) batch.push(copy(samples[(produced + i) % samples.length]));
      produced += batch.length;
      const t0 = performance.now();
      pipeline.ingest(batch);
      maxIngestMs = Math.max(maxIngestMs, performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const report = await pipeline.stop(10000);
  assert.deepEqual(report.sinkErrors, []);

  const lines = reader.text.trim().split('\n').map((l) => JSON.parse(l) as { id: string; type: string; source?: { node?: string }; loss?: { stage: string; reason: string; count: string } });
  const delivered = lines.filter((l) => l.type !== 'LOSS');
  const snap = pipeline.snapshot();
  const dropped = snap.stages.reduce((sum, s) => sum + Object.values(s.dropped).reduce((a, b) => a + b, 0), 0);
  assert.equal(delivered.length + dropped, produced, `delivered ${delivered.length} + dropped ${dropped} != produced ${produced}: ${JSON.stringify(snap.stages)}`);

  // The workload really exercised every kind of drop.
  const byStage = Object.fromEntries(snap.stages.map((s) => [s.stage, s]));
  assert.ok(byStage.ingest.dropped.queue_full > 0, 'ingest queue overflowed');
  assert.ok(byStage['sink:stdout'].dropped.queue_full > 0, 'sink queue overflowed');
  assert.ok(byStage.shape.dropped.filtered > 0 && byStage.shape.dropped.sampled > 0);
  assert.equal(byStage['sink:stdout'].emitted, delivered.length);

  // Every delivered record has a unique id and went through enrichment.
  assert.ok(delivered.length > 0, 'records were delivered');
  assert.equal(new Set(delivered.map((d) => d.id)).size, delivered.length);
  assert.ok(delivered.every((d) => d.id.startsWith('node-a/inv/')));
  // Every sample record has a source: the enricher marked it on the record the sink encoded.
  assert.deepEqual(delivered.filter((d) => d.source?.node !== 'enriched').map((d) => d.id), [], 'delivered without the enricher\'s mark');

  // LOSS records account for every non-policy drop, none of them lost.
  assert.equal(snap.sinks[0].lossRecordsDropped, 0);
  const lossTotal = lines.filter((l) => l.type === 'LOSS').reduce((sum, l) => sum + Number(l.loss!.count), 0);
  const nonPolicy = snap.losses.reduce((sum, l) => sum + l.count, 0);
  assert.equal(lossTotal, nonPolicy);
  assert.equal(nonPolicy, dropped - byStage.shape.dropped.filtered - byStage.shape.dropped.sampled);

  assert.ok(maxIngestMs < 100, `ingest() took ${maxIngestMs} ms: it must never wait`);
});
