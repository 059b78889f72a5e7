// Records per second through KafkaSink to the real local broker
// (test/peers/kafka): acks=all, idempotent, zstd (or BENCH_COMPRESSION), zero
// loss required (writes wait for buffer room instead of being rejected).
// Records come from a pool of 30,000 (the pipeline's bounded queues never hold
// more; a pool of every record would make the benchmark mostly garbage
// collection of its own fixtures), each written with a fresh id.
// Prints the agent process's CPU and peak RSS; last line is one JSON object.
//   node dist/bench/kafka.bench.js [records]
import { KafkaSink } from '../src/pipeline/sinks/kafka-sink.js';
import type { KafkaCompression } from '../src/pipeline/sinks/kafka-codecs.js';
import { knownRecords } from '../test/peers/flow-fixtures.js';
import { releasePeer, startPeer } from '../test/peers/peers.js';
import { measure } from '../test/peers/process-usage.js';

// A million records: several seconds of steady state, so connecting and warming up do not dominate.
const total = Number(process.argv[2] ?? 1_000_000);
const compression = (process.env.BENCH_COMPRESSION ?? 'zstd') as KafkaCompression;
const kafka = await startPeer('kafka');
const POOL = 30_000;
const records = knownRecords('bench-node', Math.min(total, POOL));
const sink = new KafkaSink({
  brokers: [kafka.bootstrap], topic: `pfd.bench.${Date.now().toString(36)}`, compression, maxBlockMs: 60_000,
});
await sink.start();
// Warm-up creates the topic and JIT-compiles the encode path; not measured.
await sink.write(knownRecords('bench-warmup', 5_000));
await sink.flush();
const warm = sink.delivered;

const result = await measure(async () => {
  for (let i = 0; i < total; i += 1000) {
    const batch = records.slice(i % records.length, (i % records.length) + Math.min(1000, total - i));
    for (let j = 0; j < batch.length; j++) batch[j].id = `bench-node/boot1/${i + j}`;
    await sink.write(batch);
  }
  await sink.flush();
});
await sink.stop();
await releasePeer('kafka');
const delivered = sink.delivered - warm;
const lost = sink.losses().reduce((n, l) => n + l.count, 0);
if (delivered !== total || lost !== 0) throw new Error(`loss: ${delivered} of ${total} acknowledged, ${lost} counted lost`);
console.log(`kafka sink: ${total} records, ${compression}, acks=all: ${Math.round(total / result.seconds)} records/s, cpu ${result.cpuPercent}%, peak rss ${result.peakRssMb} MiB`);
console.log(JSON.stringify({
  name: 'kafka_sink_records_per_second', value: Math.round(total / result.seconds), unit: 'records/s',
  records: total, compression, acks: 'all', lost, seconds: result.seconds, cpu_percent: result.cpuPercent,
  cpu_us_per_record: Math.round((result.cpuSeconds / total) * 1e6 * 10) / 10, peak_rss_mb: result.peakRssMb,
}));
