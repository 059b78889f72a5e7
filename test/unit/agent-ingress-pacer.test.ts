// IngressPacer + emitPaced: a burst far larger than the pipeline's queues (the
// flow table's expiry of 100,000 conversations) goes through a real Pipeline
// into a real FileSink without any queue dropping a record; past the shutdown
// deadline what is left is counted, not lost silently.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IngressPacer } from '../../src/agent/ingress-pacer.js';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { FileSink } from '../../src/pipeline/sinks/file.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { emitPaced } from '../../src/probes/flows/paced-ingress.js';
import { FlowTable } from '../../src/probes/flows/table.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { FlowKey as K, FlowDir as D, FlowStats as S } from '../../src/probes/shared/layouts.js';

const dir = mkdtempSync(join(tmpdir(), 'pfr-pacer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MS = 1e6;
const SINK_QUEUE = 1024;

/** A pipeline into a file, with queues far smaller than the burst. */
async function filePipeline(name: string): Promise<{ pipeline: Pipeline; path: string }> {
  const path = join(dir, `${name}.jsonl`);
  const pipeline = new Pipeline({
    nodeName: 'node-1', sinks: [new FileSink({ path, format: 'json', productVersion: 'test' })],
    ingestQueueCapacity: 4096, sinkQueueCapacity: SINK_QUEUE, lossIntervalMs: 0,
  });
  await pipeline.start();
  return { pipeline, path };
}

/** A flow table holding `n` UDP conversations (one direction, one packet each), drained at 1 s. */
function tableOf(n: number): FlowTable {
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const table = new FlowTable(
    { nodeName: 'node-1', clock: new MonotonicClock(), ingress: { ingest: () => undefined }, interfaces, objectDir: '' },
    { activeTimeoutMs: 600_000, idleTimeoutMs: 1000, maxConversations: 131072, hook: () => 'tc' },
  );
  const keys = Buffer.alloc(n * K.size);
  const values = Buffer.alloc(n * S.size);
  for (let i = 0; i < n; i++) {
    const k = i * K.size;
    keys.set([10, 242, 54, 2], k + K.saddr);
    keys.set([10, 242, 55, 2], k + K.daddr);
    keys.writeUInt16LE(10000 + (i % 50000), k + K.sport);
    keys.writeUInt16LE(7000 + Math.floor(i / 50000), k + K.dport);
    keys[k + K.ip_version] = 4;
    keys[k + K.protocol] = 17;
    const v = i * S.size;
    values.writeBigUInt64LE(BigInt(500 * MS), v + S.dir + D.first_ns);
    values.writeBigUInt64LE(100n, v + S.dir + D.bytes);
    values.writeBigUInt64LE(1n, v + S.dir + D.packets);
    values[v + S.dir + D.direction] = 1;
  }
  const overflow: FlowRecord[] = [];
  table.add(keys, values, n, S.size, 1, 1000 * MS, overflow);
  assert.equal(overflow.length, 0);
  return table;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

test('100,000 expired conversations reach the file through a 1,024-record sink queue without a drop', async () => {
  const { pipeline, path } = await filePipeline('paced');
  const pacer = new IngressPacer(pipeline);
  const table = tableOf(100_000);
  let maxDepth = 0;
  const done = await emitPaced(pacer, (out, max) => {
    const sinkQueue = pipeline.snapshot().queues.find((q) => q.name === 'sink:file');
    maxDepth = Math.max(maxDepth, sinkQueue?.depth ?? 0);
    return table.expire(5000 * MS, out, max);
  });
  assert.equal(done, true);
  const report = await pipeline.stop(30_000);
  assert.equal(report.undrained, 0);
  assert.deepEqual(pipeline.losses().filter((l) => l.count > 0), [], 'no stage dropped a record');
  assert.ok(maxDepth <= SINK_QUEUE);
  assert.equal(lines(path).length, 100_000);
  assert.equal(table.size, 0);
});

test('past the producers\' deadline the rest is counted as lost (stage ingest) and the agent stops after the held work', async () => {
  const { pipeline, path } = await filePipeline('deadline');
  const pacer = new IngressPacer(pipeline);
  pipeline.addLossSource(pacer);
  const table = tableOf(50_000);
  pacer.hold((async () => {
    if (!(await emitPaced(pacer, (out, max) => table.flushAll(out, max)))) pacer.abandon(table.clear(), 'flows:shutdown_deadline');
  })());
  // The deadline is already here: what fits in the queues now goes, the rest is abandoned.
  await pacer.settle(Date.now());
  await pipeline.stop(30_000);
  const abandoned = pipeline.losses().find((l) => l.stage === 'ingest' && l.reason === 'flows:shutdown_deadline')?.count ?? 0;
  const written = lines(path).filter((l) => l.includes('"FLOW"')).length;
  assert.ok(abandoned > 0 && written > 0, `abandoned ${abandoned}, written ${written}`);
  assert.equal(written + abandoned, 50_000);
  assert.ok(lines(path).some((l) => l.includes('"flows:shutdown_deadline"')), 'a LOSS record tells the consumer');
});
