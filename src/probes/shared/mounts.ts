// tracefs is not mounted on a fresh VM; tracepoint attach needs it: mounted
// when absent, as Cilium's agent does. Only the tracepoint candidates require
// it, so a failure is their skip reason and TC-only probes still run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events')) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`cannot mount tracefs at /sys/kernel/tracing (tracepoint hooks need it; run as root): ${(err as Error).message}`, { cause: err });
  }
}
