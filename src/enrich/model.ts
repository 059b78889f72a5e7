// What every metadata source (Kubernetes API, static file) reports, reduced to
// the fields enrichment needs, and the frozen metadata objects that enrich()
// hangs on records. Frozen and shared: one object per pod (and per pod
// container), never rebuilt per record; later stages must not mutate them.
import type { podflow } from '../proto/gen/flow.js';

export interface WorkloadRef {
  kind: string;
  name: string;
}

export interface ContainerRef {
  name: string;
  /** Runtime container id without the "containerd://" style prefix. */
  id: string;
}

export interface PodInfo {
  /** Unique per source: the pod uid for Kubernetes, "file:<ns>/<name>" for the static file. */
  key: string;
  name: string;
  namespace: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
  workload: WorkloadRef | null;
  node: string;
  hostNetwork: boolean;
  /** Pod IPs; for host-network pods the node's IPs. */
  ips: readonly string[];
  /** The node IP (status.hostIP), when known. */
  hostIp: string;
  /** When the pod got its IPs (status.startTime), ms since epoch; 0 when unknown. */
  startMs: number;
  containers: readonly ContainerRef[];
  /** Declared container ports; names host-network pods by node IP and port. */
  ports: readonly number[];
}

export interface ServiceInfo {
  key: string;
  name: string;
  namespace: string;
  /** ClusterIPs (and external / load-balancer IPs). */
  ips: readonly string[];
  /** Service ports; empty = any port. */
  ports: readonly number[];
}

export interface NodeInfo {
  name: string;
  ips: readonly string[];
}

/** An EndpointSlice: which pod IPs and ports back a Service. */
export interface BackendSetInfo {
  key: string;
  service: { name: string; namespace: string };
  ips: readonly string[];
  ports: readonly number[];
}

export type PodMeta = Readonly<podflow.v1.IPod>;
export type ServiceMeta = Readonly<podflow.v1.IService>;

/** Which pod labels reach records: exact keys, or prefixes written as "prefix*". */
export class LabelAllowList {
  private readonly exact: Set<string>;
  private readonly prefixes: string[];

  constructor(patterns: readonly string[]) {
    this.exact = new Set(patterns.filter((p) => !p.endsWith('*')));
    this.prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  }

  allows(key: string): boolean {
    return this.exact.has(key) || this.prefixes.some((p) => key.startsWith(p));
  }

  /** The allowed subset of `labels`, frozen. */
  filter(labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) if (this.allows(k)) out[k] = v;
    return Object.freeze(out);
  }
}

export const DEFAULT_LABEL_ALLOW_LIST = Object.freeze([
  'app',
  'app.kubernetes.io/name',
  'app.kubernetes.io/component',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'k8s-app',
  'version',
]);

/** The frozen Pod message for a pod (container name set when given). */
export function podMeta(info: PodInfo, labels: Readonly<Record<string, string>>, container?: string): PodMeta {
  const pod: podflow.v1.IPod = { name: info.name, namespace: info.namespace, uid: info.uid, labels };
  if (info.workload) pod.workload = Object.freeze({ kind: info.workload.kind, name: info.workload.name });
  if (container !== undefined) pod.container = container;
  return Object.freeze(pod);
}
