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
      const e = this.#owned(id, podKey);
      if (e && e.deletedMs === Infinity) e.deletedMs = nowMs;
    }
  }

  /**
   * Forgets the containers of pods deleted longer than the grace ago. A container id another pod
   * has listed since (a pod renamed in the metadata file) is that pod's: neither marked nor swept
   * with the old one, whose list goes once none of its ids is its own.
   */
  sweep(nowMs: number): void {
    for (const [podKey, ids] of this.idsByPod) {
      let own: ContainerEntry | undefined;
      for (let i = 0; i < ids.length && own === undefined; i++) own = this.#owned(ids[i]!, podKey);
      if (own === undefined || (own.deletedMs !== Infinity && nowMs > own.deletedMs + this.graceMs)) this.removePod(podKey);
    }
  }

  #owned(id: string, podKey: string): ContainerEntry | undefined {
    const e = this.byId.get(id);
    return e?.podKey === podKey ? e : undefined;
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
