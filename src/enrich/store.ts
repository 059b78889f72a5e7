// The indexes every source writes into and the enricher reads from. Sources
// report whole objects (PodInfo, ServiceInfo, ...); the store turns each into
// its frozen metadata once and files it under every key a lookup may use.
import { CidrMatcher, type NamedCidr } from './cidr.js';
import { ContainerIndex } from './container-index.js';
import { type BackendSetInfo, LabelAllowList, type NodeInfo, type PodInfo, podMeta, type ServiceInfo } from './model.js';
import { NodeIndex } from './node-index.js';
import { PodIndex } from './pod-index.js';
import { ServiceIndex } from './service-index.js';

export interface StoreOptions {
  /** How long deleted pods (their IPs and containers) stay resolvable. */
  deletedPodGraceMs: number;
  labelAllowList: readonly string[];
}

export class MetadataStore {
  readonly pods: PodIndex;
  readonly containers: ContainerIndex;
  readonly services = new ServiceIndex();
  readonly nodes = new NodeIndex();
  readonly networks = new CidrMatcher();
  private readonly labels: LabelAllowList;
  private readonly hostPods = new Set<string>();
  private readonly networksBySource = new Map<string, readonly NamedCidr[]>();

  constructor(opts: StoreOptions) {
    this.pods = new PodIndex(opts.deletedPodGraceMs);
    this.containers = new ContainerIndex(opts.deletedPodGraceMs);
    this.labels = new LabelAllowList(opts.labelAllowList);
  }

  upsertPod(info: PodInfo): void {
    const labels = this.labels.filter(info.labels);
    const pod = podMeta(info, labels);
    if (info.hostNetwork) {
      // Host-network pods share the node's IPs: they are named by node IP and declared port only.
      this.hostPods.add(info.key);
      const ips = info.ips.length > 0 ? info.ips : info.hostIp ? [info.hostIp] : [];
      this.nodes.upsertHostPod(info.key, { pod, node: info.node }, ips, info.ports);
    } else {
      if (this.hostPods.delete(info.key)) this.nodes.removeHostPod(info.key);
      this.pods.upsert(info.key, pod, info.node, info.ips, info.startMs);
    }
    this.containers.setPodContainers(
      info.key,
      info.containers.map((c) => ({
        id: c.id,
        entry: { pod: podMeta(info, labels, c.name), node: info.node, hostNetwork: info.hostNetwork },
      })),
    );
  }

  /** The pod is gone (deleted, or finished and its IP released); it resolves for the grace period. */
  deletePod(key: string, nowMs: number): void {
    if (this.hostPods.delete(key)) this.nodes.removeHostPod(key);
    this.pods.markDeleted(key, nowMs);
    this.containers.markPodDeleted(key, nowMs);
  }

  upsertService(info: ServiceInfo): void {
    this.services.upsert(info);
  }

  deleteService(key: string): void {
    this.services.remove(key);
  }

  upsertNode(info: NodeInfo): void {
    this.nodes.upsert(info);
  }

  deleteNode(name: string): void {
    this.nodes.remove(name);
  }

  setBackends(set: BackendSetInfo): void {
    this.services.setBackends(set);
  }

  deleteBackends(key: string): void {
    this.services.removeBackends(key);
  }

  /** Replaces the networks one source configured (the matcher holds every source's). */
  setNetworks(source: string, networks: readonly NamedCidr[]): void {
    const next = new Map(this.networksBySource).set(source, networks);
    this.networks.set([...next.values()].flat());
    this.networksBySource.set(source, networks);
  }

  /** Forgets deleted pods whose grace period ended. */
  sweep(nowMs: number): void {
    this.pods.sweep(nowMs);
    this.containers.sweep(nowMs);
  }

  sizes(): Record<string, number> {
    return {
      pods: this.pods.size,
      host_network_pods: this.nodes.hostPodCount,
      containers: this.containers.size,
      services: this.services.size,
      service_backends: this.services.backendCount,
      nodes: this.nodes.size,
      networks: this.networks.size,
    };
  }
}
