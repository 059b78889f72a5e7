// CPU time and memory of another process, read from /proc (the agent runs as
// its own process; process.cpuUsage() only sees the benchmark itself).
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ; 100 on Linux x86). */
const USER_HZ = 100;

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and ')': fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`/proc/${pid}/stat: expected utime and stime in fields 14 and 15, got ${stat.slice(0, 200)}`);
  return (utime + stime) / USER_HZ;
}

/** A "Name:   123 kB" line of /proc/<pid>/status, in bytes. */
function statusBytes(pid: number, name: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!kb) throw new Error(`/proc/${pid}/status: expected a ${name} line`);
  return Number(kb[1]) * 1024;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  return statusBytes(pid, 'VmRSS');
}

/** VmRSS split into anonymous memory (heaps), file-backed pages (code, libraries) and shared memory (mmapped BPF maps, ring buffers). */
export function rssParts(pid: number): { anon: number; file: number; shmem: number } {
  return { anon: statusBytes(pid, 'RssAnon'), file: statusBytes(pid, 'RssFile'), shmem: statusBytes(pid, 'RssShmem') };
}

/** CPU use of a process over an interval: start() then stop() gives CPU seconds and percent of one core. */
export class CpuWindow {
  readonly #pid: number;
  #cpu0 = 0;
  #t0 = 0n;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(): void {
    this.#cpu0 = cpuSeconds(this.#pid);
    this.#t0 = process.hrtime.bigint();
  }

  stop(): { cpuSeconds: number; seconds: number; cpuPercent: number } {
    const cpu = cpuSeconds(this.#pid) - this.#cpu0;
    const seconds = Number(process.hrtime.bigint() - this.#t0) / 1e9;
    return { cpuSeconds: cpu, seconds, cpuPercent: (cpu / seconds) * 100 };
  }
}
