// A shutdown while the backend is away, as the agent does it: the pipeline
// drains, flush()es its sinks until the shutdown deadline and then gives each
// sink's stop() at least a second more, and the agent reports the losses it
// then reads. What the Kafka sink's buffer or the OTLP sink's exports still
// hold must be counted by then; before, stop() went on delivering for 10-15 s,
// the pipeline gave up on it, and those records were lost without a count.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { KafkaSink } from '../../src/pipeline/sinks/kafka-sink.js';
import { OtlpSink } from '../../src/pipeline/sinks/otlp-sink.js';
import { RecordType, type LossCount, type Sink, type LossSource } from '../../src/pipeline/types.js';
import { knownRecords } from '../peers/flow-fixtures.js';
import { releasePeer, startPeer, waitFor, withPeerStopped, type PeerName } from '../peers/peers.js';

const DEADLINE_MS = 3_000;
const RECORDS = 300;
const run = Date.now().toString(36);

after(async () => {
  await releasePeer('kafka');
  await releasePeer('otelcol');
});

/** Starts a pipeline on `sink`, stops `peer`, writes records, stops the pipeline; returns the losses and how long stop took. */
async function shutdownWithPeerAway(peer: PeerName, sink: Sink & LossSource): Promise<{ losses: LossCount[]; tookMs: number; written: number }> {
  const pipeline = new Pipeline({ nodeName: `pfd-stop-${run}`, sinks: [sink], lossSources: [sink], lossIntervalMs: 0 });
  await pipeline.start();
  let result: { losses: LossCount[]; tookMs: number; written: number } | undefined;
  await withPeerStopped(peer, async () => {
    pipeline.ingest(knownRecords(`pfd-stop-${run}`, RECORDS).filter((r) => r.type !== RecordType.LOSS));
    const stage = `sink:${sink.name}`;
    // The sink accepted them (its buffer or its export requests hold them) before the shutdown begins.
    const written = await waitFor('the records written to the sink', async () => {
      const s = pipeline.snapshot().sinks.find((x) => x.name === sink.name)!;
      const depth = pipeline.snapshot().queues.find((q) => q.name === stage)!.depth;
      return depth === 0 && s.inFlight === 0 && s.written > 0 ? s.written : undefined;
    });
    const started = Date.now();
    await pipeline.stop(DEADLINE_MS);
    result = { losses: pipeline.snapshot().losses.filter((l) => l.count > 0), tookMs: Date.now() - started, written };
  });
  return result!;
}

function lostBy(losses: LossCount[], stage: string): Record<string, number> {
  return Object.fromEntries(losses.filter((l) => l.stage === stage).map((l) => [l.reason, l.count]));
}

test('Kafka: records buffered while the broker is away at shutdown are counted as sink:kafka/shutdown within the deadline', { timeout: 3 * 60_000 }, async () => {
  const kafka = await startPeer('kafka');
  const sink = new KafkaSink({ brokers: [kafka.bootstrap], topic: `pfd.e2e.${run}.stop`, retryMaxMs: 500 });
  const { losses, tookMs, written } = await shutdownWithPeerAway('kafka', sink);
  assert.ok(tookMs < DEADLINE_MS + 1_500, `pipeline.stop took ${tookMs} ms for a ${DEADLINE_MS} ms deadline`);
  assert.deepEqual(lostBy(losses, 'sink:kafka'), { shutdown: written }, JSON.stringify(losses));
});

test('OTLP: log records not exported while the collector is away at shutdown are counted within the deadline', { timeout: 3 * 60_000 }, async () => {
  const otelcol = await startPeer('otelcol');
  const sink = new OtlpSink({
    endpoint: otelcol['otlp-http'], nodeName: `pfd-stop-${run}`, agentVersion: '0.1.0-test', scheduledDelayMs: 50, metricsIntervalMs: 60_000,
  });
  const { losses, tookMs, written } = await shutdownWithPeerAway('otelcol', sink);
  assert.ok(tookMs < DEADLINE_MS + 1_500, `pipeline.stop took ${tookMs} ms for a ${DEADLINE_MS} ms deadline`);
  const lost = lostBy(losses, 'sink:otlp');
  assert.ok((lost.shutdown ?? 0) > 0, `some records were still being exported at shutdown: ${JSON.stringify(losses)}`);
  assert.equal((lost.export_failed ?? 0) + lost.shutdown, written, `every record written is counted: ${JSON.stringify(losses)}`);
  assert.equal(sink.inFlight, 0);
});
