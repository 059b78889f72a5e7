// Test-side handles on the real peers: runs test/peers/<name> start|stop and
// reads what the broker and collector hand back (kcat, the collector's file).
import { execFile, spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
// dist/test/peers/peers.js -> the repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PROTO_DIR = `${ROOT}proto`;

export type PeerName = 'kafka' | 'otelcol';

/** Starts (installing on first use) and returns the key=value lines the script printed. */
export async function startPeer(name: PeerName): Promise<Record<string, string>> {
  // A first start downloads jars or builds the collector: minutes, not seconds.
  const { stdout } = await run(`${ROOT}test/peers/${name}`, ['start'], { timeout: 15 * 60_000, maxBuffer: 16 << 20 });
  const info: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) info[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return info;
}

export async function stopPeer(name: PeerName): Promise<void> {
  await run(`${ROOT}test/peers/${name}`, ['stop'], { timeout: 60_000 });
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
