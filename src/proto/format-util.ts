// Small helpers shared by the record encodings.
import { podflow, type google } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';

type TimeLike = google.protobuf.ITimestamp | google.protobuf.IDuration | null | undefined;

/**
 * True when the record's traffic.bytes went destination -> source: a TCP_CLOSE counts what its
 * socket sent, which for the server's view is the responder's bytes. Encodings that say
 * "out"/"in" between source and destination (OCSF, the human line) swap the two then.
 */
export function trafficFromDestination(record: FlowRecord): boolean {
  return record.type === podflow.v1.RecordType.TCP_CLOSE && record.observation?.side === podflow.v1.Side.SERVER;
}

/** Milliseconds of a Timestamp or Duration (0 when absent). */
export function toMillis(t: TimeLike): number {
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1000 + Math.trunc(Number(t.nanos ?? 0) / 1e6);
}

/** "325ms", "1.25s", "850µs": the unit a person reads fastest. */
export function humanDuration(t: TimeLike): string {
  if (!t) return '';
  const micros = Number(t.seconds ?? 0) * 1e6 + Math.trunc(Number(t.nanos ?? 0) / 1e3);
  if (micros < 1000) return `${micros}µs`;
  if (micros < 1e6) return `${Math.round(micros / 1000)}ms`;
  return `${(micros / 1e6).toFixed(micros < 1e7 ? 2 : 1)}s`;
}

/** "1.2kB", "3.4MB": byte counts in decimal units. */
export function humanBytes(n: number | null | undefined): string {
  const v = Number(n ?? 0);
  if (v < 1000) return `${v}B`;
  if (v < 1e6) return `${(v / 1e3).toFixed(1)}kB`;
  if (v < 1e9) return `${(v / 1e6).toFixed(1)}MB`;
  return `${(v / 1e9).toFixed(1)}GB`;
}

const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;

/** "SYN,ACK" for 0x12; empty for 0. */
export function tcpFlagNames(flags: number | null | undefined): string[] {
  const out: string[] = [];
  const f = Number(flags ?? 0);
  for (let bit = 0; bit < TCP_FLAG_NAMES.length; bit++) if (f & (1 << bit)) out.push(TCP_FLAG_NAMES[bit]);
  return out;
}

/** "10.0.0.1:80", "[fd00::1]:53"; the IP alone when there is no port. */
export function hostPort(ip: string | null | undefined, port: number | null | undefined): string {
  const host = ip ? (ip.includes(':') ? `[${ip}]` : ip) : '?';
  return port ? `${host}:${port}` : host;
}

/** True when the object and everything it holds are frozen: its encoding can be cached by identity. */
export function deepFrozen(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  for (const v of Object.values(value)) if (typeof v === 'object' && v !== null && !deepFrozen(v)) return false;
  return true;
}
