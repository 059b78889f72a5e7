// Records per CPU-second through decode -> ingest -> enrich (warm static-file
// cache: 1,000 pods, 101 services) -> shape (one filter, query-string
// redaction) -> protobuf encode, on one core, and the heap allocated per record.
// The records are the mix a node produces (flows, TCP lifecycle events with
// process context, DNS via the kube-dns ClusterIP, HTTP), new objects for every
// ring-buffer batch, shaped as the decoders build them; building them stands in
// for decoding the ring-buffer bytes and is part of the CPU time (its share is
// printed apart).
// Rates are per CPU-second of this process (process.cpuUsage): the machine may
// be shared, and time spent waiting for a core does not count. Wall-clock
// rates are printed too. Throughput runs with Node's default heap flags. The
// allocation figure comes from a child process whose young generation is large
// enough that no GC runs during its window, so the heap growth is exactly what
// was allocated (less what building the records allocates, measured apart);
// ArrayBuffer memory (the encoded bytes, in 64 KiB slabs outside the JS heap)
// is reported apart. The encoders alone are measured apart too: protobuf, and
// canonical JSON as one string per record (Kafka/OTLP JSON) and as a batch of
// lines in one Buffer (`podflow run -o json` on stdout).
// Run: node dist/bench/pipeline.bench.js   (last line: one JSON result object)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createEnricher } from '../src/enrich/index.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import type { Enricher, FlowRecord, Sink } from '../src/pipeline/types.js';
import { podflow } from '../src/proto/gen/flow.js';
import { encodeCanonicalJson, JsonEncoder } from '../src/proto/json.js';
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

const T = podflow.v1.RecordType;
const { Protocol, Side, Direction } = podflow.v1;
const KUBE_DNS_IP = '10.236.200.250';
const ts = (i: number, lateNs = 0): { seconds: number; nanos: number } => ({ seconds: 1764504001, nanos: ((i % 100000) * 1000 + lateNs) % 1e9 });
const dur = (ns: number): { seconds: number; nanos: number } => ({ seconds: Math.floor(ns / 1e9), nanos: ns % 1e9 });

/**
 * One record as the probes decode it (no metadata yet), in the mix a node
 * produces: half FLOW records (flows table), a quarter TCP lifecycle events
 * (tcp probe: per socket, with process context), an eighth DNS exchanges via
 * the kube-dns ClusterIP, an eighth HTTP exchanges. Field order and presence
 * follow the decoders (src/probes/flows/table.ts, shared/sock-event.ts,
 * dns/matcher.ts, http/decode.ts), so the objects have the same shapes.
 */
function decodedRecord(i: number): FlowRecord {
  const client = { ip: podIp(i % PODS), port: 30000 + (i % 30000) };
  const server = { ip: podIp((i * 7 + 3) % PODS), port: 8080 };
  const conversationId = (i % 5000).toString(16).padStart(16, '0');
  const kind = i % 8;
  if (kind < 4) {
    const record: FlowRecord = {
      type: T.FLOW,
      time: ts(i, 5000),
      startTime: ts(i),
      conversationId,
      nodeName: 'node-a',
      source: client,
      destination: server,
      transport: { protocol: Protocol.TCP, ipVersion: 4 },
      interface: { index: 2, name: 'eth0' },
      direction: Direction.EGRESS,
      traffic: { bytes: 1000 + i, packets: 10, bytesReceived: 5000, packetsReceived: 8 },
      observation: { probe: 'flows', hook: 'tc', side: Side.UNKNOWN },
    };
    record.tcp = { flags: 0x1b };
    return record;
  }
  if (kind < 6) {
    const open = kind === 4;
    const side = i % 16 < 8 ? Side.CLIENT : Side.SERVER;
    const record: FlowRecord = {
      type: open ? T.TCP_OPEN : T.TCP_CLOSE,
      time: ts(i, 9000),
      conversationId,
      nodeName: 'node-a',
      source: client,
      destination: server,
      transport: { protocol: Protocol.TCP, ipVersion: 4 },
      observation: { probe: 'tcp', hook: 'tracepoint/sock/inet_sock_set_state', side },
    };
    if (open) record.tcp = { state: 'ESTABLISHED', srtt: dur(120000) };
    else {
      record.traffic = { bytes: 4096 + i, packets: 12, bytesReceived: 65536, packetsReceived: 50 };
      record.tcp = { state: 'CLOSE', srtt: dur(95000), retransmits: 0 };
      record.startTime = ts(i);
      record.tcp.duration = dur(2500000000);
    }
    record.process = { pid: 4000 + (i % 300), command: side === Side.CLIENT ? 'curl' : 'nginx', cgroupId: 9000 + (i % 300), containerId: '' };
    return record;
  }
  if (kind === 6) {
    const record: FlowRecord = {
      type: T.DNS,
      time: ts(i, 800000),
      startTime: ts(i),
      conversationId,
      nodeName: 'node-a',
      source: { ip: client.ip, port: client.port },
      destination: { ip: podIp(999), port: 53 },
      transport: { protocol: Protocol.UDP, ipVersion: 4 },
      interface: { index: 2, name: 'eth0' },
      dns: { id: i & 0xffff, query: `app-${i % 200}.ns-${i % 20}.svc.cluster.local`, qtype: 'A', rcode: 'NOERROR', answers: [`10.236.200.${(i % 100) + 1}`], truncated: false },
      observation: { probe: 'dns', hook: 'tc', side: Side.UNKNOWN },
    };
    record.dns!.latency = dur(800000);
    record.originalDestination = { ip: KUBE_DNS_IP, port: 53 };
    return record;
  }
  return {
    type: T.HTTP,
    time: ts(i, 325000000),
    startTime: ts(i),
    conversationId,
    nodeName: 'node-a',
    source: client,
    destination: server,
    transport: { protocol: Protocol.TCP, ipVersion: 4 },
    interface: { index: 2, name: 'eth0' },
    http: { method: 'GET', path: '/api/users?page=2', status: 200, latency: dur(325000000), host: 'backend', version: 'HTTP/1.1' },
    observation: { probe: 'http', hook: 'tc', side: Side.UNKNOWN },
  };
}

async function setup(dir: string): Promise<{ pipeline: Pipeline; sink: EncodeSink; enricher: Enricher }> {
  const file = path.join(dir, 'metadata.json');
  writeFileSync(file, JSON.stringify({
    pods: Array.from({ length: PODS }, (_, i) => ({
      ip: podIp(i), name: `app-${i % 200}-7d9c8b6f4-${i.toString(36)}`, namespace: `ns-${i % 20}`, uid: `uid-${i}`,
      labels: { app: `app-${i % 200}` }, workload: { kind: 'Deployment', name: `app-${i % 200}` }, node: `node-${i % 50}`,
    })),
    services: [
      ...Array.from({ length: SERVICES }, (_, s) => ({ ip: `10.236.200.${s + 1}`, port: 80, name: `svc-${s}`, namespace: `ns-${s % 20}` })),
      { ip: KUBE_DNS_IP, port: 53, name: 'kube-dns', namespace: 'kube-system' },
    ],
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
    shape: { filters: { allow: [], deny: [{ toNamespace: ['monitoring'] }] } },
  });
  await pipeline.start();
  return { pipeline, sink, enricher };
}

/**
 * Pushes `total` records as ring-buffer-sized batches, in bursts the pipeline
 * can hold, waiting for each burst to come out of the encoder (or be counted
 * as dropped, so a drop can never stall the benchmark). Every batch is made
 * of new record objects, as each ring-buffer batch decodes into new ones: the
 * stages see records fresh in memory and grow their shapes (ids, metadata) as
 * in the agent, and the CPU time includes building them.
 */
async function push(pipeline: Pipeline, sink: EncodeSink, first: number, total: number): Promise<void> {
  const accounted = (): number => sink.records + dropped(pipeline);
  let sent = 0;
  while (sent < total) {
    const target = accounted() + Math.min(BURST, total - sent);
    for (let k = 0; k < BURST && sent < total; k += BATCH) {
      const n = Math.min(BATCH, total - sent);
      pipeline.ingest(decodeBatch(first + sent, n));
      sent += n;
    }
    while (accounted() < target) await new Promise((r) => setImmediate(r));
  }
}

/** The decode stage's output for one ring-buffer batch: n new records. */
function decodeBatch(first: number, n: number): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < n; i++) out.push(decodedRecord(first + i));
  return out;
}

function dropped(pipeline: Pipeline): number {
  return pipeline.snapshot().stages.reduce((s, st) => s + Object.values(st.dropped).reduce((a, b) => a + b, 0), 0);
}

function cpuSeconds(f: () => void): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** Child mode: heap bytes allocated per record over a window with no GC. */
async function measureAllocation(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfp-bench-'));
  const { pipeline, sink, enricher } = await setup(dir);
  await push(pipeline, sink, 0, 500_000); // warm-up: JIT
  // Small enough that the encoded bytes (ArrayBuffer slabs) do not trigger a GC by external memory pressure.
  const n = SMOKE ? 10_000 : 20_000;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // What building the records allocates (the decoders' share), measured apart and subtracted.
  const built0 = process.memoryUsage().heapUsed;
  const batches: FlowRecord[][] = [];
  for (let sent = 0; sent < n; sent += BATCH) batches.push(decodeBatch(500_000 + sent, Math.min(BATCH, n - sent)));
  const builtBytes = process.memoryUsage().heapUsed - built0;
  batches.length = 0;
  gc?.();
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage();
  await push(pipeline, sink, 500_000, n);
  const after = process.memoryUsage();
  await new Promise((r) => setTimeout(r, 100)); // GC entries reach the observer asynchronously
  obs.disconnect();
  await pipeline.stop(1000);
  await enricher.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({
    bytesPerRecord: (after.heapUsed - before.heapUsed - builtBytes) / n,
    decodedRecordBytes: builtBytes / n,
    arrayBufferBytesPerRecord: (after.arrayBuffers - before.arrayBuffers) / n,
    gcs,
  }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--allocation') return measureAllocation();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfp-bench-'));
  const { pipeline, sink, enricher } = await setup(dir);
  const total = SMOKE ? 100_000 : 3_000_000;
  const warmup = SMOKE ? 50_000 : 500_000;
  await push(pipeline, sink, 0, warmup);
  const bytesBefore = sink.bytes, recordsBefore = sink.records;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await push(pipeline, sink, warmup, total);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const records = sink.records - recordsBefore;
  const drops = dropped(pipeline);
  await pipeline.stop(1000);
  // Where the time goes: building the records alone (the decoders' share), and
  // the encode stage alone over one burst of enriched records, encoded again and again.
  const buildN = SMOKE ? 100_000 : 1_000_000;
  const buildNs = (cpuSeconds(() => {
    for (let sent = 0; sent < buildN; sent += BATCH) decodeBatch(sent, BATCH);
  }) * 1e9) / buildN;
  const burst = decodeBatch(0, BURST);
  for (const r of burst) enricher.enrich(r);
  await enricher.stop();
  rmSync(dir, { recursive: true, force: true });
  const encoder = new ProtobufEncoder();
  const held: Uint8Array[] = new Array(1024);
  const encodeN = SMOKE ? 100_000 : 2_000_000;
  const encodePerCpuSecond = Math.round(encodeN / cpuSeconds(() => {
    for (let i = 0; i < encodeN; i++) held[i & 1023] = encoder.encode(burst[i % BURST]);
  }));
  const jsonN = SMOKE ? 50_000 : 1_000_000;
  const lines: string[] = new Array(1024);
  let jsonBytes = 0;
  const jsonPerCpuSecond = Math.round(jsonN / cpuSeconds(() => {
    for (let i = 0; i < jsonN; i++) jsonBytes += (lines[i & 1023] = encodeCanonicalJson(burst[i % BURST])).length;
  }));
  // Batches as the stdout sink gets them from the pipeline (sinkBatchSize 1024).
  const batches = Array.from({ length: BURST / 1024 }, (_, b) => burst.slice(b * 1024, (b + 1) * 1024));
  const json = new JsonEncoder();
  const chunks: Buffer[] = new Array(16);
  const jsonLinesPerCpuSecond = Math.round(jsonN / cpuSeconds(() => {
    for (let i = 0; i < jsonN / 1024; i++) chunks[i & 15] = json.encodeLines(batches[i % batches.length]);
  }));
  const perSecond = Math.round(records / seconds);
  const perCpuSecond = Math.round(records / ((cpu.user + cpu.system) / 1e6));
  console.log(`records: ${records} in ${seconds.toFixed(2)} s: ${perSecond} records/s (CPU ${(((cpu.user + cpu.system) / 1e6 / seconds) * 100).toFixed(0)}% of one core), ${((sink.bytes - bytesBefore) / records).toFixed(0)} protobuf bytes/record, dropped ${drops}`);
  console.log(`per CPU-second: ${perCpuSecond} records (building them as the decoders do: ${buildNs.toFixed(0)} ns/record of it); protobuf encode alone: ${encodePerCpuSecond} records per CPU-second`);
  console.log(`canonical JSON alone (${(jsonBytes / jsonN).toFixed(0)} bytes/record): ${jsonPerCpuSecond} records per CPU-second as strings, ${jsonLinesPerCpuSecond} as batches of 1024 lines in one Buffer`);

  const child = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=512', '--min-semi-space-size=512', fileURLToPath(import.meta.url), '--allocation'], { env: process.env, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`allocation run failed: ${child.stderr}`);
  const alloc = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { bytesPerRecord: number; decodedRecordBytes: number; arrayBufferBytesPerRecord: number; gcs: number };
  console.log(`heap allocated by the stages: ${alloc.bytesPerRecord.toFixed(0)} bytes/record (building the record itself: ${alloc.decodedRecordBytes.toFixed(0)}), ArrayBuffer memory ${alloc.arrayBufferBytesPerRecord.toFixed(0)} bytes/record (GCs during the window: ${alloc.gcs}${alloc.gcs > 0 ? ': figures too low' : ''})`);
  console.log(JSON.stringify({
    name: 'pipeline',
    // One core's throughput: records per CPU-second, steady on a shared machine.
    value: perCpuSecond,
    unit: 'records/CPU-s',
    target: 1_000_000,
    wallRecordsPerSecond: perSecond,
    encodeOnlyPerCpuSecond: encodePerCpuSecond,
    jsonEncodeOnlyPerCpuSecond: jsonPerCpuSecond,
    jsonLinesOnlyPerCpuSecond: jsonLinesPerCpuSecond,
    recordBuildNsPerRecord: Math.round(buildNs),
    heapBytesPerRecord: Math.round(alloc.bytesPerRecord),
    decodedRecordHeapBytes: Math.round(alloc.decodedRecordBytes),
    arrayBufferBytesPerRecord: Math.round(alloc.arrayBufferBytesPerRecord),
    gcsDuringAllocationWindow: alloc.gcs,
    protobufBytesPerRecord: Math.round((sink.bytes - bytesBefore) / records),
    stages: 'new records per batch -> ingest -> enrich (1000 pods warm) -> shape -> protobuf encode',
    mix: 'FLOW 4/8, TCP_OPEN 1/8, TCP_CLOSE 1/8, DNS 1/8, HTTP 1/8',
    node: process.version,
  }));
}

await main();
