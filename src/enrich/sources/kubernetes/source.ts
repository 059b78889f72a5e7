// The Kubernetes API as a metadata source: one reflector per resource (Pods in
// all namespaces, Services, Nodes, EndpointSlices, and ReplicaSets and Jobs to
// name a pod's Deployment or CronJob). Objects are reduced to the fields
// enrichment needs as they arrive; the full objects are never kept.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { MetadataStore } from '../../store.js';
import { type Log, type MetadataSource, silentLog } from '../../source.js';
import {
  backendSetInfo,
  controllerOf,
  type KubeObject,
  nodeInfo,
  type OwnerLookup,
  podHoldsIp,
  podInfo,
  type RawEndpointSlice,
  type RawNode,
  type RawPod,
  type RawService,
  serviceInfo,
} from './objects.js';
import { Reflector, type ReflectorHandler, type ReflectorOptions } from './reflector.js';

export interface KubernetesSourceOptions {
  store: MetadataStore;
  /** Path of a kubeconfig file; without it: $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** A ready KubeConfig (tests); wins over `kubeconfig`. */
  kubeConfig?: KubeConfig;
  log?: Log;
  pageSize?: number;
  watchTimeoutSeconds?: number;
  idleTimeoutMs?: number;
  requestTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How long pods wait for ReplicaSets and Jobs to sync before starting anyway. */
  ownerSyncWaitMs?: number;
}

const uidKey = (o: KubeObject): string => o.metadata?.uid ?? `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
const nsName = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** The service account token of a pod (in-cluster configuration). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads a KubeConfig from `file`, else the way kubectl finds one ($KUBECONFIG,
 * ~/.kube/config), else in-cluster. The client's own fallback when it finds
 * none (http://localhost:8080) would retry forever against nothing: refuse.
 */
export function loadKubeConfig(file?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  const home = env.HOME ?? os.homedir();
  const found = file ?? (env.KUBECONFIG ? env.KUBECONFIG.split(path.delimiter)[0] : existsSync(path.join(home, '.kube', 'config')) ? path.join(home, '.kube', 'config') : undefined);
  try {
    if (found) kc.loadFromFile(found);
    else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) kc.loadFromCluster();
    else throw new Error('none found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account');
  } catch (err) {
    throw new Error(`cannot load kubeconfig${found ? ` ${found}` : ''}: ${(err as Error).message}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${found}: no current context with a cluster`);
  return kc;
}

export class KubernetesSource implements MetadataSource, OwnerLookup {
  readonly name = 'kubernetes';
  private readonly store: MetadataStore;
  private readonly log: Log;
  private readonly replicaSetOwners = new Map<string, string>();
  private readonly jobOwners = new Map<string, string>();
  private readonly reflectors: Record<'nodes' | 'replicasets' | 'jobs' | 'services' | 'endpointslices' | 'pods', Reflector>;
  private startedPods = false;
  private readonly ownerSyncWaitMs: number;

  constructor(opts: KubernetesSourceOptions) {
    this.store = opts.store;
    this.log = opts.log ?? silentLog;
    this.ownerSyncWaitMs = opts.ownerSyncWaitMs ?? 10_000;
    const kubeConfig = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfig);
    const common: Omit<ReflectorOptions, 'path' | 'handler'> = {
      kubeConfig,
      log: this.log,
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
      idleTimeoutMs: opts.idleTimeoutMs ?? 11 * 60_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
      backoffInitialMs: opts.backoffInitialMs ?? 800,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
    };
    const make = (path: string, handler: ReflectorHandler): Reflector => new Reflector({ ...common, path, handler });
    const now = (): number => Date.now();
    this.reflectors = {
      nodes: make('/api/v1/nodes', {
        keyOf: (o) => o.metadata?.name ?? '',
        upsert: (o) => this.store.upsertNode(nodeInfo(o as RawNode)),
        remove: (key) => this.store.deleteNode(key),
      }),
      replicasets: make('/apis/apps/v1/replicasets', this.ownerHandler(this.replicaSetOwners, 'Deployment')),
      jobs: make('/apis/batch/v1/jobs', this.ownerHandler(this.jobOwners, 'CronJob')),
      services: make('/api/v1/services', {
        keyOf: uidKey,
        upsert: (o) => this.store.upsertService(serviceInfo(o as RawService)),
        remove: (key) => this.store.deleteService(key),
      }),
      endpointslices: make('/apis/discovery.k8s.io/v1/endpointslices', {
        keyOf: uidKey,
        upsert: (o) => {
          const set = backendSetInfo(o as RawEndpointSlice);
          if (set) this.store.setBackends(set);
        },
        remove: (key) => this.store.deleteBackends(key),
      }),
      pods: make('/api/v1/pods', {
        keyOf: uidKey,
        upsert: (o) => {
          const info = podInfo(o as RawPod, this);
          if (podHoldsIp(o as RawPod)) this.store.upsertPod(info);
          else this.store.deletePod(info.key, now());
        },
        remove: (key) => this.store.deletePod(key, now()),
      }),
    };
  }

  get ready(): boolean {
    return Object.values(this.reflectors).every((r) => r.isSynced);
  }

  /**
   * Starts every reflector and returns at once: the agent runs (unenriched)
   * while the API is unreachable, and `ready` turns true after the first sync.
   * Pods start after ReplicaSets and Jobs have synced so that their workload
   * is named from the start (or after ownerSyncWaitMs, should those not be
   * listable, e.g. RBAC: pods then name the ReplicaSet's Deployment from the
   * pod-template-hash and a Job by itself).
   */
  async start(): Promise<void> {
    const { pods, replicasets, jobs, ...rest } = this.reflectors;
    for (const r of [replicasets, jobs, ...Object.values(rest)]) r.start();
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.ownerSyncWaitMs);
      timer.unref();
    });
    void Promise.race([Promise.all([replicasets.synced, jobs.synced]), waited]).then(() => {
      clearTimeout(timer);
      if (this.startedPods) return;
      this.startedPods = true;
      pods.start();
    });
  }

  /** Resolves after every resource finished its first list. */
  async synced(): Promise<void> {
    await Promise.all(Object.values(this.reflectors).map((r) => r.synced));
  }

  async stop(): Promise<void> {
    this.startedPods = true;
    await Promise.all(Object.values(this.reflectors).map((r) => r.stop()));
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [resource, r] of Object.entries(this.reflectors)) {
      for (const [k, v] of Object.entries(r.stats)) out[`${resource}_${k}`] = v;
      out[`${resource}_objects`] = r.size;
    }
    return out;
  }

  /** The last error of each resource that has one (for `podflow status`). */
  errors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [resource, r] of Object.entries(this.reflectors)) if (r.lastError) out[resource] = r.lastError;
    return out;
  }

  replicaSetOwner(namespace: string, name: string): string | undefined {
    return this.replicaSetOwners.get(`${namespace}/${name}`);
  }

  jobOwner(namespace: string, name: string): string | undefined {
    return this.jobOwners.get(`${namespace}/${name}`);
  }

  /** Keeps "namespace/name -> owner name" for objects whose controller is of `ownerKind`, nothing else. */
  private ownerHandler(owners: Map<string, string>, ownerKind: string): ReflectorHandler {
    return {
      keyOf: nsName,
      upsert: (o) => {
        const owner = controllerOf(o.metadata);
        if (owner?.kind === ownerKind) owners.set(nsName(o), owner.name);
        else owners.delete(nsName(o));
      },
      remove: (key) => owners.delete(key),
    };
  }
}
