// The Enricher of the pipeline: fills both endpoints (pod, service, node,
// host network, network name), the original destination's Service and the
// process's container from the store, on the hot path, without waiting on I/O.
import { podflow } from '../proto/gen/flow.js';
import type { Enricher, FlowRecord } from '../pipeline/types.js';
import type { CgroupResolver } from './cgroup.js';
import { ipv4Key } from './ip.js';
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
