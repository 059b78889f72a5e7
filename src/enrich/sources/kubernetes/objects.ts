// Kubernetes objects as the API returns them (JSON), reduced to what
// enrichment needs. Only the fields read here are typed; everything else in
// the object is dropped right after conversion, which keeps the cache small.
import type { BackendSetInfo, NodeInfo, PodInfo, ServiceInfo, WorkloadRef } from '../../model.js';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
}

export interface KubeObject {
  metadata?: ObjectMeta;
}

interface ContainerStatus {
  name?: string;
  containerID?: string;
}

export interface RawPod extends KubeObject {
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: { ports?: { containerPort?: number; hostPort?: number }[] }[];
  };
  status?: {
    phase?: string;
    hostIP?: string;
    podIP?: string;
    podIPs?: { ip?: string }[];
    startTime?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
    ephemeralContainerStatuses?: ContainerStatus[];
  };
}

export interface RawService extends KubeObject {
  spec?: { clusterIP?: string; clusterIPs?: string[]; externalIPs?: string[]; ports?: { port?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export interface RawNode extends KubeObject {
  status?: { addresses?: { type?: string; address?: string }[] };
}

export interface RawEndpointSlice extends KubeObject {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean | null } }[];
  ports?: { port?: number | null }[] | null;
}

/** Names the controllers above a pod's direct owner: ReplicaSet -> Deployment, Job -> CronJob. */
export interface OwnerLookup {
  replicaSetOwner(namespace: string, name: string): string | undefined;
  jobOwner(namespace: string, name: string): string | undefined;
}

export function controllerOf(meta: ObjectMeta | undefined): { kind: string; name: string } | null {
  const refs = meta?.ownerReferences ?? [];
  const ref = refs.find((r) => r.controller) ?? refs[0];
  return ref?.kind && ref.name ? { kind: ref.kind, name: ref.name } : null;
}

function workloadOf(pod: RawPod, owners: OwnerLookup): WorkloadRef {
  const meta = pod.metadata ?? {};
  const ns = meta.namespace ?? '';
  const owner = controllerOf(meta);
  if (!owner) return { kind: 'Pod', name: meta.name ?? '' };
  if (owner.kind === 'ReplicaSet') {
    const deployment = owners.replicaSetOwner(ns, owner.name);
    if (deployment) return { kind: 'Deployment', name: deployment };
    // The ReplicaSet may not be listed yet: a Deployment's ReplicaSet is "<deployment>-<pod-template-hash>".
    const hash = meta.labels?.['pod-template-hash'];
    if (hash && owner.name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
  }
  if (owner.kind === 'Job') {
    const cronJob = owners.jobOwner(ns, owner.name);
    if (cronJob) return { kind: 'CronJob', name: cronJob };
  }
  return owner;
}

function containerIds(statuses: ContainerStatus[] | undefined, out: { name: string; id: string }[]): void {
  for (const s of statuses ?? []) {
    const id = s.containerID?.replace(/^[a-z-]+:\/\//, '');
    if (s.name && id) out.push({ name: s.name, id });
  }
}

function timeMs(text: string | undefined): number {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

/** Whether the pod holds its IPs: pods that finished (Succeeded, Failed) released them. */
export function podHoldsIp(pod: RawPod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

export function podInfo(pod: RawPod, owners: OwnerLookup): PodInfo {
  const meta = pod.metadata ?? {};
  const status = pod.status ?? {};
  const ips = (status.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (ips.length === 0 && status.podIP) ips.push(status.podIP);
  const containers: { name: string; id: string }[] = [];
  containerIds(status.containerStatuses, containers);
  containerIds(status.initContainerStatuses, containers);
  containerIds(status.ephemeralContainerStatuses, containers);
  const hostNetwork = pod.spec?.hostNetwork === true;
  const ports: number[] = [];
  if (hostNetwork) {
    for (const c of pod.spec?.containers ?? []) {
      for (const p of c.ports ?? []) {
        const port = p.hostPort || p.containerPort;
        if (port && !ports.includes(port)) ports.push(port);
      }
    }
  }
  return {
    key: meta.uid ?? `${meta.namespace}/${meta.name}`,
    name: meta.name ?? '',
    namespace: meta.namespace ?? '',
    uid: meta.uid ?? '',
    labels: meta.labels ?? {},
    workload: workloadOf(pod, owners),
    node: pod.spec?.nodeName ?? '',
    hostNetwork,
    ips,
    hostIp: status.hostIP ?? '',
    startMs: timeMs(status.startTime) || timeMs(meta.creationTimestamp),
    containers,
    ports,
  };
}

export function serviceInfo(svc: RawService): ServiceInfo {
  const meta = svc.metadata ?? {};
  const spec = svc.spec ?? {};
  const cluster = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  const ips = [
    ...cluster.filter((ip) => ip && ip !== 'None'),
    ...(spec.externalIPs ?? []),
    ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
  ];
  return {
    key: meta.uid ?? `${meta.namespace}/${meta.name}`,
    name: meta.name ?? '',
    namespace: meta.namespace ?? '',
    ips,
    ports: (spec.ports ?? []).map((p) => p.port).filter((p): p is number => !!p),
  };
}

export function nodeInfo(node: RawNode): NodeInfo {
  const ips = (node.status?.addresses ?? [])
    .filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP')
    .map((a) => a.address)
    .filter((ip): ip is string => !!ip);
  return { name: node.metadata?.name ?? '', ips };
}

/** The ready backends of an EndpointSlice; null when it belongs to no Service. */
export function backendSetInfo(slice: RawEndpointSlice): BackendSetInfo | null {
  const meta = slice.metadata ?? {};
  const service = meta.labels?.['kubernetes.io/service-name'];
  if (!service) return null;
  const ips: string[] = [];
  for (const e of slice.endpoints ?? []) {
    // A missing or null "ready" means ready (the API's convention).
    if (e.conditions?.ready === false) continue;
    ips.push(...(e.addresses ?? []));
  }
  return {
    key: meta.uid ?? `${meta.namespace}/${meta.name}`,
    service: { name: service, namespace: meta.namespace ?? '' },
    ips,
    ports: (slice.ports ?? []).map((p) => p.port).filter((p): p is number => !!p),
  };
}
