// Test-side handles on the real peers: runs test/peers/<name> start|stop and
// reads what the broker and collector hand back (kcat, the collector's file).
import { execFile, spawn } from 'node:child_process';
import { mkdir, open, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// dist/test/peers/peers.js -> the repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROTO_DIR = `${ROOT}proto`;

export type PeerName = 'kafka' | 'otelcol' | 'otelcol-bench';
/**
 * test/peers/<script> <command> <args>: the bench collector is a second
 * instance of test/peers/otelcol. `release` is what the last user's
 * releasePeer runs: the broker's data only grows (every test writes topics of
 * its own; thousands of them slowed its controller until topics created on
 * demand took seconds), so it is removed with the broker.
 */
const SCRIPTS: Record<PeerName, { script: string; args: string[]; release: 'stop' | 'clean' }> = {
  kafka: { script: 'kafka', args: [], release: 'clean' },
  otelcol: { script: 'otelcol', args: [], release: 'stop' },
  'otelcol-bench': { script: 'otelcol', args: ['--bench'], release: 'stop' },
};

// The peers are shared by every test process on this machine (developers run
// several suites at once). Each process holds a shared "use" lock on a peer
// from startPeer until releasePeer (or its exit); a test that takes a peer
// down holds it exclusively for the outage, so it waits for other users to
// finish and they wait for it to bring the peer back. Starts and stops are
// serialised by a second lock, so two starts never launch two peers.
const RUN_DIR = process.env.PODFLOW_PEERS_RUN ?? '/var/tmp/podflow-peers';
const LOCK_WAIT_S = 15 * 60;
const lockFile = (name: PeerName, what: 'use' | 'start') => `${RUN_DIR}/${name}.${what}.lock`;
const useLocks = new Map<PeerName, HeldLock>();
/** The pid of the peer this process launched, if it launched the running one. */
const startedPids = new Map<PeerName, string>();

interface HeldLock {
  release(): Promise<void>;
}

/**
 * flock(1) holding `file` until release() or this process's exit (its stdin
 * closes, `cat` ends, the lock goes). Resolves null when `waitS` is 0 and the
 * lock is taken.
 */
async function takeLock(file: string, mode: 'shared' | 'exclusive', waitS: number): Promise<HeldLock | null> {
  await mkdir(RUN_DIR, { recursive: true });
  const child = spawn('flock', [mode === 'shared' ? '-s' : '-x', ...(waitS > 0 ? ['-w', String(waitS)] : ['-n']), file, '-c', 'echo locked; exec cat'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const locked = await new Promise<boolean>((resolve, reject) => {
    child.on('error', reject);
    child.stdout.once('data', () => resolve(true));
    void exited.then(() => resolve(false));
  });
  if (!locked) {
    if (waitS === 0) return null;
    throw new Error(`could not take the ${mode} lock ${file} within ${waitS} s: another test process holds its peer (see ps for node --test runs)`);
  }
  // The holder must not keep this process alive.
  child.unref();
  (child.stdin as unknown as Socket).unref();
  (child.stdout as unknown as Socket).unref();
  return {
    release: async () => {
      // Waiting for the holder to exit must keep this process alive.
      child.ref();
      (child.stdout as unknown as Socket).ref();
      child.stdin.end();
      await exited;
    },
  };
}

async function runScript(name: PeerName, command: 'start' | 'stop' | 'clean', env: Record<string, string> = {}): Promise<Record<string, string>> {
  // A first start downloads jars or builds the collector: minutes, not seconds.
  // -o: the peer the script leaves running must not inherit (and hold) the lock.
  const { stdout } = await run('flock', ['-o', '-w', String(LOCK_WAIT_S), lockFile(name, 'start'), `${ROOT}test/peers/${SCRIPTS[name].script}`, command, ...SCRIPTS[name].args], {
    timeout: LOCK_WAIT_S * 1000, maxBuffer: 16 << 20, env: { ...process.env, ...env },
  });
  const info: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) info[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return info;
}

/**
 * Starts (installing on first use) and returns the key=value lines the script
 * printed; holds the peer (shared) until releasePeer or this process's exit.
 */
export async function startPeer(name: PeerName): Promise<Record<string, string>> {
  if (!useLocks.has(name)) useLocks.set(name, (await takeLock(lockFile(name, 'use'), 'shared', LOCK_WAIT_S))!);
  const info = await runScript(name, 'start');
  if (info.started === '1') startedPids.set(name, info.pid);
  return info;
}

/** Stops the peer whoever started it (benchmarks; tests use releasePeer or withPeerStopped). */
export async function stopPeer(name: PeerName): Promise<void> {
  await runScript(name, 'stop');
}

/**
 * For after(): lets go of the peer, and stops it only if this process launched
 * it, it still runs as launched, and no other test process holds it.
 */
export async function releasePeer(name: PeerName): Promise<void> {
  await useLocks.get(name)?.release();
  useLocks.delete(name);
  const pid = startedPids.get(name);
  startedPids.delete(name);
  if (pid === undefined) return;
  const sole = await takeLock(lockFile(name, 'use'), 'exclusive', 0);
  if (!sole) return; // still in use elsewhere: its users keep it
  try {
    if (await runningPid(name) === pid) await runScript(name, SCRIPTS[name].release);
  } finally {
    await sole.release();
  }
}

async function runningPid(name: PeerName): Promise<string | undefined> {
  try {
    const { stdout } = await run(`${ROOT}test/peers/${SCRIPTS[name].script}`, ['status', ...SCRIPTS[name].args], { timeout: 60_000 });
    return /^pid=(\d+)$/m.exec(stdout)?.[1];
  } catch {
    return undefined; // status exits 3 when not running
  }
}

/**
 * An outage: stops the peer, runs `during`, and starts it again even when
 * `during` fails (so no later test, here or in another process, finds it
 * down). Other test processes' use of the peer is waited out first. Returns
 * the restarted peer's connection.
 */
export async function withPeerStopped(name: PeerName, during: () => Promise<void>): Promise<Record<string, string>> {
  await useLocks.get(name)?.release();
  useLocks.delete(name);
  const sole = (await takeLock(lockFile(name, 'use'), 'exclusive', LOCK_WAIT_S))!;
  let info: Record<string, string>;
  try {
    await stopPeer(name);
    try {
      await during();
    } finally {
      // The collector's output must not be cut here: readers keep their offsets across the outage.
      info = await runScript(name, 'start', { PODFLOW_OTELCOL_KEEP_OUTPUT: '1' });
      if (info.started === '1') startedPids.set(name, info.pid);
    }
  } finally {
    await sole.release();
    useLocks.set(name, (await takeLock(lockFile(name, 'use'), 'shared', LOCK_WAIT_S))!);
  }
  return info;
}

/** Runs a command with binary stdin/stdout. */
export function pipe(cmd: string, args: string[], input?: Buffer, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString()}`));
    });
    child.stdin.end(input);
  });
}

export interface ConsumedMessage {
  partition: number;
  offset: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

/**
 * Every message of a topic, read by kcat (librdkafka: a consumer nobody here
 * wrote). Per partition, twice: once for key/headers as text, once for the
 * values length-framed (kcat's %R), zipped by position.
 */
export async function consumeTopic(bootstrap: string, topic: string, partitions = 3, extra: string[] = []): Promise<ConsumedMessage[]> {
  const messages: ConsumedMessage[] = [];
  for (let p = 0; p < partitions; p++) {
    const base = ['-b', bootstrap, ...extra, '-C', '-t', topic, '-p', String(p), '-o', 'beginning', '-e', '-q'];
    const meta = (await pipe('kcat', [...base, '-f', '%o\t%k\t%h\n'])).toString().split('\n').filter((l) => l !== '');
    const framed = await pipe('kcat', [...base, '-f', '%R%s']);
    let pos = 0;
    for (const line of meta) {
      const [offset, key, headers] = line.split('\t');
      const len = framed.readUInt32BE(pos);
      const value = framed.subarray(pos + 4, pos + 4 + len);
      pos += 4 + len;
      messages.push({ partition: p, offset: Number(offset), key, headers: parseHeaders(headers ?? ''), value });
    }
  }
  return messages;
}

// kcat prints headers as name=value,name=value; our values never contain ",".
function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** protoc's text rendering of one FlowRecord (protoc --decode=podflow.v1.FlowRecord). */
export async function protocDecode(value: Buffer): Promise<string> {
  return (await pipe('protoc', [`--decode=podflow.v1.FlowRecord`, '-I', PROTO_DIR, `${PROTO_DIR}/podflow/v1/flow.proto`], value)).toString();
}

/** Where the collector's output ends now: read from here to see only what comes later. */
export async function outputOffset(file: string): Promise<number> {
  return (await stat(file)).size;
}

/** The collector file exporter's output from `offset` on: one JSON ExportLogs/MetricsServiceRequest per line. */
export async function readCollectorOutput(file: string, offset = 0): Promise<CollectorLine[]> {
  const handle = await open(file);
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await handle.read(buffer, 0, buffer.length, offset);
    // A line still being written has no newline yet; it is read on the next poll.
    const text = buffer.toString('utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    return complete.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as CollectorLine);
  } finally {
    await handle.close();
  }
}

/** Log records the collector's receivers took in so far, summed over transports (its own telemetry). */
export interface CollectorLogCounts {
  /** otelcol_receiver_accepted_log_records: pushed into the pipeline. */
  accepted: number;
  /** otelcol_receiver_refused_log_records: turned away (the sender was told). */
  refused: number;
}

/**
 * Reads the bench collector's Prometheus telemetry (startPeer('otelcol-bench')
 * prints its `metrics` URL). A counter not yet exported (nothing received) is 0.
 */
export async function collectorLogCounts(metricsUrl: string): Promise<CollectorLogCounts> {
  const response = await fetch(metricsUrl);
  if (!response.ok) throw new Error(`collector telemetry ${metricsUrl} answered HTTP ${response.status}`);
  const text = await response.text();
  const sum = (name: string) => {
    // otelcol_receiver_accepted_log_records_total{receiver="otlp",transport="grpc",...} 4096
    const line = new RegExp(`^otelcol_${name}(?:_total)?(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
    let total = 0;
    for (const m of text.matchAll(line)) total += Number(m[1]);
    return total;
  };
  return { accepted: sum('receiver_accepted_log_records'), refused: sum('receiver_refused_log_records') };
}

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpAnyValue[] };
}
export interface OtlpKeyValue { key: string; value: OtlpAnyValue }
export interface OtlpLogRecord {
  timeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  eventName?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
}
export interface OtlpDataPoint {
  attributes?: OtlpKeyValue[];
  asInt?: string;
  asDouble?: number;
  count?: string;
  sum?: number;
}
export interface OtlpMetric {
  name: string;
  unit?: string;
  sum?: { dataPoints: OtlpDataPoint[]; aggregationTemporality?: number };
  histogram?: { dataPoints: OtlpDataPoint[] };
}
export interface CollectorLine {
  resourceLogs?: { resource?: { attributes?: OtlpKeyValue[] }; scopeLogs?: { logRecords?: OtlpLogRecord[] }[] }[];
  resourceMetrics?: { resource?: { attributes?: OtlpKeyValue[] }; scopeMetrics?: { metrics?: OtlpMetric[] }[] }[];
}

/** An OTLP attribute list as a plain object (ints as numbers, arrays as arrays). */
export function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = plain(value);
  return out;
}

function plain(v: OtlpAnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  return undefined;
}

/** Log records whose Resource names `node` (each test uses its own node name). */
export function logRecordsFor(lines: CollectorLine[], node: string): { resource: Record<string, unknown>; record: OtlpLogRecord }[] {
  const out: { resource: Record<string, unknown>; record: OtlpLogRecord }[] = [];
  for (const line of lines) {
    for (const rl of line.resourceLogs ?? []) {
      const resource = attributesOf(rl.resource?.attributes);
      if (resource['k8s.node.name'] !== node) continue;
      for (const sl of rl.scopeLogs ?? []) for (const record of sl.logRecords ?? []) out.push({ resource, record });
    }
  }
  return out;
}

export function metricsFor(lines: CollectorLine[], node: string): OtlpMetric[] {
  const out: OtlpMetric[] = [];
  for (const line of lines) {
    for (const rm of line.resourceMetrics ?? []) {
      if (attributesOf(rm.resource?.attributes)['k8s.node.name'] !== node) continue;
      for (const sm of rm.scopeMetrics ?? []) out.push(...(sm.metrics ?? []));
    }
  }
  return out;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
