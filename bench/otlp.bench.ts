// OTLP log records per second through OtlpSink to the real local collector
// (test/peers/otelcol) over gRPC (or BENCH_PROTOCOL=http/protobuf), gzip (or
// BENCH_COMPRESSION=none), the default summary body (BENCH_BODY=json|none); zero loss required (the writer
// waits for queue room). Records come from a pool of 30,000, each written with
// a fresh id (as in kafka.bench.ts), their pods shared and frozen as the
// enricher attaches them (one Pod object per pod).
// Prints the agent process's CPU and peak RSS, and the collector's CPU (it
// shares the machine's cores); last line is one JSON object.
//   node dist/bench/otlp.bench.js [records]
import { readFileSync } from 'node:fs';
import { OtlpSink, type OtlpProtocol } from '../src/pipeline/sinks/otlp-sink.js';
import type { podflow } from '../src/proto/gen/flow.js';
import { knownRecords } from '../test/peers/flow-fixtures.js';
import { releasePeer, startPeer } from '../test/peers/peers.js';
import { measure } from '../test/peers/process-usage.js';

const total = Number(process.argv[2] ?? 200_000);
const protocol = (process.env.BENCH_PROTOCOL ?? 'grpc') as OtlpProtocol;
const compression = (process.env.BENCH_COMPRESSION ?? 'gzip') as 'gzip' | 'none';
const otelcol = await startPeer('otelcol');
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
await sink.stop();
await releasePeer('otelcol');
const exported = sink.exported - warm;
const lost = sink.losses().reduce((n, l) => n + l.count, 0);
if (exported !== total || lost !== 0) throw new Error(`loss: ${exported} of ${total} exported, ${lost} counted lost`);
const collectorUsPerRecord = Math.round((collectorCpu / total) * 1e6 * 10) / 10;
console.log(`otlp sink: ${total} log records over ${protocol} (${compression}): ${Math.round(total / result.seconds)} records/s, cpu ${result.cpuPercent}%, peak rss ${result.peakRssMb} MiB; collector ${collectorUsPerRecord} cpu-µs/record`);
console.log(JSON.stringify({
  name: 'otlp_sink_log_records_per_second', value: Math.round(total / result.seconds), unit: 'records/s',
  records: total, protocol, compression, lost, seconds: result.seconds, cpu_percent: result.cpuPercent,
  cpu_us_per_record: Math.round((result.cpuSeconds / total) * 1e6 * 10) / 10, peak_rss_mb: result.peakRssMb,
  collector_cpu_us_per_record: collectorUsPerRecord,
}));
