// Records per CPU-second through ingest -> enrich (warm static-file cache: 1,000
// pods, 100 services) -> shape (one filter, query-string redaction) ->
// protobuf encode, on one core, and the heap allocated per record.
// Rates are per CPU-second of this process (process.cpuUsage): the machine may
// be shared, and time spent waiting for a core does not count. Wall-clock
// rates are printed too. Throughput runs with Node's default heap flags. The
// allocation figure comes from a child process whose young generation is large
// enough that no GC runs during its window, so the heap growth is exactly what
// was allocated; ArrayBuffer memory (the encoded bytes, in 64 KiB slabs outside
// the JS heap) is reported apart.
// Run: node dist/bench/pipeline.bench.js   (last line: one JSON result object)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createEnricher } from '../src/enrich/index.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import type { FlowRecord, Sink } from '../src/pipeline/types.js';
import { podflow } from '../src/proto/gen/flow.js';
import { ProtobufEncoder } from '../src/proto/protobuf.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const PODS = 1000;
const SERVICES = 100;
const BATCH = 256;
/** Records in flight at once: what the ring buffer hands over before the agent catches up. */
const BURST = 8192;
const podIp = (i: number): string => `10.236.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`;

/**
 * The encode stage as a sink: protobuf bytes made, counted and held until the
 * next batch, as a real sink holds them until written (so the benchmark cannot
 * optimise the encoded buffers away).
 */
class EncodeSink implements Sink {
  readonly name = 'encode';
  readonly ready = true;
  private readonly encoder = new ProtobufEncoder();
  private readonly held: Uint8Array[] = [];
  bytes = 0;
  records = 0;
  async start(): Promise<void> {}
  async write(records: readonly FlowRecord[]): Promise<void> {
    this.held.length = records.length;
    for (let i = 0; i < records.length; i++) {
      const bytes = this.encoder.encode(records[i]);
      this.held[i] = bytes;
      this.bytes += bytes.length;
    }
    this.records += records.length;
  }
  async flush(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** What the flows probe decodes from a ring-buffer batch: no metadata yet. */
function decodedRecord(i: number): FlowRecord {
  const T = podflow.v1.RecordType;
  const http = i % 4 === 0;
  return {
    time: { seconds: 1764504001, nanos: i % 1000000 },
    conversationId: (i % 5000).toString(16),
    type: http ? T.HTTP : T.FLOW,
    nodeName: 'node-a',
    source: { ip: podIp(i % PODS), port: 30000 + (i % 30000) },
    destination: { ip: podIp((i * 7 + 3) % PODS), port: 8080 },
    transport: { protocol: podflow.v1.Protocol.TCP, ipVersion: 4 },
    interface: { name: 'eth0', index: 2 },
    direction: podflow.v1.Direction.EGRESS,
    traffic: { bytes: 1000 + i, packets: 10, bytesReceived: 5000, packetsReceived: 8 },
    tcp: { flags: 0x1b },
    http: http ? { method: 'GET', path: '/api/users?page=2', status: 200, latency: { seconds: 0, nanos: 325000000 } } : undefined,
    observation: { probe: http ? 'http' : 'flows', hook: 'tc', side: podflow.v1.Side.UNKNOWN },
  };
}

async function setup(dir: string): Promise<{ pipeline: Pipeline; sink: EncodeSink; stopEnricher: () => Promise<void> }> {
  const file = path.join(dir, 'metadata.json');
  writeFileSync(file, JSON.stringify({
    pods: Array.from({ length: PODS }, (_, i) => ({
      ip: podIp(i), name: `app-${i % 200}-7d9c8b6f4-${i.toString(36)}`, namespace: `ns-${i % 20}`, uid: `uid-${i}`,
      labels: { app: `app-${i % 200}` }, workload: { kind: 'Deployment', name: `app-${i % 200}` }, node: `node-${i % 50}`,
    })),
    services: Array.from({ length: SERVICES }, (_, s) => ({ ip: `10.236.200.${s + 1}`, port: 80, name: `svc-${s}`, namespace: `ns-${s % 20}` })),
  }));
  const enricher = await createEnricher({ metadataFile: file, kubernetes: false, cgroupRoot: null });
  await enricher.start();
  const sink = new EncodeSink();
  const pipeline = new Pipeline({
    nodeName: 'node-a',
    sinks: [sink],
    enricher,
    ingestQueueCapacity: 65536,
    sinkQueueCapacity: 65536,
    sinkBatchSize: 1024,
    lossIntervalMs: 0,
    shape: { filters: { allow: [], deny: [{ toNamespace: ['kube-system'] }] } },
  });
  await pipeline.start();
  return { pipeline, sink, stopEnricher: () => enricher.stop() };
}

/**
 * Pushes `total` records as ring-buffer-sized batches, in bursts the pipeline
 * can hold, waiting for each burst to come out of the encoder (or be counted
 * as dropped, so a drop can never stall the benchmark).
 */
async function push(pipeline: Pipeline, sink: EncodeSink, pool: FlowRecord[], total: number): Promise<void> {
  const accounted = (): number => sink.records + dropped(pipeline);
  let sent = 0;
  while (sent < total) {
    const target = accounted() + Math.min(BURST, total - sent);
    for (let k = 0; k < BURST && sent < total; k += BATCH, sent += BATCH) {
      const start = sent % pool.length;
      pipeline.ingest(pool.slice(start, start + Math.min(BATCH, total - sent)));
    }
    while (accounted() < target) await new Promise((r) => setImmediate(r));
  }
}

function dropped(pipeline: Pipeline): number {
  return pipeline.snapshot().stages.reduce((s, st) => s + Object.values(st.dropped).reduce((a, b) => a + b, 0), 0);
}

function makePool(n: number): FlowRecord[] {
  return Array.from({ length: n }, (_, i) => decodedRecord(i));
}

/** Child mode: heap bytes allocated per record over a window with no GC. */
async function measureAllocation(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfp-bench-'));
  const { pipeline, sink, stopEnricher } = await setup(dir);
  const pool = makePool(65536);
  await push(pipeline, sink, pool, 500_000); // warm-up: JIT and pool ids
  // Small enough that the encoded bytes (ArrayBuffer slabs) do not trigger a GC by external memory pressure.
  const n = SMOKE ? 20_000 : 50_000;
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  (globalThis as { gc?: () => void }).gc?.();
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage();
  await push(pipeline, sink, pool, n);
  const after = process.memoryUsage();
  await new Promise((r) => setTimeout(r, 100)); // GC entries reach the observer asynchronously
  obs.disconnect();
  await pipeline.stop(1000);
  await stopEnricher();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ bytesPerRecord: (after.heapUsed - before.heapUsed) / n, arrayBufferBytesPerRecord: (after.arrayBuffers - before.arrayBuffers) / n, gcs }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--allocation') return measureAllocation();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfp-bench-'));
  const { pipeline, sink, stopEnricher } = await setup(dir);
  const pool = makePool(65536);
  const total = SMOKE ? 100_000 : 3_000_000;
  await push(pipeline, sink, pool, SMOKE ? 50_000 : 500_000);
  const bytesBefore = sink.bytes, recordsBefore = sink.records;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await push(pipeline, sink, pool, total);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const records = sink.records - recordsBefore;
  const drops = dropped(pipeline);
  await pipeline.stop(1000);
  await stopEnricher();
  rmSync(dir, { recursive: true, force: true });
  const perSecond = Math.round(records / seconds);
  const perCpuSecond = Math.round(records / ((cpu.user + cpu.system) / 1e6));
  // The encode stage alone over the same (now enriched) records: where the time goes.
  const encoder = new ProtobufEncoder();
  const held: Uint8Array[] = new Array(1024);
  const encodeN = SMOKE ? 100_000 : 2_000_000;
  const e0 = process.cpuUsage();
  for (let i = 0; i < encodeN; i++) held[i & 1023] = encoder.encode(pool[i & 65535]);
  const e = process.cpuUsage(e0);
  const encodePerCpuSecond = Math.round(encodeN / ((e.user + e.system) / 1e6));
  console.log(`records: ${records} in ${seconds.toFixed(2)} s: ${perSecond} records/s (CPU ${(((cpu.user + cpu.system) / 1e6 / seconds) * 100).toFixed(0)}% of one core), ${((sink.bytes - bytesBefore) / records).toFixed(0)} protobuf bytes/record, dropped ${drops}`);
  console.log(`per CPU-second: ${perCpuSecond} records; protobuf encode alone: ${encodePerCpuSecond} records per CPU-second`);

  const child = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=512', '--min-semi-space-size=512', fileURLToPath(import.meta.url), '--allocation'], { env: process.env, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`allocation run failed: ${child.stderr}`);
  const alloc = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { bytesPerRecord: number; arrayBufferBytesPerRecord: number; gcs: number };
  console.log(`heap allocated: ${alloc.bytesPerRecord.toFixed(0)} bytes/record, ArrayBuffer memory ${alloc.arrayBufferBytesPerRecord.toFixed(0)} bytes/record (GCs during the window: ${alloc.gcs}${alloc.gcs > 0 ? ': figures too low' : ''})`);
  console.log(JSON.stringify({
    name: 'pipeline',
    // One core's throughput: records per CPU-second, steady on a shared machine.
    value: perCpuSecond,
    unit: 'records/CPU-s',
    target: 1_000_000,
    wallRecordsPerSecond: perSecond,
    encodeOnlyPerCpuSecond: encodePerCpuSecond,
    heapBytesPerRecord: Math.round(alloc.bytesPerRecord),
    arrayBufferBytesPerRecord: Math.round(alloc.arrayBufferBytesPerRecord),
    gcsDuringAllocationWindow: alloc.gcs,
    protobufBytesPerRecord: Math.round((sink.bytes - bytesBefore) / records),
    stages: 'ingest -> enrich (1000 pods warm) -> shape -> protobuf encode',
    node: process.version,
  }));
}

await main();
