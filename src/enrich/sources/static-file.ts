// --metadata-file: pods, services, nodes and networks for hosts and tests
// outside Kubernetes. YAML or JSON; reloaded when the file changes (also when a
// ConfigMap mount swaps its ..data symlink). A bad reload keeps the last good
// version and reports which entry and field were wrong.
import { watch, type FSWatcher, promises as fsp } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { canonicalIp } from '../ip.js';
import { parseCidr } from '../cidr.js';
import type { NodeInfo, PodInfo, ServiceInfo } from '../model.js';
import type { NamedCidr } from '../cidr.js';
import type { MetadataStore } from '../store.js';
import { type Log, type MetadataSource, silentLog } from '../source.js';

const ip = z.string().refine((s) => canonicalIp(s) !== null, { message: 'expected an IPv4 or IPv6 address' });
const port = z.number().int().min(1).max(65535);
const name = z.string().min(1);
const containerId = z
  .string()
  .regex(/^([a-z-]+:\/\/)?[0-9a-f]{12,64}$/, { message: 'expected a container id (hex, optionally "containerd://..." style)' });

const podEntry = z
  .looseObject({
    ip: ip.optional(),
    ips: z.array(ip).optional(),
    name,
    namespace: name,
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    workload: z.looseObject({ kind: name, name }).optional(),
    node: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    startTime: z.iso.datetime({ offset: true }).optional(),
    containers: z.array(z.looseObject({ name, id: containerId })).optional(),
    ports: z.array(port).optional(),
  })
  .refine((p) => p.ip !== undefined || (p.ips !== undefined && p.ips.length > 0), {
    message: 'expected "ip" or a non-empty "ips"',
    path: ['ip'],
  });

const serviceEntry = z.looseObject({
  ip: ip.optional(),
  ips: z.array(ip).optional(),
  port: port.optional(),
  ports: z.array(port).optional(),
  name,
  namespace: name,
}).refine((s) => s.ip !== undefined || (s.ips !== undefined && s.ips.length > 0), {
  message: 'expected "ip" or a non-empty "ips"',
  path: ['ip'],
});

const nodeEntry = z.looseObject({ name, ips: z.array(ip).min(1) });

const networkEntry = z.looseObject({
  cidr: z.string().superRefine((s, ctx) => {
    try {
      parseCidr(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  name,
});

const metadataFile = z.looseObject({
  pods: z.array(podEntry).optional(),
  services: z.array(serviceEntry).optional(),
  nodes: z.array(nodeEntry).optional(),
  networks: z.array(networkEntry).optional(),
});

type MetadataFile = z.infer<typeof metadataFile>;

export interface StaticMetadata {
  pods: PodInfo[];
  services: ServiceInfo[];
  nodes: NodeInfo[];
  networks: NamedCidr[];
}

function describeIssue(file: string, data: unknown, issue: z.core.$ZodIssue): string {
  const p = issue.path;
  let where = '';
  for (const seg of p) where += typeof seg === 'number' ? `[${seg}]` : where === '' ? String(seg) : `.${String(seg)}`;
  // Name the entry by its namespace/name when it has one, so the user can find it.
  let entryLabel = '';
  if (p.length >= 2 && typeof p[1] === 'number') {
    const list = (data as Record<string, unknown>)[String(p[0])];
    const entry = Array.isArray(list) ? (list[p[1]] as Record<string, unknown> | undefined) : undefined;
    if (entry && typeof entry === 'object' && typeof entry.name === 'string') {
      entryLabel = ` (${typeof entry.namespace === 'string' ? `${entry.namespace}/` : ''}${entry.name})`;
    }
  }
  const got = 'input' in issue && issue.input !== undefined ? `, got ${JSON.stringify(issue.input)}` : '';
  return `${file}: ${where}${entryLabel}: ${issue.message}${got}`;
}

/** Parses and checks a metadata file's text; throws an error naming the entry and field. */
export function parseMetadataFile(file: string, text: string): StaticMetadata {
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { cause: err });
  }
  data ??= {};
  const result = metadataFile.safeParse(data, { reportInput: true });
  if (!result.success) {
    const lines = result.error.issues.slice(0, 5).map((i) => describeIssue(file, data, i));
    throw new Error(`bad metadata file: ${lines.join('; ')}`);
  }
  return toMetadata(result.data);
}

function toMetadata(f: MetadataFile): StaticMetadata {
  const pods = new Map<string, PodInfo>();
  for (const p of f.pods ?? []) {
    const key = `file:${p.namespace}/${p.name}`;
    const ips = [...(p.ip ? [p.ip] : []), ...(p.ips ?? [])];
    const prev = pods.get(key);
    // The same pod listed once per IP (dual stack) is one pod.
    if (prev) {
      pods.set(key, { ...prev, ips: [...prev.ips, ...ips] });
      continue;
    }
    pods.set(key, {
      key,
      name: p.name,
      namespace: p.namespace,
      uid: p.uid ?? '',
      labels: p.labels ?? {},
      workload: p.workload ? { kind: p.workload.kind, name: p.workload.name } : null,
      node: p.node ?? '',
      hostNetwork: p.hostNetwork ?? false,
      ips,
      hostIp: '',
      startMs: p.startTime ? Date.parse(p.startTime) : 0,
      containers: (p.containers ?? []).map((c) => ({ name: c.name, id: c.id.replace(/^[a-z-]+:\/\//, '') })),
      ports: p.ports ?? [],
    });
  }
  const services = (f.services ?? []).map((s, i): ServiceInfo => ({
    key: `file:${i}`,
    name: s.name,
    namespace: s.namespace,
    ips: [...(s.ip ? [s.ip] : []), ...(s.ips ?? [])],
    ports: [...(s.port ? [s.port] : []), ...(s.ports ?? [])],
  }));
  const nodes = (f.nodes ?? []).map((n): NodeInfo => ({ name: n.name, ips: n.ips }));
  const networks = (f.networks ?? []).map((n) => ({ cidr: n.cidr, name: n.name }));
  return { pods: [...pods.values()], services, nodes, networks };
}

/** The symlink a Kubernetes ConfigMap volume swaps (renames over) to publish a new version. */
const CONFIGMAP_DATA = '..data';

export interface StaticFileSourceOptions {
  file: string;
  store: MetadataStore;
  log?: Log;
  /** Waits this long after a change event before reading (editors write in steps). */
  debounceMs?: number;
}

export class StaticFileSource implements MetadataSource {
  readonly name = 'file';
  private readonly file: string;
  private readonly store: MetadataStore;
  private readonly log: Log;
  private readonly debounceMs: number;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastText: string | null = null;
  /** The text of the last failed load, until another load: reported and counted once, not on every event. */
  private rejectedText: string | null = null;
  private current: StaticMetadata = { pods: [], services: [], nodes: [], networks: [] };
  private loaded = false;
  private reloads = 0;
  private failures = 0;
  /** The error of the last failed load, until a load succeeds. */
  lastError: string | null = null;
  private reloadWaiters: (() => void)[] = [];

  constructor(opts: StaticFileSourceOptions) {
    this.file = path.resolve(opts.file);
    this.store = opts.store;
    this.log = opts.log ?? silentLog;
    this.debounceMs = opts.debounceMs ?? 100;
  }

  get ready(): boolean {
    return this.loaded;
  }

  /** Rejects when the file is missing or bad at start: the agent must not run on a half-read config. */
  async start(): Promise<void> {
    await this.load(true);
    // Watch the directory: editors and ConfigMap mounts replace the file rather than write it.
    // Other files there (the agent's own log, say) are not ours; a platform that
    // names no file leaves every event to load(), which skips unchanged text.
    const base = path.basename(this.file);
    this.watcher = watch(path.dirname(this.file), (_event, changed) => {
      if (changed === null || changed === base || changed === CONFIGMAP_DATA) this.schedule();
    });
    this.watcher.on('error', (err) => this.log.warn({ err, file: this.file }, 'metadata file watch failed'));
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  stats(): Record<string, number> {
    return { reloads: this.reloads, reload_errors: this.failures };
  }

  /** Resolves after the next reload attempt (for tests and `podflow status`). */
  nextReload(): Promise<void> {
    return new Promise((resolve) => this.reloadWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.load(false).catch(() => {});
    }, this.debounceMs);
  }

  private async load(first: boolean): Promise<void> {
    let text: string | null = null;
    try {
      try {
        text = await fsp.readFile(this.file, 'utf8');
      } catch (err) {
        throw new Error(`metadata file ${this.file}: cannot read: ${(err as Error).message}`, { cause: err });
      }
      if (text === this.lastText || text === this.rejectedText) return;
      const next = parseMetadataFile(this.file, text);
      this.apply(next);
      this.lastText = text;
      this.rejectedText = null;
      this.lastError = null;
      this.loaded = true;
      if (!first) this.reloads++;
      this.log.info({ file: this.file, pods: next.pods.length, services: next.services.length }, 'metadata file loaded');
    } catch (err) {
      this.rejectedText = text;
      this.failures++;
      this.lastError = (err as Error).message;
      if (first) throw err;
      this.log.error({ file: this.file, error: this.lastError }, 'metadata file not reloaded, keeping the last good version');
    } finally {
      if (!first) for (const w of this.reloadWaiters.splice(0)) w();
    }
  }

  private apply(next: StaticMetadata): void {
    const now = Date.now();
    const podKeys = new Set(next.pods.map((p) => p.key));
    for (const p of this.current.pods) if (!podKeys.has(p.key)) this.store.deletePod(p.key, now);
    for (const p of next.pods) this.store.upsertPod(p);
    const serviceKeys = new Set(next.services.map((s) => s.key));
    for (const s of this.current.services) if (!serviceKeys.has(s.key)) this.store.deleteService(s.key);
    for (const s of next.services) this.store.upsertService(s);
    const nodeNames = new Set(next.nodes.map((n) => n.name));
    for (const n of this.current.nodes) if (!nodeNames.has(n.name)) this.store.deleteNode(n.name);
    for (const n of next.nodes) this.store.upsertNode(n);
    this.store.setNetworks(this.name, next.networks);
    this.current = next;
  }
}
