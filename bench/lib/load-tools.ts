// The load generators: iperf3 and wrk (Debian packages, installed by
// scripts/setup) and pfq-load.c (UDP flows and DNS queries), compiled on
// first use into a cache keyed by its source's hash.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execIn, sh } from './pods.js';

/** dist/bench/lib/load-tools.js -> <root>/bench/lib/pfq-load.c */
const SOURCE = fileURLToPath(new URL('../../../bench/lib/pfq-load.c', import.meta.url));

export function requireTool(tool: string, apt: string): void {
  try {
    sh('sh', ['-c', `command -v ${tool}`]);
  } catch {
    throw new Error(`'${tool}' not found: install the Debian package ${apt} (scripts/setup installs it)`);
  }
}

/** Path of the compiled pfq-load. */
export function pfqLoad(): string {
  const source = readFileSync(SOURCE);
  const dir = path.join(tmpdir(), 'podflow-bench');
  const bin = path.join(dir, `pfq-load-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (!existsSync(bin)) {
    requireTool('cc', 'gcc');
    mkdirSync(dir, { recursive: true });
    // Built beside its final name and renamed, so a concurrent run never executes half a file.
    const partial = `${bin}.${process.pid}`;
    sh('cc', ['-O2', '-Wall', '-o', partial, SOURCE]);
    renameSync(partial, bin);
  }
  return bin;
}

export interface IperfResult {
  bitsPerSecond: number;
  retransmits: number;
}

/** One iperf3 TCP run from `ns` to `server` (an iperf3 -s listening there), received throughput. */
export function iperf3(ns: string, server: string, port: number, seconds: number): IperfResult {
  const out = execIn(ns, 'iperf3', ['-c', server, '-p', String(port), '-t', String(seconds), '-J'], (seconds + 30) * 1000);
  const report = JSON.parse(out) as { end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } }; error?: string };
  if (report.error || !report.end?.sum_received) throw new Error(`iperf3 failed: ${report.error ?? out.slice(0, 300)}`);
  return { bitsPerSecond: report.end.sum_received.bits_per_second, retransmits: report.end.sum_sent?.retransmits ?? 0 };
}

export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  errors: number;
}

/** wrk against `url` from `ns`, every request on a new connection (Connection: close). */
export function wrkShortConnections(ns: string, url: string, seconds: number, connections: number): WrkResult {
  const out = execIn(ns, 'wrk', ['-t', '1', '-c', String(connections), '-d', `${seconds}s`, '-H', 'Connection: close', url], (seconds + 30) * 1000);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !total) throw new Error(`wrk: expected "Requests/sec" in its output, got:\n${out}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errorCount = (errors ? errors.slice(1).reduce((n, v) => n + Number(v), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { requestsPerSecond: Number(rps[1]), requests: Number(total[1]), errors: errorCount };
}
