// Records per CPU-second through decode -> ingest -> enrich (warm static-file
// cache: 1,000 pods, 101 services) -> shape (one filter, query-string
// redaction) -> protobuf encode, on one core, and the heap allocated per record.
// The records come from ring-buffer bytes: event structs laid out as the kernel
// writes them (bpf/include/events.h, offsets from src/probes/shared/layouts.ts)
// are built once, and every round decodes them again with the probes' own
// decoders, batch by batch as the ring-buffer consumer hands them over: the
// tcp probe's socket events, the dns probe's query and response events through
// its matcher, the http probe's exchanges, and the flows probe's table fed
// with drained map entries (one per conversation, both directions, per-CPU
// values) and expired as its tick does. The mix is the one a node produces: FLOW 4/8, TCP_OPEN 1/8,
// TCP_CLOSE 1/8 (with process context), DNS 1/8 (via the kube-dns ClusterIP),
// HTTP 1/8, on a node named as cloud nodes are (the name is in every record and
// its id). Decoding is part of the CPU time (its share is printed apart).
// Rates are per CPU-second of this process (process.cpuUsage): the machine may
// be shared, and time spent waiting for a core does not count. Wall-clock
// rates are printed too. Throughput runs with the Node flags this process got
// (the runner gives every benchmark the agent's: bench/lib/launch-flags.ts). The
// allocation figure comes from a child process whose young generation is large
// enough that no GC runs during its window, so the heap growth is exactly what
// was allocated (less what decoding the records allocates, measured apart);
// ArrayBuffer memory (the encoded bytes, in 64 KiB slabs outside the JS heap)
// is reported apart. The encoders alone are measured apart too: protobuf, and
// canonical JSON as one string per record (Kafka/OTLP JSON) and as a batch of
// lines in one Buffer (`podflow run -o json` on stdout).
// Run: node dist/bench/pipeline.bench.js   (last line: one JSON result object)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createEnricher } from '../src/enrich/index.js';
import { Pipeline } from '../src/pipeline/pipeline.js';
import type { Enricher, FlowRecord, RecordIngress, Sink } from '../src/pipeline/types.js';
import { podflow } from '../src/proto/gen/flow.js';
import { encodeCanonicalJson, JsonEncoder } from '../src/proto/json.js';
import { ProtobufEncoder } from '../src/proto/protobuf.js';
import { decodeDnsEvent } from '../src/probes/dns/decode.js';
import { DnsMatcher } from '../src/probes/dns/matcher.js';
import { FlowTable } from '../src/probes/flows/table.js';
import { decodeHttpEvent } from '../src/probes/http/decode.js';
import { MonotonicClock } from '../src/probes/shared/clock.js';
import type { ProbeContext } from '../src/probes/shared/context.js';
import { InterfaceIndex } from '../src/probes/shared/interfaces.js';
import { DnsEvent, FlowDir, FlowKey, FlowStats, HttpEvent, SockEvent } from '../src/probes/shared/layouts.js';
import { decodeSockEvent } from '../src/probes/shared/sock-event.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const PODS = 1000;
const SERVICES = 100;
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

/** A cloud node's name, as NODE_NAME gives it (every record carries it, and its id starts with it). */
const NODE_NAME = 'ip-10-0-12-34.eu-west-1.compute.internal';
const KUBE_DNS_IP = '10.236.200.250';
const DNS_BACKEND_IP = podIp(999);
/** Records per round: 128 FLOW, 32 TCP_OPEN, 32 TCP_CLOSE, 32 DNS, 32 HTTP. */
const ROUND = 256;
const FLOWS = ROUND / 2;
const PER_KIND = ROUND / 8;
/** Rounds of distinct events; the benchmark decodes them again and again (one burst's worth). */
const ROUNDS = BURST / ROUND;
const TCP_HOOK = 'tracepoint/sock/inet_sock_set_state';
/** A kernel monotonic time (ns) around which the events happen. */
const T0 = 5_000_000_000_000;
const IFINDEX = 2;
/** Per-CPU slots of a flows map value (the agent reads possibleCpus(); two here, as on this machine). */
const CPUS = 2;
const { RecordType, Side } = podflow.v1;

/** One ring-buffer batch as the consumer hands it over: the bytes and each record's offset (one past the last too). */
interface RingBatch {
  bytes: Buffer;
  offsets: Uint32Array;
  count: number;
}

/** What one drain of the flows map returns (lookupAndDeleteBatch): keys, per-CPU values, how many. */
interface FlowDrain {
  keys: Buffer;
  values: Buffer;
  count: number;
}

interface Round {
  tcp: RingBatch;
  dns: RingBatch;
  http: RingBatch;
  flows: FlowDrain;
}

function ipv4(buf: Buffer, off: number, ip: string): void {
  const parts = ip.split('.').map(Number);
  for (let i = 0; i < 4; i++) buf[off + i] = parts[i]!;
}

function ringBatch(events: Buffer[]): RingBatch {
  const offsets = new Uint32Array(events.length + 1);
  for (let i = 0; i < events.length; i++) offsets[i + 1] = offsets[i]! + events[i]!.length;
  return { bytes: Buffer.concat(events), offsets, count: events.length };
}

/** struct pf_sock_event of a TCP_OPEN or TCP_CLOSE seen by the client's or the server's socket, with process context. */
function sockEvent(i: number, open: boolean): Buffer {
  const ev = Buffer.alloc(SockEvent.size);
  const side = i % 16 < 8 ? Side.CLIENT : Side.SERVER;
  const [local, lport, remote, rport] = side === Side.CLIENT ? [podIp(i % PODS), 30000 + (i % 30000), podIp((i * 7 + 3) % PODS), 8080] : [podIp((i * 7 + 3) % PODS), 8080, podIp(i % PODS), 30000 + (i % 30000)];
  ev.writeBigUInt64LE(BigInt(T0 + 9000), SockEvent.ts_ns);
  ev.writeBigUInt64LE(open ? 0n : BigInt(T0 - 2_500_000_000), SockEvent.start_ns);
  ev.writeBigUInt64LE(BigInt(9000 + (i % 300)), SockEvent.cgroup_id);
  if (!open) {
    ev.writeBigUInt64LE(BigInt(4096 + i), SockEvent.bytes_sent);
    ev.writeBigUInt64LE(65536n, SockEvent.bytes_received);
    ev.writeUInt32LE(12, SockEvent.segs_out);
    ev.writeUInt32LE(50, SockEvent.segs_in);
  }
  ev.writeUInt32LE(open ? 120 : 95, SockEvent.srtt_us);
  ev.writeUInt32LE(4000 + (i % 300), SockEvent.pid);
  ipv4(ev, SockEvent.laddr, local);
  ipv4(ev, SockEvent.raddr, remote);
  ev.writeUInt16LE(lport, SockEvent.lport);
  ev.writeUInt16LE(rport, SockEvent.rport);
  ev[SockEvent.kind] = open ? RecordType.TCP_OPEN : RecordType.TCP_CLOSE;
  ev[SockEvent.ip_version] = 4;
  ev[SockEvent.side] = side;
  ev[SockEvent.state] = open ? 1 : 7; // TCP_ESTABLISHED, TCP_CLOSE
  ev.write(side === Side.CLIENT ? 'curl' : 'nginx', SockEvent.comm, 'latin1');
  return ev;
}

/** struct pf_dns_event: a client's A query to the kube-dns ClusterIP, or the backend's answer (one address). */
function dnsEvent(i: number, response: boolean): Buffer {
  const ev = Buffer.alloc(DnsEvent.size);
  const t = DnsEvent.tuple;
  const client = podIp(i % PODS);
  const cport = 30000 + (i % 30000);
  ev.writeBigUInt64LE(BigInt(T0 + (response ? 800_000 : 0)), DnsEvent.ts_ns);
  ipv4(ev, t + FlowKey.saddr, response ? DNS_BACKEND_IP : client);
  ipv4(ev, t + FlowKey.daddr, response ? client : KUBE_DNS_IP);
  ev.writeUInt16LE(response ? 53 : cport, t + FlowKey.sport);
  ev.writeUInt16LE(response ? cport : 53, t + FlowKey.dport);
  ev[t + FlowKey.ip_version] = 4;
  ev[t + FlowKey.protocol] = 17;
  ev.writeUInt32LE(IFINDEX, DnsEvent.ifindex);
  ev.writeUInt16LE(i & 0xffff, DnsEvent.id);
  ev.writeUInt16LE(response ? 0x8180 : 0x0100, DnsEvent.flags);
  ev.writeUInt16LE(1, DnsEvent.qtype);
  const name = `.app-${i % 200}.ns-${i % 20}.svc.cluster.local`;
  ev.write(name, DnsEvent.qname, 'latin1');
  ev.writeUInt16LE(name.length, DnsEvent.name_len);
  if (response) {
    ev.writeUInt16LE(1, DnsEvent.ancount);
    ev[DnsEvent.answer_count] = 1;
    ev[DnsEvent.answer_version] = 4;
    ipv4(ev, DnsEvent.answers, `10.236.200.${(i % 100) + 1}`);
  }
  return ev;
}

/** Where the 6-digit user id sits in an HTTP event's request line (`GET /api/users/NNNNNN?page=2`). */
const HTTP_ID_AT = HttpEvent.req + 'GET /api/users/'.length;

/** struct pf_http_event: GET /api/users/NNNNNN?page=2 answered 200 after 325 ms (the id is stamped per decode). */
function httpEvent(i: number): Buffer {
  const ev = Buffer.alloc(HttpEvent.size);
  const t = HttpEvent.req_tuple;
  const server = podIp((i * 7 + 3) % PODS);
  ev.writeBigUInt64LE(BigInt(T0), HttpEvent.req_ns);
  ev.writeBigUInt64LE(BigInt(T0 + 325_000_000), HttpEvent.resp_ns);
  ipv4(ev, t + FlowKey.saddr, podIp(i % PODS));
  ipv4(ev, t + FlowKey.daddr, server);
  ev.writeUInt16LE(30000 + (i % 30000), t + FlowKey.sport);
  ev.writeUInt16LE(8080, t + FlowKey.dport);
  ev[t + FlowKey.ip_version] = 4;
  ev[t + FlowKey.protocol] = 6;
  ipv4(ev, HttpEvent.resp_saddr, server);
  ev.writeUInt16LE(8080, HttpEvent.resp_sport);
  ev.writeUInt32LE(IFINDEX, HttpEvent.req_ifindex);
  ev.writeUInt32LE(IFINDEX, HttpEvent.resp_ifindex);
  const req = 'GET /api/users/000000?page=2 HTTP/1.1\r\nHost: backend\r\nUser-Agent: curl/8.5.0\r\n';
  ev.write(req, HttpEvent.req, 'latin1');
  ev.writeUInt16LE(req.length, HttpEvent.req_len);
  // The kernel copies the status line's first 16 bytes.
  const resp = 'HTTP/1.1 200 OK\r\n'.slice(0, 16);
  ev.write(resp, HttpEvent.resp, 'latin1');
  ev[HttpEvent.resp_len] = resp.length;
  return ev;
}

/** One TCP conversation as drained from the flows map (one entry, both directions): the client's packets on CPU 0, the replies on CPU 1. */
function flowEntry(i: number, keys: Buffer, values: Buffer, at: number): void {
  const client = podIp(i % PODS);
  const server = podIp((i * 7 + 3) % PODS);
  const k = at * FlowKey.size;
  ipv4(keys, k + FlowKey.saddr, client);
  ipv4(keys, k + FlowKey.daddr, server);
  keys.writeUInt16LE(30000 + (i % 30000), k + FlowKey.sport);
  keys.writeUInt16LE(8080, k + FlowKey.dport);
  keys[k + FlowKey.ip_version] = 4;
  keys[k + FlowKey.protocol] = 6;
  for (let d = 0; d < 2; d++) {
    // CPU d's copy of the value, direction d in it.
    const v = (at * CPUS + d) * FlowStats.size + FlowStats.dir + d * FlowDir.size;
    values.writeBigUInt64LE(BigInt(T0 - 5000 + d * 1000), v + FlowDir.first_ns);
    values.writeBigUInt64LE(BigInt(d === 0 ? 1000 + i : 5000), v + FlowDir.bytes);
    values.writeBigUInt64LE(BigInt(d === 0 ? 10 : 8), v + FlowDir.packets);
    values.writeUInt32LE(IFINDEX, v + FlowDir.ifindex);
    values[v + FlowDir.direction] = d === 0 ? 2 : 1;
    values[v + FlowDir.tcp_flags] = d === 0 ? 0x1b : 0x12;
    values[v + FlowDir.syn] = d === 0 ? 1 : 0;
  }
}

/** Round r's events: indexes r * ROUND.. as in a node's mix. */
function makeRound(r: number): Round {
  const first = r * ROUND;
  const tcp: Buffer[] = [];
  const dns: Buffer[] = [];
  const http: Buffer[] = [];
  for (let k = 0; k < PER_KIND; k++) {
    tcp.push(sockEvent(first + k, true), sockEvent(first + PER_KIND + k, false));
    const q = first + 2 * PER_KIND + k;
    dns.push(dnsEvent(q, false), dnsEvent(q, true));
    http.push(httpEvent(first + 3 * PER_KIND + k));
  }
  const keys = Buffer.alloc(FLOWS * FlowKey.size);
  const values = Buffer.alloc(FLOWS * CPUS * FlowStats.size);
  for (let k = 0; k < FLOWS; k++) flowEntry(first + 4 * PER_KIND + k, keys, values, k);
  return { tcp: ringBatch(tcp), dns: ringBatch(dns), http: ringBatch(http), flows: { keys, values, count: FLOWS } };
}

/**
 * The probes' decode side: the tcp, dns and http probes' ring-buffer batch
 * loops (src/probes/shared/record-stream.ts: each batch decoded into a new
 * array that goes to the ingress in one call) with their decoders, and the
 * flows probe's tick (drain into the table, expire the idle conversations).
 */
class Decoders {
  private readonly ctx: ProbeContext;
  private readonly flows: FlowTable;
  private readonly dns: DnsMatcher;
  /** Records the current round made so far. */
  private made = 0;
  /** The next user id stamped into an HTTP request's path. */
  private userId = 0;

  constructor(ingress: RecordIngress, interfaces: InterfaceIndex) {
    this.ctx = { nodeName: NODE_NAME, clock: new MonotonicClock(), ingress, interfaces, objectDir: '' };
    this.flows = new FlowTable(this.ctx, { activeTimeoutMs: 30_000, idleTimeoutMs: 15_000, maxConversations: 131072, hook: () => 'tc' });
    this.dns = new DnsMatcher(this.ctx, { timeoutMs: 5000, maxPending: 65536 });
  }

  /** Decodes one round into the ingress; throws unless it made ROUND records (the mix would be off). */
  round(round: Round): void {
    const ctx = this.ctx;
    this.made = 0;
    this.ring(round.tcp, (batch, off, out) => out.push(decodeSockEvent(batch, off, ctx, 'tcp', TCP_HOOK)));
    this.ring(round.dns, (batch, off, out) => {
      const m = decodeDnsEvent(batch, off);
      if (m) this.dns.add(m, out);
    });
    this.ring(round.http, (batch, off, out) => {
      // A new path every time, as paths with ids are in real traffic: the decoder's text cache must miss.
      this.stampUserId(batch, off + HTTP_ID_AT);
      const r = decodeHttpEvent(batch, off, ctx);
      if (r) out.push(r);
    });
    const out: FlowRecord[] = [];
    const { keys, values, count } = round.flows;
    this.flows.add(keys, values, count, CPUS * FlowStats.size, CPUS, T0, out);
    this.flows.expire(T0 + 15_000 * 1e6, out);
    this.made += out.length;
    if (out.length > 0) ctx.ingress.ingest(out);
    if (this.made !== ROUND) throw new Error(`a round decoded into ${this.made} records, expected ${ROUND}: the events do not decode as built`);
  }

  private stampUserId(batch: Buffer, at: number): void {
    let id = this.userId++ % 1_000_000;
    for (let d = 5; d >= 0; d--, id = Math.floor(id / 10)) batch[at + d] = 0x30 + (id % 10);
  }

  private ring(batch: RingBatch, decode: (batch: Buffer, off: number, out: FlowRecord[]) => void): void {
    const out: FlowRecord[] = [];
    for (let i = 0; i < batch.count; i++) decode(batch.bytes, batch.offsets[i]!, out);
    this.made += out.length;
    if (out.length > 0) this.ctx.ingress.ingest(out);
  }
}

interface Bench {
  pipeline: Pipeline;
  sink: EncodeSink;
  enricher: Enricher;
  interfaces: InterfaceIndex;
  decoders: Decoders;
  rounds: Round[];
}

async function setup(dir: string): Promise<Bench> {
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
    nodeName: NODE_NAME,
    sinks: [sink],
    enricher,
    ingestQueueCapacity: 65536,
    sinkQueueCapacity: 65536,
    sinkBatchSize: 1024,
    lossIntervalMs: 0,
    shape: { filters: { allow: [], deny: [{ toNamespace: ['monitoring'] }] } },
  });
  await pipeline.start();
  const interfaces = interfacesIn(dir);
  return { pipeline, sink, enricher, interfaces, decoders: new Decoders(pipeline, interfaces), rounds: Array.from({ length: ROUNDS }, (_, r) => makeRound(r)) };
}

/** The node's interfaces as /sys/class/net shows them: eth0 with index IFINDEX. */
function interfacesIn(dir: string): InterfaceIndex {
  mkdirSync(path.join(dir, 'net', 'eth0'), { recursive: true });
  writeFileSync(path.join(dir, 'net', 'eth0', 'ifindex'), `${IFINDEX}\n`);
  const interfaces = new InterfaceIndex(path.join(dir, 'net'));
  interfaces.poll();
  return interfaces;
}

/**
 * Decodes `total` records' worth of rounds into the pipeline, in bursts it can
 * hold, waiting for each burst to come out of the encoder (or be counted as
 * dropped, so a drop can never stall the benchmark). Every ring-buffer batch
 * decodes into new record objects, as in the agent: the stages see records
 * fresh in memory, and the CPU time includes decoding them.
 */
async function push({ pipeline, sink, decoders, rounds }: Bench, total: number): Promise<void> {
  if (total % ROUND !== 0) throw new Error(`push: ${total} records is not a whole number of rounds (${ROUND})`);
  const accounted = (): number => sink.records + dropped(pipeline);
  let sent = 0;
  while (sent < total) {
    const target = accounted() + Math.min(BURST, total - sent);
    for (let r = 0; r < ROUNDS && sent < total; r++) {
      decoders.round(rounds[r]!);
      sent += ROUND;
    }
    while (accounted() < target) await new Promise((r) => setImmediate(r));
  }
}

/** An ingress that keeps what the decoders hand over, to measure decoding alone. */
class Collect implements RecordIngress {
  records: FlowRecord[] = [];
  ingest(records: FlowRecord[]): void {
    for (let i = 0; i < records.length; i++) this.records.push(records[i]!);
  }
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

/** Decoders of their own that hand records to an array: decoding alone. */
class DecodeAlone {
  private readonly collect = new Collect();
  private readonly decoders: Decoders;

  constructor(private readonly bench: Bench) {
    this.decoders = new Decoders(this.collect, bench.interfaces);
  }

  /** `n` records' worth of rounds (whole rounds), decoded into new records. */
  decode(n: number): FlowRecord[] {
    this.collect.records = [];
    for (let sent = 0; sent < n; sent += ROUND) this.decoders.round(this.bench.rounds[(sent / ROUND) % ROUNDS]!);
    return this.collect.records;
  }
}

/** Child mode: heap bytes allocated per record over a window with no GC. */
async function measureAllocation(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfp-bench-'));
  const bench = await setup(dir);
  await push(bench, 60 * BURST); // warm-up: JIT
  // Small enough that the encoded bytes (ArrayBuffer slabs) do not trigger a GC by external memory pressure.
  const n = SMOKE ? 10_240 : 20_480;
  const gc = (globalThis as { gc?: () => void }).gc;
  const alone = new DecodeAlone(bench);
  alone.decode(n); // warm-up of its decoders
  gc?.();
  // What decoding the records allocates (the decoders' share), measured apart and subtracted.
  const built0 = process.memoryUsage().heapUsed;
  const decoded = alone.decode(n).length;
  const builtBytes = process.memoryUsage().heapUsed - built0;
  if (decoded !== n) throw new Error(`decoded ${decoded} records, expected ${n}`);
  gc?.();
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage();
  await push(bench, n);
  const after = process.memoryUsage();
  await new Promise((r) => setTimeout(r, 100)); // GC entries reach the observer asynchronously
  obs.disconnect();
  await bench.pipeline.stop(1000);
  await bench.enricher.stop();
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
  const bench = await setup(dir);
  const { pipeline, sink, enricher } = bench;
  // Whole bursts: 12 and 366 of them (3 million records).
  const total = SMOKE ? 12 * BURST : 366 * BURST;
  const warmup = SMOKE ? 6 * BURST : 60 * BURST;
  await push(bench, warmup);
  const bytesBefore = sink.bytes, recordsBefore = sink.records;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await push(bench, total);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const records = sink.records - recordsBefore;
  const drops = dropped(pipeline);
  await pipeline.stop(1000);
  // Where the time goes: decoding alone (the probes' share), and the encode
  // stage alone over one burst of enriched records, encoded again and again.
  const decodeN = SMOKE ? 12 * BURST : 125 * BURST;
  const alone = new DecodeAlone(bench);
  for (let i = 0; i < 12; i++) alone.decode(BURST); // warm-up of its decoders
  const decodeNs = (cpuSeconds(() => {
    for (let sent = 0; sent < decodeN; sent += BURST) alone.decode(BURST);
  }) * 1e9) / decodeN;
  const burst = alone.decode(BURST);
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
  // Batches as the stdout sink gets them from the pipeline (sinkBatchSize 1024), encoded as it
  // encodes them: each into the same slab (rewind), the stream being done with the previous one.
  const batches = Array.from({ length: BURST / 1024 }, (_, b) => burst.slice(b * 1024, (b + 1) * 1024));
  const json = new JsonEncoder();
  let linesBytes = 0;
  const jsonLinesPerCpuSecond = Math.round(jsonN / cpuSeconds(() => {
    for (let i = 0; i < jsonN / 1024; i++) linesBytes += json.encodeLines(batches[i % batches.length], 1024, true).length;
  }));
  if (linesBytes === 0) throw new Error('JSON lines: no bytes encoded');
  const perSecond = Math.round(records / seconds);
  const perCpuSecond = Math.round(records / ((cpu.user + cpu.system) / 1e6));
  console.log(`records: ${records} in ${seconds.toFixed(2)} s: ${perSecond} records/s (CPU ${(((cpu.user + cpu.system) / 1e6 / seconds) * 100).toFixed(0)}% of one core), ${((sink.bytes - bytesBefore) / records).toFixed(0)} protobuf bytes/record, dropped ${drops}`);
  console.log(`per CPU-second: ${perCpuSecond} records (decoding them from ring-buffer bytes: ${decodeNs.toFixed(0)} ns/record of it); protobuf encode alone: ${encodePerCpuSecond} records per CPU-second`);
  console.log(`canonical JSON alone (${(jsonBytes / jsonN).toFixed(0)} bytes/record): ${jsonPerCpuSecond} records per CPU-second as strings, ${jsonLinesPerCpuSecond} as batches of 1024 lines in one Buffer`);

  const child = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=512', '--min-semi-space-size=512', fileURLToPath(import.meta.url), '--allocation'], { env: process.env, encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`allocation run failed: ${child.stderr}`);
  const alloc = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { bytesPerRecord: number; decodedRecordBytes: number; arrayBufferBytesPerRecord: number; gcs: number };
  console.log(`heap allocated by the stages: ${alloc.bytesPerRecord.toFixed(0)} bytes/record (decoding the record itself: ${alloc.decodedRecordBytes.toFixed(0)}), ArrayBuffer memory ${alloc.arrayBufferBytesPerRecord.toFixed(0)} bytes/record (GCs during the window: ${alloc.gcs}${alloc.gcs > 0 ? ': figures too low' : ''})`);
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
    decodeNsPerRecord: Math.round(decodeNs),
    heapBytesPerRecord: Math.round(alloc.bytesPerRecord),
    decodedRecordHeapBytes: Math.round(alloc.decodedRecordBytes),
    arrayBufferBytesPerRecord: Math.round(alloc.arrayBufferBytesPerRecord),
    gcsDuringAllocationWindow: alloc.gcs,
    protobufBytesPerRecord: Math.round((sink.bytes - bytesBefore) / records),
    stages: 'decode ring-buffer batches and flows-map drains -> ingest -> enrich (1000 pods warm) -> shape -> protobuf encode',
    mix: 'FLOW 4/8, TCP_OPEN 1/8, TCP_CLOSE 1/8, DNS 1/8, HTTP 1/8',
    node: process.version,
    nodeFlags: process.execArgv.join(' '),
  }));
}

await main();
