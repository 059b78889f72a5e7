// The kernel filesystems the probes need. tracefs is not mounted on a fresh VM;
// tracepoint attach needs it: mounted when absent, as Cilium's agent does.
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

/** The cgroup v2 mount point, from /proc/self/mounts text (any mount point, hybrid hosts too); undefined when there is none. */
export function findCgroup2Root(mounts: string): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2' && mountPoint) return mountPoint;
  }
  return undefined;
}
