// cgroup id -> container id. The kernel reports a task's cgroup v2 id (the
// inode number of its cgroup directory); the container runtime names that
// directory after the container. Conventions handled (cgroup v1 and v2 paths):
//   containerd, systemd driver  .../kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
//   containerd/Docker, cgroupfs .../kubepods/burstable/pod<uid>/<id>
//   CRI-O, systemd driver       .../kubepods-pod<uid_>.slice/crio-<id>.scope  (crio-conmon-<id> is not the container)
//   CRI-O, cgroupfs             .../pod<uid>/crio-<id>
//   Docker                      /system.slice/docker-<id>.scope, /docker/<id>
//   Podman                      .../libpod-<id>.scope
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'podman' | 'unknown';

export interface CgroupOwner {
  /** 64 hex digits; null for a pod-level cgroup. */
  containerId: string | null;
  /** The pod uid with dashes, when the path holds one. */
  podUid: string | null;
  runtime: ContainerRuntime;
}

const CONTAINER_LEAF = /^(cri-containerd-|crio-|docker-|libpod-)?([0-9a-f]{64})(?:\.scope)?$/;
const POD_SEGMENT = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

const RUNTIME_BY_PREFIX: Record<string, ContainerRuntime> = {
  'cri-containerd-': 'containerd',
  'crio-': 'cri-o',
  'docker-': 'docker',
  'libpod-': 'podman',
};

/** What a cgroup path says about its container and pod; null when neither. */
export function parseCgroupPath(cgroupPath: string): CgroupOwner | null {
  const segments = cgroupPath.split('/').filter((s) => s !== '');
  let podUid: string | null = null;
  let containerId: string | null = null;
  let runtime: ContainerRuntime = 'unknown';
  for (const seg of segments) {
    const pod = POD_SEGMENT.exec(seg);
    if (pod) podUid = pod[1]!.replaceAll('_', '-');
  }
  const leaf = segments.at(-1);
  const m = leaf === undefined ? null : CONTAINER_LEAF.exec(leaf);
  if (m) {
    containerId = m[2]!;
    if (m[1]) runtime = RUNTIME_BY_PREFIX[m[1]]!;
    else if (segments.includes('docker')) runtime = 'docker';
  }
  if (containerId === null && podUid === null) return null;
  return { containerId, podUid, runtime };
}

/**
 * The cgroup v2 mount point from /proc/self/mounts (any mount point: /sys/fs/cgroup on unified hosts,
 * /sys/fs/cgroup/unified on hybrid ones); null when there is none. The one finder of the root: the agent
 * calls it once and passes the result to both the enricher and the probes (sockops, svc).
 */
export function findCgroup2Root(mounts: string = readFileSync('/proc/self/mounts', 'utf8')): string | null {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2' && mountPoint) return mountPoint;
  }
  return null;
}

export interface CgroupResolverOptions {
  /** The cgroup v2 mount; null disables resolution. */
  root: string | null;
  /** Rescans on a miss at most this often. */
  minRescanIntervalMs: number;
  /** Directory depth below the root to walk. */
  maxDepth: number;
}

/** Distinct ids a walk takes from the misses before it: more are simply looked for again by the next one. */
const MISSES_KEPT = 1024;

/**
 * Resolves cgroup ids from the cgroup v2 tree. Lookups answer from a map built
 * by walking the tree; a miss schedules a rescan (rate-limited) so a container
 * started after the last scan resolves on its next records. An id that missed
 * before a walk began and that the walk did not find will not appear (ids are
 * not reused): the root, a cgroup deeper than maxDepth, one already removed.
 * That walk files it as not a container's, so its records do not cost a walk
 * every minRescanIntervalMs for as long as they come; it is forgotten with the
 * next walk's map (a removed cgroup's id is not kept for good).
 */
export class CgroupResolver {
  /** Every cgroup the last walk saw; null: not a container's or pod's (a host process), known so it costs no rescan. */
  private owners = new Map<number, CgroupOwner | null>();
  /** Ids that missed since the last walk began. */
  private missed = new Set<number>();
  private scanning: Promise<void> | null = null;
  private lastScanMs = 0;
  private pending: NodeJS.Timeout | null = null;
  scans = 0;
  misses = 0;

  constructor(private readonly opts: CgroupResolverOptions) {}

  /** cgroups known from the last walk, container or not. */
  get size(): number {
    return this.owners.size;
  }

  resolve(cgroupId: number): CgroupOwner | undefined {
    const owner = this.owners.get(cgroupId);
    if (owner === undefined) {
      this.misses++;
      if (this.missed.size < MISSES_KEPT) this.missed.add(cgroupId);
      this.requestRescan();
      return undefined;
    }
    return owner ?? undefined;
  }

  /** Walks the tree now; concurrent callers share one walk. */
  scan(): Promise<void> {
    if (this.opts.root === null) return Promise.resolve();
    this.scanning ??= this.walkTree(this.opts.root).finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  stop(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }

  private requestRescan(): void {
    if (this.opts.root === null || this.pending !== null) return;
    const wait = Math.max(0, this.lastScanMs + this.opts.minRescanIntervalMs - Date.now());
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.scan();
    }, wait);
    this.pending.unref();
  }

  private async walkTree(root: string): Promise<void> {
    const asked = this.missed;
    this.missed = new Set();
    const found = new Map<number, CgroupOwner | null>();
    try {
      found.set(Number((await fsp.stat(root, { bigint: true })).ino), null);
    } catch {
      // The walk below finds nothing either.
    }
    const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return; // removed while walking
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const childRel = `${rel}/${e.name}`;
        const child = path.join(dir, e.name);
        try {
          const st = await fsp.stat(child, { bigint: true });
          found.set(Number(st.ino), parseCgroupPath(childRel));
        } catch {
          continue; // removed while walking
        }
        if (depth < this.opts.maxDepth) await walk(child, childRel, depth + 1);
      }
    };
    await walk(root, '', 1);
    for (const id of asked) if (!found.has(id)) found.set(id, null);
    this.owners = found;
    this.lastScanMs = Date.now();
    this.scans++;
  }
}
