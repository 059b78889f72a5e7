// IP -> pod. An IP can have several owners over time: a deleted pod stays
// resolvable for a grace period (its records arrive late), and a new pod that
// reuses the IP owns it from its start time on.
import { canonicalIpv6, ipv4Key } from './ip.js';
import type { PodMeta } from './model.js';

export interface PodEntry {
  readonly key: string;
  pod: PodMeta;
  node: string;
  startMs: number;
  /** Infinity while the pod exists. */
  deletedMs: number;
  ips: readonly string[];
}

type Owners = PodEntry[];

export class PodIndex {
  private readonly byKey = new Map<string, PodEntry>();
  private readonly byUid = new Map<string, PodEntry>();
  private readonly byV4 = new Map<number, Owners>();
  private readonly byV6 = new Map<string, Owners>();

  /**
   * Counts every change of what lookup() may answer (pods added, replaced,
   * marked deleted, forgotten): a cache of its answers is current while this
   * has not moved.
   */
  version = 0;

  /** @param graceMs how long a deleted pod stays resolvable. */
  constructor(private readonly graceMs: number) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Adds or replaces the pod under `key` (a re-added deleted pod is live again). */
  upsert(key: string, pod: PodMeta, node: string, ips: readonly string[], startMs: number): void {
    this.version++;
    let entry = this.byKey.get(key);
    if (entry) {
      this.unlinkIps(entry);
      if (entry.pod.uid) this.byUid.delete(entry.pod.uid);
      entry.pod = pod;
      entry.node = node;
      entry.startMs = startMs;
      entry.deletedMs = Infinity;
      entry.ips = ips;
    } else {
      entry = { key, pod, node, startMs, deletedMs: Infinity, ips };
      this.byKey.set(key, entry);
    }
    if (pod.uid) this.byUid.set(pod.uid, entry);
    for (const ip of ips) this.link(ip, entry);
  }

  /** Marks the pod deleted at `nowMs`; it resolves until nowMs + grace. */
  markDeleted(key: string, nowMs: number): void {
    const entry = this.byKey.get(key);
    if (entry && entry.deletedMs === Infinity) {
      entry.deletedMs = nowMs;
      this.version++;
    }
  }

  /** Forgets deleted pods whose grace period ended. */
  sweep(nowMs: number): void {
    for (const entry of this.byKey.values()) {
      if (entry.deletedMs !== Infinity && nowMs > entry.deletedMs + this.graceMs) this.remove(entry);
    }
  }

  get(key: string): PodEntry | undefined {
    return this.byKey.get(key);
  }

  getByUid(uid: string): PodEntry | undefined {
    return this.byUid.get(uid);
  }

  /**
   * The pod lookup() answers for IPv4 key `v4` whatever the time: its only
   * owner, not deleted. undefined: no owner (lookup() answers undefined);
   * null: the answer depends on the time (several owners, or a deleted one).
   */
  soleOwnerV4(v4: number): PodEntry | null | undefined {
    const owners = this.byV4.get(v4);
    if (owners === undefined || owners.length === 0) return undefined;
    const e = owners[0]!;
    return owners.length === 1 && e.deletedMs === Infinity ? e : null;
  }

  /**
   * The pod that owned `ip` at `timeMs`: the latest-started owner that had
   * started by then; when none had (clock skew), the earliest owner.
   * `v4` is ipv4Key(ip).
   */
  lookup(v4: number, ip: string, timeMs: number, nowMs: number): PodEntry | undefined {
    const owners = v4 >= 0 ? this.byV4.get(v4) : this.byV6.get(ip);
    if (owners === undefined) return undefined;
    let best: PodEntry | undefined;
    let earliest: PodEntry | undefined;
    for (let i = 0; i < owners.length; i++) {
      const e = owners[i]!;
      if (e.deletedMs !== Infinity && nowMs > e.deletedMs + this.graceMs) continue;
      if (e.startMs <= timeMs && (best === undefined || e.startMs > best.startMs)) best = e;
      if (earliest === undefined || e.startMs < earliest.startMs) earliest = e;
    }
    return best ?? earliest;
  }

  private remove(entry: PodEntry): void {
    this.version++;
    this.unlinkIps(entry);
    this.byKey.delete(entry.key);
    if (entry.pod.uid && this.byUid.get(entry.pod.uid) === entry) this.byUid.delete(entry.pod.uid);
  }

  private link(ip: string, entry: PodEntry): void {
    const v4 = ipv4Key(ip);
    const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
    if (v4 < 0 && v6 === null) return;
    const owners = v4 >= 0 ? this.byV4.get(v4) : this.byV6.get(v6!);
    if (owners) owners.push(entry);
    else if (v4 >= 0) this.byV4.set(v4, [entry]);
    else this.byV6.set(v6!, [entry]);
  }

  private unlinkIps(entry: PodEntry): void {
    for (const ip of entry.ips) {
      const v4 = ipv4Key(ip);
      const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
      const owners = v4 >= 0 ? this.byV4.get(v4) : v6 !== null ? this.byV6.get(v6) : undefined;
      if (!owners) continue;
      const i = owners.indexOf(entry);
      if (i >= 0) owners.splice(i, 1);
      if (owners.length === 0) {
        if (v4 >= 0) this.byV4.delete(v4);
        else this.byV6.delete(v6!);
      }
    }
  }
}
