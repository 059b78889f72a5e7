// cgroup id -> container id. On cgroup v2 a cgroup's id is the inode number of
// its directory; the container id is the 64-hex-digit name runtimes give the
// container's cgroup (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>, <id>).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CONTAINER_ID = /(?:^|[-/])([0-9a-f]{64})(?:\.scope)?$/;
const MAX_ENTRIES = 16384;

export function containerIdFromPath(path: string): string | undefined {
  return CONTAINER_ID.exec(path)?.[1];
}

export class CgroupResolver {
  readonly #root: string | undefined;
  readonly #rescanIntervalMs: number;
  #byId = new Map<number, string>();
  #lastScan = 0;

  /** root: the cgroup v2 mount (undefined: no cgroup v2, nothing resolves). */
  constructor(root: string | undefined, rescanIntervalMs = 250) {
    this.#root = root;
    this.#rescanIntervalMs = rescanIntervalMs;
  }

  /** The container id of a cgroup, or undefined (not a container, or unknown yet). Never blocks for long: rescans at most every rescanIntervalMs. */
  containerId(cgroupId: number): string | undefined {
    if (!this.#root || cgroupId === 0) return undefined;
    let path = this.#byId.get(cgroupId);
    if (path === undefined && Date.now() - this.#lastScan >= this.#rescanIntervalMs) {
      this.#scan();
      path = this.#byId.get(cgroupId);
    }
    return path === undefined ? undefined : containerIdFromPath(path);
  }

  #scan(): void {
    this.#lastScan = Date.now();
    const next = new Map<number, string>();
    const walk = (dir: string, rel: string): void => {
      if (next.size >= MAX_ENTRIES) return;
      try {
        next.set(statSync(dir).ino, rel);
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.isDirectory()) walk(join(dir, entry.name), `${rel}/${entry.name}`);
        }
      } catch {
        // A cgroup removed while walking.
      }
    };
    if (this.#root) walk(this.#root, '');
    this.#byId = next;
  }
}

/** The cgroup v2 mount point, from /proc/self/mounts; undefined when there is none. */
export function findCgroup2Root(mounts: string): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2' && mountPoint) return mountPoint;
  }
  return undefined;
}
