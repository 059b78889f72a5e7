// Container id -> the pod and container it belongs to. Entries of a deleted
// pod stay for the same grace period as its IPs.
import type { PodMeta } from './model.js';

export interface ContainerEntry {
  /** The pod with `container` set. */
  pod: PodMeta;
  node: string;
  hostNetwork: boolean;
  podKey: string;
  deletedMs: number;
}

export class ContainerIndex {
  private readonly byId = new Map<string, ContainerEntry>();
  private readonly idsByPod = new Map<string, string[]>();

  constructor(private readonly graceMs: number) {}

  get size(): number {
    return this.byId.size;
  }

  /** Replaces the containers of pod `podKey`. */
  setPodContainers(podKey: string, containers: readonly { id: string; entry: Omit<ContainerEntry, 'deletedMs' | 'podKey'> }[]): void {
    this.removePod(podKey);
    const ids: string[] = [];
    for (const c of containers) {
      this.byId.set(c.id, { ...c.entry, podKey, deletedMs: Infinity });
      ids.push(c.id);
    }
    if (ids.length > 0) this.idsByPod.set(podKey, ids);
  }

  markPodDeleted(podKey: string, nowMs: number): void {
    for (const id of this.idsByPod.get(podKey) ?? []) {
      const e = this.byId.get(id);
      if (e && e.deletedMs === Infinity) e.deletedMs = nowMs;
    }
  }

  sweep(nowMs: number): void {
    for (const [podKey, ids] of this.idsByPod) {
      const first = this.byId.get(ids[0]!);
      if (first && first.deletedMs !== Infinity && nowMs > first.deletedMs + this.graceMs) this.removePod(podKey);
    }
  }

  get(containerId: string): ContainerEntry | undefined {
    return this.byId.get(containerId);
  }

  private removePod(podKey: string): void {
    const ids = this.idsByPod.get(podKey);
    if (!ids) return;
    this.idsByPod.delete(podKey);
    for (const id of ids) if (this.byId.get(id)?.podKey === podKey) this.byId.delete(id);
  }
}
