// OTLP log records per second through OtlpSink to a real local collector over
// HTTP/protobuf (or BENCH_PROTOCOL=grpc), gzip (or BENCH_COMPRESSION=none), the
// default summary body (BENCH_BODY=json|none); zero loss required (the writer
// waits for queue room). Records come from a pool of 30,000, each written with
// a fresh id (as in kafka.bench.ts), their pods shared and frozen as the
// enricher attaches them (one Pod object per pod).
//
// Which collector (BENCH_COLLECTOR):
//   lean (default)  test/peers/otelcol start --bench: otlp receiver -> debug
//                   exporter (basic: counts, writes nothing). Measures podflow:
//                   the collector only decodes the requests, and its receiver's
//                   own counters (otelcol_receiver_accepted/refused_log_records)
//                   prove every record arrived (accepted == sent, refused == 0).
//   file            the e2e tests' collector: otlp receiver -> batch -> file
//                   exporter (JSON lines). Measures the whole path including the
//                   collector's JSON writer, which at 13-16 CPU-µs/record needs
//                   more of this 2-core machine than podflow does; loss is
//                   checked by the sink's acknowledgements only.
// Prints the agent process's CPU per record and peak RSS, and the collector's
// CPU per record (it shares the machine's cores); last line is one JSON object.
//   node dist/bench/otlp.bench.js [records]
import { readFileSync } from 'node:fs';
import { OtlpSink, type OtlpProtocol } from '../src/pipeline/sinks/otlp-sink.js';
import type { podflow } from '../src/proto/gen/flow.js';
import { knownRecords } from '../test/peers/flow-fixtures.js';
import { collectorLogCounts, releasePeer, startPeer, type PeerName } from '../test/peers/peers.js';
import { measure } from '../test/peers/process-usage.js';

// A million records: several seconds of steady state, so connecting and warming up do not dominate.
const total = Number(process.argv[2] ?? 1_000_000);
const protocol = (process.env.BENCH_PROTOCOL ?? 'http/protobuf') as OtlpProtocol;
const compression = (process.env.BENCH_COMPRESSION ?? 'gzip') as 'gzip' | 'none';
const collector = process.env.BENCH_COLLECTOR ?? 'lean';
if (collector !== 'lean' && collector !== 'file') throw new Error(`BENCH_COLLECTOR="${collector}": expected lean or file`);
const peer: PeerName = collector === 'lean' ? 'otelcol-bench' : 'otelcol';
const otelcol = await startPeer(peer);
const POOL = 30_000;
const records = knownRecords('bench-node', Math.min(total, POOL));
const pods = new Map<string, podflow.v1.IPod>();
for (const r of records) {
  for (const e of [r.source, r.destination]) {
    if (!e?.pod) continue;
    const key = `${e.pod.namespace}/${e.pod.name}`;
    if (!pods.has(key)) {
      if (e.pod.workload) Object.freeze(e.pod.workload);
      pods.set(key, Object.freeze(e.pod));
    }
    e.pod = pods.get(key);
  }
}
const sink = new OtlpSink({
  endpoint: protocol === 'grpc' ? `http://${otelcol['otlp-grpc']}` : otelcol['otlp-http'],
  protocol, compression, nodeName: 'bench-node', agentVersion: 'bench', metricsIntervalMs: 5_000, maxQueueSize: 65_536,
  body: (process.env.BENCH_BODY ?? 'summary') as 'summary' | 'json' | 'none',
});
await sink.start();
await sink.write(knownRecords('bench-warmup', 5_000));
await sink.flush();
const warm = sink.exported;

/** CPU seconds (user + system) the collector process used so far. */
function collectorCpuSeconds(): number {
  const fields = readFileSync(`/proc/${otelcol.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}
/** The lean collector's receiver counts (undefined for the file collector). */
const counts = () => (collector === 'lean' ? collectorLogCounts(otelcol.metrics) : Promise.resolve(undefined));
const countsBefore = await counts();
const collectorBefore = collectorCpuSeconds();

const result = await measure(async () => {
  for (let i = 0; i < total; i += 1000) {
    // The pipeline's queue would hold these; the benchmark waits instead of shedding.
    while (sink.inFlight > 65_536 - 1000) await new Promise((r) => setTimeout(r, 2));
    const batch = records.slice(i % records.length, (i % records.length) + Math.min(1000, total - i));
    for (let j = 0; j < batch.length; j++) batch[j].id = `bench-node/boot1/${i + j}`;
    await sink.write(batch);
  }
  await sink.flush();
});
const collectorCpu = collectorCpuSeconds() - collectorBefore;
const countsAfter = await counts();
await sink.stop();
await releasePeer(peer);
const exported = sink.exported - warm;
const lost = sink.losses().reduce((n, l) => n + l.count, 0);
if (exported !== total || lost !== 0) throw new Error(`loss: ${exported} of ${total} exported, ${lost} counted lost`);
const accepted = countsAfter && countsBefore ? countsAfter.accepted - countsBefore.accepted : undefined;
const refused = countsAfter && countsBefore ? countsAfter.refused - countsBefore.refused : undefined;
if (accepted !== undefined && (accepted !== total || refused !== 0)) {
  throw new Error(`loss at the collector: it accepted ${accepted} and refused ${refused} of ${total} log records sent`);
}
const usPerRecord = (seconds: number) => Math.round((seconds / total) * 1e6 * 10) / 10;
const collectorUsPerRecord = usPerRecord(collectorCpu);
console.log(`otlp sink: ${total} log records over ${protocol} (${compression}) to the ${collector} collector: ${Math.round(total / result.seconds)} records/s, `
  + `podflow ${usPerRecord(result.cpuSeconds)} cpu-µs/record (${result.cpuPercent}% of a core), peak rss ${result.peakRssMb} MiB; `
  + `collector ${collectorUsPerRecord} cpu-µs/record${accepted === undefined ? '' : `, accepted ${accepted}, refused ${refused}`}`);
console.log(JSON.stringify({
  name: 'otlp_sink_log_records_per_second', value: Math.round(total / result.seconds), unit: 'records/s',
  records: total, protocol, compression, collector, lost, collector_accepted: accepted, collector_refused: refused,
  seconds: result.seconds, cpu_percent: result.cpuPercent,
  cpu_us_per_record: usPerRecord(result.cpuSeconds), peak_rss_mb: result.peakRssMb,
  collector_cpu_us_per_record: collectorUsPerRecord,
}));
