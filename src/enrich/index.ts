// Enrichment's public face: build the enricher the agent runs from its options.
// The Kubernetes source (and its client library, slow to load) is imported from
// sources/kubernetes/source.js only when the agent watches the API.
import { CgroupResolver, findCgroup2Root } from './cgroup.js';
import type { NamedCidr } from './cidr.js';
import { MetadataEnricher } from './enricher.js';
import { DEFAULT_LABEL_ALLOW_LIST } from './model.js';
import { type Log, type MetadataSource, silentLog } from './source.js';
import { StaticFileSource } from './sources/static-file.js';
import { MetadataStore } from './store.js';

export { MetadataEnricher, type EnrichCounters } from './enricher.js';
export { MetadataStore } from './store.js';
export { StaticFileSource, parseMetadataFile } from './sources/static-file.js';
export { CgroupResolver, parseCgroupPath, findCgroup2Root } from './cgroup.js';
export { DEFAULT_LABEL_ALLOW_LIST } from './model.js';
export type { MetadataSource } from './source.js';

export interface EnrichmentOptions {
  /** --metadata-file: static pods, services, nodes and networks (YAML or JSON). */
  metadataFile?: string;
  /** Watch the Kubernetes API; `kubeconfig` names a file, otherwise in-cluster / $KUBECONFIG / ~/.kube/config. */
  kubernetes?: { kubeconfig?: string } | false;
  /** --label-allow-list: pod labels copied to records; "prefix*" matches a prefix. */
  labelAllowList?: readonly string[];
  /** --deleted-pod-grace: how long a deleted pod's IPs and containers still resolve. */
  deletedPodGraceMs?: number;
  /** Configured CIDR names (in addition to the metadata file's). */
  networks?: readonly NamedCidr[];
  /** The cgroup v2 mount for cgroup id -> container; "auto" finds it with findCgroup2Root(), null disables. The agent passes the root it found once, as it does to the probes. */
  cgroupRoot?: string | null | 'auto';
  log?: Log;
}

export async function createEnricher(opts: EnrichmentOptions): Promise<MetadataEnricher> {
  const log = opts.log ?? silentLog;
  const store = new MetadataStore({
    deletedPodGraceMs: opts.deletedPodGraceMs ?? 30_000,
    labelAllowList: opts.labelAllowList ?? DEFAULT_LABEL_ALLOW_LIST,
  });
  if (opts.networks?.length) store.setNetworks('config', opts.networks);
  const sources: MetadataSource[] = [];
  if (opts.metadataFile) sources.push(new StaticFileSource({ file: opts.metadataFile, store, log }));
  if (opts.kubernetes) {
    const { KubernetesSource } = await import('./sources/kubernetes/source.js');
    sources.push(new KubernetesSource({ store, kubeconfig: opts.kubernetes.kubeconfig, log }));
  }
  const root = opts.cgroupRoot === undefined || opts.cgroupRoot === 'auto' ? findCgroup2Root() : opts.cgroupRoot;
  const cgroups = root === null ? null : new CgroupResolver({ root, minRescanIntervalMs: 1000, maxDepth: 8 });
  return new MetadataEnricher({ store, sources, cgroups });
}
