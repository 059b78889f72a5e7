// The Enricher of the pipeline: fills both endpoints (pod, service, node,
// host network, network name), the original destination's Service and the
// process's container from the store, on the hot path, without waiting on I/O.
import { podflow } from '../proto/gen/flow.js';
import type { Enricher, FlowRecord } from '../pipeline/types.js';
import type { CgroupResolver } from './cgroup.js';
import { ipv4Key } from './ip.js';
import type { PodMeta, ServiceMeta } from './model.js';
import type { MetadataSource } from './source.js';
import type { MetadataStore } from './store.js';

type Endpoint = podflow.v1.IEndpoint;

export interface MetadataEnricherOptions {
  store: MetadataStore;
  sources: readonly MetadataSource[];
  /** Resolves process.cgroupId; null when there is no cgroup v2 tree to read. */
  cgroups: CgroupResolver | null;
  /** How often deleted pods past their grace period are forgotten. */
  sweepIntervalMs?: number;
}

/** Counters of what enrich() found, running totals. */
export interface EnrichCounters {
  endpoints: number;
  pod: number;
  service: number;
  node: number;
  network: number;
  unresolved: number;
  process_container: number;
  process_unresolved: number;
}

/**
 * What an IPv4 address resolves to whatever the port and the time, kept by
 * address in EndpointCache: the Service of its ClusterIP, or its pod (the
 * Service it backs looked up by port, when it backs one), or neither (the
 * node and network lookups follow, as without the cache).
 */
const SERVICE = 1;
const POD = 2;
/** A pod that backs some Service: which one depends on the port. */
const POD_BACKEND = 3;
/** No ClusterIP, no pod: the node and network lookups decide. */
const NEITHER = 4;
/** Depends on the port or the time (several ClusterIP entries, several or deleted owners): looked up every time. */
const VARIES = 5;

/** Addresses the endpoint cache holds at least, and at most (direct-mapped by a hash of the address). */
const MIN_SLOTS = 4096;
const MAX_SLOTS = 65536;

/**
 * The pod and service lookups' answers by IPv4 address, in flat arrays: an
 * endpoint costs two cache lines (the slot's numbers, its two references)
 * instead of three Map lookups and a walk of the pod's owners, each a chain of
 * dependent loads from objects that the records streaming through the CPU
 * caches have pushed out. A slot holds for one generation: a change of the pod
 * or service index (their version counters) starts a new one, which empties
 * the cache without touching it, and resizes it to the indexes (twice their
 * entries, MIN_SLOTS to MAX_SLOTS).
 */
class EndpointCache {
  /** Per slot: the address (as int32), the generation it was filled in, its kind, unused. */
  ints = new Int32Array(4 * MIN_SLOTS);
  /** Per slot: SERVICE: the Service; POD, POD_BACKEND: the Pod and its node (undefined when empty). */
  refs: (PodMeta | ServiceMeta | string | undefined)[] = new Array<PodMeta | ServiceMeta | string | undefined>(2 * MIN_SLOTS).fill(undefined);
  /** 32 - log2(slots): the hash's shift. */
  shift = 32 - Math.log2(MIN_SLOTS);
  generation = 1;
  podVersion = -1;
  serviceVersion = -1;

  slot(v4: number): number {
    return Math.imul(v4, 2654435761) >>> this.shift;
  }

  /** A new generation after a change of the indexes, sized to `entries` addresses. */
  renew(podVersion: number, serviceVersion: number, entries: number): void {
    this.podVersion = podVersion;
    this.serviceVersion = serviceVersion;
    let slots = MIN_SLOTS;
    while (slots < 2 * entries && slots < MAX_SLOTS) slots *= 2;
    if (slots !== this.ints.length / 4) {
      this.ints = new Int32Array(4 * slots);
      this.refs = new Array<PodMeta | ServiceMeta | string | undefined>(2 * slots).fill(undefined);
      this.shift = 32 - Math.log2(slots);
      this.generation = 1;
      return;
    }
    // Wrapping around after 2^31 generations: start over from an empty cache.
    if (++this.generation === 0x7fffffff) {
      this.ints.fill(0);
      this.generation = 1;
    }
  }
}

/**
 * Resolution of the clock that ends deleted pods' grace periods (seconds
 * long): a call to Date.now() per record shows in profiles.
 */
const CLOCK_TICK_MS = 100;

export class MetadataEnricher implements Enricher {
  private readonly store: MetadataStore;
  private readonly sources: readonly MetadataSource[];
  /** cgroup id -> container, scanned by start(); shared with the probes (one scan, one cache per agent). */
  readonly cgroups: CgroupResolver | null;
  private readonly sweepIntervalMs: number;
  private sweeper: NodeJS.Timeout | null = null;
  /** While started: a coarse wall clock (CLOCK_TICK_MS) instead of Date.now() per record (read per record when stopped). */
  private clock: NodeJS.Timeout | null = null;
  private nowMs = 0;
  /**
   * The time (ms) of the record being enriched. Kept here, not passed: a
   * double passed to a call that is not inlined is boxed, an allocation per
   * endpoint; a double field is updated in place.
   */
  private timeMs = 0;
  private readonly cache = new EndpointCache();
  private readonly counts: EnrichCounters = {
    endpoints: 0,
    pod: 0,
    service: 0,
    node: 0,
    network: 0,
    unresolved: 0,
    process_container: 0,
    process_unresolved: 0,
  };

  constructor(opts: MetadataEnricherOptions) {
    this.store = opts.store;
    this.sources = opts.sources;
    this.cgroups = opts.cgroups;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 5000;
  }

  get ready(): boolean {
    return this.sources.every((s) => s.ready);
  }

  async start(): Promise<void> {
    await Promise.all([...this.sources.map((s) => s.start()), this.cgroups?.scan()]);
    this.sweeper = setInterval(() => this.store.sweep(Date.now()), this.sweepIntervalMs);
    this.sweeper.unref();
    this.nowMs = Date.now();
    this.clock = setInterval(() => (this.nowMs = Date.now()), CLOCK_TICK_MS);
    this.clock.unref();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.clock) clearInterval(this.clock);
    this.sweeper = null;
    this.clock = null;
    this.cgroups?.stop();
    await Promise.all(this.sources.map((s) => s.stop()));
  }

  cacheSizes(): Record<string, number> {
    return { ...this.store.sizes(), cgroups: this.cgroups?.size ?? 0 };
  }

  counters(): Readonly<EnrichCounters> {
    return this.counts;
  }

  /** Per-source counters, keyed "<source>_<counter>". */
  sourceStats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.sources) for (const [k, v] of Object.entries(s.stats())) out[`${s.name}_${k}`] = v;
    return out;
  }

  enrich(record: FlowRecord): void {
    if (this.clock === null) this.nowMs = Date.now();
    const t = record.time;
    this.timeMs = t && t.seconds != null ? Number(t.seconds) * 1000 + Number(t.nanos ?? 0) / 1e6 : this.nowMs;
    const dst = record.destination;
    if (record.source) this.endpoint(record.source);
    if (dst) this.endpoint(dst);
    const orig = record.originalDestination;
    if (orig?.ip) {
      const v4 = ipv4Key(orig.ip);
      const svc = this.store.services.clusterIp(v4, orig.ip, orig.port ?? 0);
      if (svc) {
        orig.service = svc;
        if (dst && !dst.service) dst.service = svc;
      }
    }
    if (record.process) this.process(record);
  }

  private endpoint(ep: Endpoint): void {
    const ip = ep.ip;
    if (!ip) return;
    this.counts.endpoints++;
    const s = this.store;
    const v4 = ipv4Key(ip);
    const port = ep.port ?? 0;
    if (v4 >= 0) {
      const cache = this.cache;
      const slot = this.resolvedV4(v4);
      const kind = cache.ints[4 * slot + 2];
      switch (kind) {
        case SERVICE:
          ep.service = cache.refs[2 * slot] as ServiceMeta;
          this.counts.service++;
          return;
        case POD:
        case POD_BACKEND: {
          ep.pod = cache.refs[2 * slot] as PodMeta;
          // Empty node names are kept as undefined: no load from the string to test it.
          const node = cache.refs[2 * slot + 1] as string | undefined;
          if (node !== undefined) ep.node = node;
          if (kind === POD_BACKEND) {
            const backendOf = s.services.backend(v4, ip, port);
            if (backendOf) ep.service = backendOf;
          }
          this.counts.pod++;
          return;
        }
        case NEITHER:
          this.nodeOrNetwork(ep, v4, ip, port);
          return;
      }
    }
    const svc = s.services.clusterIp(v4, ip, port);
    if (svc) {
      ep.service = svc;
      this.counts.service++;
      return;
    }
    const pod = s.pods.lookup(v4, ip, this.timeMs, this.nowMs);
    if (pod) {
      ep.pod = pod.pod;
      if (pod.node) ep.node = pod.node;
      const backendOf = s.services.backend(v4, ip, port);
      if (backendOf) ep.service = backendOf;
      this.counts.pod++;
      return;
    }
    this.nodeOrNetwork(ep, v4, ip, port);
  }

  /** The cache slot of IPv4 key `v4`, holding how it resolves whatever the port and time (filled on a miss). */
  private resolvedV4(v4: number): number {
    const cache = this.cache;
    const s = this.store;
    if (s.pods.version !== cache.podVersion || s.services.version !== cache.serviceVersion) {
      cache.renew(s.pods.version, s.services.version, s.pods.size + s.services.size);
    }
    const slot = cache.slot(v4);
    const ints = cache.ints;
    const i = 4 * slot;
    if (ints[i] === (v4 | 0) && ints[i + 1] === cache.generation) return slot;
    let made: number;
    let meta: PodMeta | ServiceMeta | undefined;
    let node: string | undefined;
    const svc = s.services.clusterIpV4AnyPort(v4);
    if (svc === null) made = VARIES;
    else if (svc !== undefined) {
      made = SERVICE;
      meta = svc;
    } else {
      const owner = s.pods.soleOwnerV4(v4);
      if (owner === null) made = VARIES;
      else if (owner === undefined) made = NEITHER;
      else {
        made = s.services.hasBackendV4(v4) ? POD_BACKEND : POD;
        meta = owner.pod;
        node = owner.node || undefined;
      }
    }
    ints[i] = v4 | 0;
    ints[i + 1] = cache.generation;
    ints[i + 2] = made;
    cache.refs[2 * slot] = meta;
    cache.refs[2 * slot + 1] = node;
    return slot;
  }

  /** The rest of endpoint(): no ClusterIP and no pod has the address. */
  private nodeOrNetwork(ep: Endpoint, v4: number, ip: string, port: number): void {
    const s = this.store;
    const node = s.nodes.lookup(v4, ip);
    const hostPod = s.nodes.hostPod(v4, ip, port);
    if (node !== undefined || hostPod) {
      ep.node = hostPod?.node || node;
      ep.hostNetwork = true;
      if (hostPod) {
        ep.pod = hostPod.pod;
        const backendOf = s.services.backend(v4, ip, port);
        if (backendOf) ep.service = backendOf;
      }
      this.counts.node++;
      return;
    }
    const network = s.networks.size > 0 ? s.networks.match(v4, ip) : undefined;
    if (network !== undefined) {
      ep.network = network;
      this.counts.network++;
      return;
    }
    this.counts.unresolved++;
  }

  /** The process's container names the pod of the local end of the socket. */
  private process(record: FlowRecord): void {
    const proc = record.process!;
    let containerId = proc.containerId || null;
    let podUid: string | null = null;
    if (containerId === null && proc.cgroupId && this.cgroups) {
      const owner = this.cgroups.resolve(Number(proc.cgroupId));
      if (owner) {
        containerId = owner.containerId;
        podUid = owner.podUid;
        if (containerId) proc.containerId = containerId;
      }
    }
    const local = record.observation?.side === podflow.v1.Side.SERVER ? record.destination : record.source;
    if (!local) return;
    const container = containerId !== null ? this.store.containers.get(containerId) : undefined;
    if (container) {
      local.pod = container.pod;
      local.node = container.node;
      if (container.hostNetwork) local.hostNetwork = true;
      this.counts.process_container++;
      return;
    }
    const pod = podUid !== null ? this.store.pods.getByUid(podUid) : undefined;
    if (pod) {
      local.pod = pod.pod;
      local.node = pod.node;
      this.counts.process_container++;
      return;
    }
    if (containerId !== null || proc.cgroupId) this.counts.process_unresolved++;
  }
}
