// ClusterIP[:port] -> Service, and backend pod IP:port -> Service (from
// EndpointSlices), so a flow to a backend names the Service even without the
// pre-translation destination.
import { canonicalIpv6, ipv4Key, V4PortTable } from './ip.js';
import type { BackendSetInfo, ServiceInfo, ServiceMeta } from './model.js';

interface ServiceEntry {
  meta: ServiceMeta;
  /** Empty = any port. */
  ports: readonly number[];
  info: ServiceInfo;
}

interface BackendEntry {
  meta: ServiceMeta;
  owner: string;
}

export class ServiceIndex {
  private readonly byKey = new Map<string, ServiceEntry>();
  private readonly clusterV4 = new Map<number, ServiceEntry[]>();
  private readonly clusterV6 = new Map<string, ServiceEntry[]>();
  private readonly backendV4 = new V4PortTable<BackendEntry>();
  private readonly backendV6 = new Map<string, BackendEntry>();
  /** Per EndpointSlice: its IPv4 [address, port] pairs and IPv6 keys. */
  private readonly backendKeysBySet = new Map<string, { v4: [number, number][]; v6: string[] }>();
  /**
   * Counts every change of what clusterIp() and backend() may answer: a cache
   * of their answers is current while this has not moved.
   */
  version = 0;

  get size(): number {
    return this.byKey.size;
  }

  get backendCount(): number {
    return this.backendV4.size + this.backendV6.size;
  }

  upsert(info: ServiceInfo): void {
    this.version++;
    this.remove(info.key);
    const entry: ServiceEntry = { meta: this.meta(info.namespace, info.name), ports: info.ports, info };
    this.byKey.set(info.key, entry);
    for (const ip of info.ips) {
      const v4 = ipv4Key(ip);
      const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
      if (v4 < 0 && v6 === null) continue;
      const list = v4 >= 0 ? this.clusterV4.get(v4) : this.clusterV6.get(v6!);
      if (list) list.push(entry);
      else if (v4 >= 0) this.clusterV4.set(v4, [entry]);
      else this.clusterV6.set(v6!, [entry]);
    }
  }

  remove(key: string): void {
    const entry = this.byKey.get(key);
    if (!entry) return;
    this.version++;
    this.byKey.delete(key);
    for (const ip of entry.info.ips) {
      const v4 = ipv4Key(ip);
      const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
      const list = v4 >= 0 ? this.clusterV4.get(v4) : v6 !== null ? this.clusterV6.get(v6) : undefined;
      if (!list) continue;
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        if (v4 >= 0) this.clusterV4.delete(v4);
        else this.clusterV6.delete(v6!);
      }
    }
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** The Service whose ClusterIP is `ip`; with several (static file per port), the one listing `port`. */
  clusterIp(v4: number, ip: string, port: number): ServiceMeta | undefined {
    const list = v4 >= 0 ? this.clusterV4.get(v4) : this.clusterV6.get(ip);
    if (list === undefined) return undefined;
    if (list.length === 1) return list[0]!.meta;
    let anyPort: ServiceMeta | undefined;
    for (const e of list) {
      if (e.ports.length === 0) anyPort ??= e.meta;
      else if (e.ports.includes(port)) return e.meta;
    }
    return anyPort ?? list[0]!.meta;
  }

  /**
   * What clusterIp() answers for IPv4 key `v4` whatever the port: the Service
   * when exactly one has that ClusterIP. undefined: none has (clusterIp()
   * answers undefined); null: the answer depends on the port.
   */
  clusterIpV4AnyPort(v4: number): ServiceMeta | null | undefined {
    const list = this.clusterV4.get(v4);
    if (list === undefined) return undefined;
    return list.length === 1 ? list[0]!.meta : null;
  }

  /** Whether IPv4 key `v4` is a backend of some Service on some port (false: backend() answers undefined for every port). */
  hasBackendV4(v4: number): boolean {
    return this.backendV4.has(v4);
  }

  /** Replaces the backends of one EndpointSlice. */
  setBackends(set: BackendSetInfo): void {
    this.version++;
    this.removeBackends(set.key);
    const entry: BackendEntry = { meta: this.meta(set.service.namespace, set.service.name), owner: set.key };
    const keys = { v4: [] as [number, number][], v6: [] as string[] };
    for (const ip of set.ips) {
      const v4 = ipv4Key(ip);
      const v6 = v4 >= 0 ? null : canonicalIpv6(ip);
      for (const port of set.ports) {
        if (v4 >= 0) {
          keys.v4.push([v4, port]);
          this.backendV4.set(v4, port, entry);
        } else if (v6 !== null) {
          keys.v6.push(`${v6}|${port}`);
          this.backendV6.set(`${v6}|${port}`, entry);
        }
      }
    }
    this.backendKeysBySet.set(set.key, keys);
  }

  removeBackends(setKey: string): void {
    const keys = this.backendKeysBySet.get(setKey);
    if (!keys) return;
    this.version++;
    this.backendKeysBySet.delete(setKey);
    // Another slice may have taken over an address meanwhile: remove only our own entries.
    for (const [v4, port] of keys.v4) if (this.backendV4.get(v4, port)?.owner === setKey) this.backendV4.delete(v4, port);
    for (const k of keys.v6) if (this.backendV6.get(k)?.owner === setKey) this.backendV6.delete(k);
  }

  backendSetKeys(): IterableIterator<string> {
    return this.backendKeysBySet.keys();
  }

  /** The Service that `ip`:`port` is a ready backend of. */
  backend(v4: number, ip: string, port: number): ServiceMeta | undefined {
    if (v4 >= 0) return this.backendV4.get(v4, port)?.meta;
    if (this.backendV6.size === 0) return undefined;
    return this.backendV6.get(`${ip}|${port}`)?.meta;
  }

  /** One frozen Service message per entry, shared by every record that resolves to it. */
  private meta(namespace: string, name: string): ServiceMeta {
    return Object.freeze({ name, namespace });
  }
}
