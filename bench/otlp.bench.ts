// OTLP log records per second through OtlpSink to the real local collector
// (test/peers/otelcol) over gRPC (or BENCH_PROTOCOL=http/protobuf), gzip, the
// default summary body (BENCH_BODY=json|none); zero loss required (the writer
// waits for queue room). Records come from a pool of 30,000, each written with
// a fresh id (as in kafka.bench.ts).
// Prints the agent process's CPU and peak RSS; last line is one JSON object.
//   node dist/bench/otlp.bench.js [records]
import { OtlpSink, type OtlpProtocol } from '../src/pipeline/sinks/otlp-sink.js';
import { knownRecords } from '../test/peers/flow-fixtures.js';
import { releasePeer, startPeer } from '../test/peers/peers.js';
import { measure } from '../test/peers/process-usage.js';

const total = Number(process.argv[2] ?? 200_000);
const protocol = (process.env.BENCH_PROTOCOL ?? 'grpc') as OtlpProtocol;
const otelcol = await startPeer('otelcol');
const POOL = 30_000;
const records = knownRecords('bench-node', Math.min(total, POOL));
const sink = new OtlpSink({
  endpoint: protocol === 'grpc' ? `http://${otelcol['otlp-grpc']}` : otelcol['otlp-http'],
  protocol, nodeName: 'bench-node', agentVersion: 'bench', metricsIntervalMs: 5_000, maxQueueSize: 65_536,
  body: (process.env.BENCH_BODY ?? 'summary') as 'summary' | 'json' | 'none',
});
await sink.start();
await sink.write(knownRecords('bench-warmup', 5_000));
await sink.flush();
const warm = sink.exported;

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
await sink.stop();
await releasePeer('otelcol');
const exported = sink.exported - warm;
const lost = sink.losses().reduce((n, l) => n + l.count, 0);
if (exported !== total || lost !== 0) throw new Error(`loss: ${exported} of ${total} exported, ${lost} counted lost`);
console.log(`otlp sink: ${total} log records over ${protocol}: ${Math.round(total / result.seconds)} records/s, cpu ${result.cpuPercent}%, peak rss ${result.peakRssMb} MiB`);
console.log(JSON.stringify({
  name: 'otlp_sink_log_records_per_second', value: Math.round(total / result.seconds), unit: 'records/s',
  records: total, protocol, lost, seconds: result.seconds, cpu_percent: result.cpuPercent,
  cpu_us_per_record: Math.round((result.cpuSeconds / total) * 1e6 * 10) / 10, peak_rss_mb: result.peakRssMb,
}));
