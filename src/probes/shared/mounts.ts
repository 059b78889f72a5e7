// tracefs is not mounted on a fresh VM; tracepoint attach needs it. Mounted
// when absent, as Cilium's agent does for what it needs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function ensureKernelFilesystems(): void {
  if (existsSync('/sys/kernel/tracing/events')) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`cannot mount tracefs at /sys/kernel/tracing (tracepoint probes need it; run as root): ${(err as Error).message}`, { cause: err });
  }
}
