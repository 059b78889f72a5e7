// The OTLP sink while the collector (test/peers/otelcol) is away and records
// keep coming:
// 1. The log: one warning when exports start failing and one line when they
//    succeed again, with the number of log records lost in between. Before,
//    every failed export request logged a warning of its own: several lines
//    a second for as long as an outage lasted.
// 2. LOSS records: those of failed exports are exported again once the
//    collector is back, so the collector's side learns of the gap (the outage
//    included). Before, they were lost with the data beside them: a consumer
//    saw only the LOSS records made after the outage.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { OtlpSink } from '../../src/pipeline/sinks/otlp-sink.js';
import { RecordType, type FlowRecord } from '../../src/pipeline/types.js';
import { knownRecords } from '../peers/flow-fixtures.js';
import { logRecordsFor, outputOffset, readCollectorOutput, releasePeer, startPeer, waitFor, withPeerStopped } from '../peers/peers.js';

const REQUESTS = 12;
const PER_REQUEST = 10;

after(async () => {
  await releasePeer('otelcol');
});

test('a collector outage under load logs one warning and one recovery line with the records lost, not a line per failed request', { timeout: 3 * 60_000 }, async () => {
  const otelcol = await startPeer('otelcol');
  const lines: { level: number; msg: string; lostRecords?: number }[] = [];
  const logger = pino({ level: 'info' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  }));
  const node = `pfd-outage-log-${Date.now().toString(36)}`;
  const sink = new OtlpSink({
    endpoint: otelcol['otlp-http'], nodeName: node, agentVersion: '0.1.0-test', logger, metrics: false,
    timeoutMs: 1_000, maxExportBatchSize: PER_REQUEST, scheduledDelayMs: 20,
  });
  await sink.start();
  try {
    await withPeerStopped('otelcol', async () => {
      // Data records only: LOSS records of failed exports wait for the collector (the next test).
      for (let i = 0; i < REQUESTS; i++) await sink.write(knownRecords(node, PER_REQUEST + 1, 6, 2 + i * PER_REQUEST).filter((r) => r.type !== RecordType.LOSS));
      await waitFor('every request settled', async () => (sink.inFlight === 0 ? true : undefined), 60_000);
    });
    assert.deepEqual(sink.losses(), [{ stage: 'sink:otlp', reason: 'export_failed', count: REQUESTS * PER_REQUEST }]);
    await waitFor('the sink ready again', async () => (sink.ready ? true : undefined), 30_000);
  } finally {
    await sink.stop();
  }
  const warnings = lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 1, `one warning for the outage: ${JSON.stringify(warnings, null, 1)}`);
  assert.match(warnings[0].msg, /does not accept exports; not ready until one succeeds; log records of failed exports are counted as lost \(sink:otlp\/export_failed\)/);
  const recovered = lines.filter((l) => /accepts exports again/.test(l.msg));
  assert.equal(recovered.length, 1);
  assert.equal(recovered[0].lostRecords, REQUESTS * PER_REQUEST);
});

test('LOSS records of exports that failed during an outage reach the collector once it is back; only the data is counted lost', { timeout: 3 * 60_000 }, async () => {
  let otelcol = await startPeer('otelcol');
  const offset = await outputOffset(otelcol.output);
  const node = `pfd-outage-loss-${Date.now().toString(36)}`;
  const sink = new OtlpSink({
    endpoint: otelcol['otlp-http'], nodeName: node, agentVersion: '0.1.0-test', metrics: false,
    timeoutMs: 1_000, maxExportBatchSize: PER_REQUEST, scheduledDelayMs: 20,
  });
  const lossRecord = (seq: number): FlowRecord => ({
    id: `${node}/boot1/${seq}`, time: { seconds: 1796000000, nanos: 0 }, type: RecordType.LOSS, nodeName: node,
    loss: { stage: 'sink:otlp', reason: 'export_failed', count: seq }, observation: { probe: 'agent', hook: 'pipeline' },
  });
  const data = (i: number) => knownRecords(node, PER_REQUEST - 1, 6, 1000 + i * PER_REQUEST).filter((r) => r.type !== RecordType.LOSS);
  let dataWritten = 0;
  await sink.start();
  try {
    otelcol = await withPeerStopped('otelcol', async () => {
      for (let i = 0; i < 4; i++) {
        const records = [lossRecord(i + 1), ...data(i)];
        dataWritten += records.length - 1;
        await sink.write(records);
      }
      await waitFor('every data record counted lost', async () => (sink.losses()[0]?.count === dataWritten ? true : undefined), 60_000);
      assert.equal(sink.inFlight, 4, 'the LOSS records wait for the collector');
    });
    await waitFor('the LOSS records exported', async () => (sink.inFlight === 0 && sink.ready ? true : undefined), 60_000);
  } finally {
    await sink.stop();
  }
  assert.deepEqual(sink.losses(), [{ stage: 'sink:otlp', reason: 'export_failed', count: dataWritten }]);
  const received = await waitFor('the LOSS records in the collector output', async () => {
    const found = logRecordsFor(await readCollectorOutput(otelcol.output, offset), node);
    return found.length >= 4 ? found : undefined;
  }, 30_000);
  assert.deepEqual(received.map((r) => r.record.body?.stringValue).sort(), [1, 2, 3, 4].map((n) => `LOSS sink:otlp export_failed: ${n} dropped`));
});
