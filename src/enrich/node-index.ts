// Node IPs -> node, and host-network pods by node IP and declared port: an
// endpoint on a node IP is the node itself (hostNetwork: true), or a
// host-network pod when one declares that port.
import { canonicalIpv6, ipv4Key, V4PortTable } from './ip.js';
import type { NodeInfo, PodMeta } from './model.js';

export interface HostPodEntry {
  pod: PodMeta;
  node: string;
}

export class NodeIndex {
  private readonly nodes = new Map<string, readonly string[]>();
  private readonly byV4 = new Map<number, string>();
  private readonly byV6 = new Map<string, string>();
  private readonly hostPodsV4 = new V4PortTable<HostPodEntry>();
  private readonly hostPodsV6 = new Map<string, HostPodEntry>();
  private readonly hostPodKeys = new Map<string, { entry: HostPodEntry; v4: [number, number][]; v6: string[] }>();

  get size(): number {
    return this.nodes.size;
  }

  get hostPodCount(): number {
    return this.hostPodKeys.size;
  }

  upsert(node: NodeInfo): void {
    this.remove(node.name);
    this.nodes.set(node.name, node.ips);
    for (const ip of node.ips) {
      const v4 = ipv4Key(ip);
      if (v4 >= 0) this.byV4.set(v4, node.name);
      else {
        const v6 = canonicalIpv6(ip);
        if (v6 !== null) this.byV6.set(v6, node.name);
      }
    }
  }

  remove(name: string): void {
    const ips = this.nodes.get(name);
    if (!ips) return;
    this.nodes.delete(name);
    for (const ip of ips) {
      const v4 = ipv4Key(ip);
      if (v4 >= 0) {
        if (this.byV4.get(v4) === name) this.byV4.delete(v4);
      } else {
        const v6 = canonicalIpv6(ip);
        if (v6 !== null && this.byV6.get(v6) === name) this.byV6.delete(v6);
      }
    }
  }

  names(): IterableIterator<string> {
    return this.nodes.keys();
  }

  /** The node owning `ip`; `v4` is ipv4Key(ip). */
  lookup(v4: number, ip: string): string | undefined {
    return v4 >= 0 ? this.byV4.get(v4) : this.byV6.get(ip);
  }

  /** Registers a host-network pod on `ips` (its node's IPs) for each declared port. */
  upsertHostPod(key: string, entry: HostPodEntry, ips: readonly string[], ports: readonly number[]): void {
    this.removeHostPod(key);
    const keys = { entry, v4: [] as [number, number][], v6: [] as string[] };
    for (const ip of ips) {
      const v4 = ipv4Key(ip);
      const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
      for (const port of ports) {
        if (v4 >= 0) {
          keys.v4.push([v4, port]);
          this.hostPodsV4.set(v4, port, entry);
        } else if (v6 !== null) {
          keys.v6.push(`${v6}|${port}`);
          this.hostPodsV6.set(`${v6}|${port}`, entry);
        }
      }
    }
    this.hostPodKeys.set(key, keys);
  }

  removeHostPod(key: string): void {
    const keys = this.hostPodKeys.get(key);
    if (!keys) return;
    this.hostPodKeys.delete(key);
    // A newer host-network pod may hold the same node port: remove only our own entries.
    for (const [v4, port] of keys.v4) if (this.hostPodsV4.get(v4, port) === keys.entry) this.hostPodsV4.delete(v4, port);
    for (const k of keys.v6) if (this.hostPodsV6.get(k) === keys.entry) this.hostPodsV6.delete(k);
  }

  /** The host-network pod listening on `ip`:`port`, if one declared that port. */
  hostPod(v4: number, ip: string, port: number): HostPodEntry | undefined {
    if (v4 >= 0) return this.hostPodsV4.get(v4, port);
    if (this.hostPodsV6.size === 0) return undefined;
    return this.hostPodsV6.get(`${ip}|${port}`);
  }
}
