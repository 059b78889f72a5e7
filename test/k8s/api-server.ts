// A Kubernetes API server for tests: real HTTP, the real list/watch protocol
// (resourceVersion, limit/continue, chunked watch streams of JSON events,
// BOOKMARK events, 410 Gone for compacted versions, timeoutSeconds), bearer
// token auth, and objects as a real API server returns them. Tests drive it:
// create/update/delete objects, compact history, drop watches, restart.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface ResourceDef {
  path: string;
  apiVersion: string;
  kind: string;
}

export const RESOURCES = {
  pods: { path: '/api/v1/pods', apiVersion: 'v1', kind: 'Pod' },
  services: { path: '/api/v1/services', apiVersion: 'v1', kind: 'Service' },
  nodes: { path: '/api/v1/nodes', apiVersion: 'v1', kind: 'Node' },
  endpointslices: { path: '/apis/discovery.k8s.io/v1/endpointslices', apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
  replicasets: { path: '/apis/apps/v1/replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet' },
  jobs: { path: '/apis/batch/v1/jobs', apiVersion: 'batch/v1', kind: 'Job' },
} as const satisfies Record<string, ResourceDef>;

export type ResourceName = keyof typeof RESOURCES;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: any }; [k: string]: any };

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  resource: ResourceName;
  res: http.ServerResponse;
  bookmarks: boolean;
  timers: NodeJS.Timeout[];
}

export interface TestApiServerOptions {
  /** 0 picks a free port; restart() keeps the port. */
  port?: number;
  /** Bearer token required on every request; null = none. */
  token?: string | null;
  bookmarkIntervalMs?: number;
  /** Answer a too-old watch with HTTP 410 instead of a 200 stream carrying an ERROR event. */
  goneAsHttpStatus?: boolean;
  /** Serve HTTPS with a fresh self-signed certificate (for 127.0.0.1), as real API servers do. */
  tls?: boolean;
}

/** A self-signed certificate for 127.0.0.1, made with openssl. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-apiserver-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=podflow-test-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clone = <T>(o: T): T => structuredClone(o);
const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class TestApiServer {
  private server: http.Server | https.Server | null = null;
  private readonly tls: { key: string; cert: string } | null;
  private port: number;
  private readonly token: string | null;
  private readonly bookmarkIntervalMs: number;
  private readonly goneAsHttpStatus: boolean;
  /** "etcd": survives restarts. */
  private readonly objects = new Map<ResourceName, Map<string, KubeObject>>();
  private readonly history = new Map<ResourceName, WatchEvent[]>();
  private rv = 1000;
  /** Watches from versions below this get 410 Gone. */
  private oldestRv = 1000;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  /** Requests served, e.g. { "pods list": 2, "pods watch": 5 }. */
  readonly requests: Record<string, number> = {};
  /** resourceVersion each watch asked for, per resource, in order. */
  readonly watchVersions: Record<string, string[]> = {};

  constructor(opts: TestApiServerOptions = {}) {
    this.port = opts.port ?? 0;
    this.token = opts.token === undefined ? 'test-token' : opts.token;
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 1000;
    this.goneAsHttpStatus = opts.goneAsHttpStatus ?? false;
    this.tls = opts.tls ? selfSignedCertificate() : null;
    for (const r of Object.keys(RESOURCES) as ResourceName[]) {
      this.objects.set(r, new Map());
      this.history.set(r, []);
    }
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const server = this.tls ? https.createServer(this.tls, handler) : http.createServer(handler);
    server.on(this.tls ? 'secureConnection' : 'connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Stops listening and cuts every connection, as a crashed API server would. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Restarts on the same port. `loseHistory`: the new instance's watch cache starts at the current version. */
  async restart(opts: { downMs?: number; loseHistory?: boolean; whileDown?: () => void } = {}): Promise<void> {
    await this.stop();
    opts.whileDown?.();
    if (opts.loseHistory ?? true) this.compact();
    if (opts.downMs) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.start();
  }

  /** Forgets the event history: watches from any earlier version get 410 Gone. */
  compact(): void {
    for (const h of this.history.values()) h.length = 0;
    this.oldestRv = this.rv;
  }

  /** Cuts every open watch stream mid-flight (no clean end of the chunked response). */
  dropWatches(): void {
    for (const w of this.watchers) {
      for (const t of w.timers) clearTimeout(t);
      w.res.socket?.destroy();
    }
    this.watchers.clear();
  }

  get watchCount(): number {
    return this.watchers.size;
  }

  /** Writes a kubeconfig for this server: token auth; the server's CA for HTTPS (plain HTTP needs insecure-skip-tls-verify). */
  writeKubeconfig(file: string, opts: { token?: string } = {}): string {
    const token = opts.token ?? this.token;
    const user = token ? `    token: ${token}\n` : '    {}\n';
    const trust = this.tls
      ? `certificate-authority-data: ${Buffer.from(this.tls.cert).toString('base64')}`
      : 'insecure-skip-tls-verify: true';
    writeFileSync(
      file,
      `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${this.url}
    ${trust}
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
users:
- name: test
  user:
${user}`,
    );
    return file;
  }

  create(resource: ResourceName, obj: KubeObject): KubeObject {
    const o = clone(obj);
    const map = this.objects.get(resource)!;
    if (map.has(keyOf(o))) throw new Error(`${resource} ${keyOf(o)} already exists`);
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    o.metadata.resourceVersion = String(++this.rv);
    map.set(keyOf(o), o);
    this.emit(resource, 'ADDED', o);
    return clone(o);
  }

  update(resource: ResourceName, obj: KubeObject): KubeObject {
    const o = clone(obj);
    const map = this.objects.get(resource)!;
    const prev = map.get(keyOf(o));
    if (!prev) throw new Error(`${resource} ${keyOf(o)} does not exist`);
    o.metadata.uid = prev.metadata.uid;
    o.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    o.metadata.resourceVersion = String(++this.rv);
    map.set(keyOf(o), o);
    this.emit(resource, 'MODIFIED', o);
    return clone(o);
  }

  delete(resource: ResourceName, namespace: string | undefined, name: string): void {
    const map = this.objects.get(resource)!;
    const key = `${namespace ?? ''}/${name}`;
    const prev = map.get(key);
    if (!prev) throw new Error(`${resource} ${key} does not exist`);
    map.delete(key);
    const o = clone(prev);
    o.metadata.resourceVersion = String(++this.rv);
    this.emit(resource, 'DELETED', o);
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(resource)!.get(`${namespace ?? ''}/${name}`);
    return o ? clone(o) : undefined;
  }

  private emit(resource: ResourceName, type: WatchEvent['type'], object: KubeObject): void {
    const ev: WatchEvent = { rv: this.rv, type, object: clone(object) };
    this.history.get(resource)!.push(ev);
    if (!this.server) return;
    for (const w of this.watchers) if (w.resource === resource) this.send(w, type, object);
  }

  private send(w: Watcher, type: string, object: object): void {
    const def = RESOURCES[w.resource];
    w.res.write(JSON.stringify({ type, object: { kind: def.kind, apiVersion: def.apiVersion, ...object } }) + '\n');
  }

  private count(what: string): void {
    this.requests[what] = (this.requests[what] ?? 0) + 1;
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (this.token && req.headers.authorization !== `Bearer ${this.token}`) {
      return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const entry = Object.entries(RESOURCES).find(([, d]) => d.path === url.pathname);
    if (req.method !== 'GET' || !entry) return this.status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const resource = entry[0] as ResourceName;
    const watch = url.searchParams.get('watch');
    if (watch === 'true' || watch === '1') return this.watch(resource, url, res);
    return this.list(resource, url, res);
  }

  private list(resource: ResourceName, url: URL, res: http.ServerResponse): void {
    this.count(`${resource} list`);
    const def = RESOURCES[resource];
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const cont = url.searchParams.get('continue');
    let start = '';
    let listRv = String(this.rv);
    if (cont) {
      try {
        const token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as { rv: string; start: string };
        if (Number(token.rv) < this.oldestRv) {
          return this.status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
        }
        start = token.start;
        listRv = token.rv;
      } catch {
        return this.status(res, 400, 'BadRequest', 'continue key is not valid');
      }
    }
    const keys = [...this.objects.get(resource)!.keys()].sort().filter((k) => k > start);
    const pageKeys = limit > 0 ? keys.slice(0, limit) : keys;
    const items = pageKeys.map((k) => clone(this.objects.get(resource)!.get(k)!));
    const metadata: Record<string, unknown> = { resourceVersion: listRv };
    if (pageKeys.length < keys.length) {
      metadata.continue = Buffer.from(JSON.stringify({ rv: listRv, start: pageKeys.at(-1) })).toString('base64');
      metadata.remainingItemCount = keys.length - pageKeys.length;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: `${def.kind}List`, apiVersion: def.apiVersion, metadata, items }));
  }

  private watch(resource: ResourceName, url: URL, res: http.ServerResponse): void {
    this.count(`${resource} watch`);
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    (this.watchVersions[resource] ??= []).push(rvParam);
    const fromRv = rvParam === '' || rvParam === '0' ? null : Number(rvParam);
    if (fromRv !== null && fromRv < this.oldestRv && this.goneAsHttpStatus) {
      return this.status(res, 410, 'Expired', `too old resource version: ${fromRv} (${this.oldestRv})`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', timers: [] };
    if (fromRv !== null && fromRv < this.oldestRv) {
      // What a real API server's watch cache does: a 200 stream with one ERROR event, then the end.
      const def = RESOURCES[resource];
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${fromRv} (${this.oldestRv})`, reason: 'Expired', code: 410, details: { kind: def.kind } },
        }) + '\n',
      );
      return;
    }
    this.watchers.add(w);
    const end = (): void => {
      for (const t of w.timers) clearInterval(t);
      this.watchers.delete(w);
    };
    res.on('close', end);
    if (fromRv === null) {
      for (const o of this.objects.get(resource)!.values()) this.send(w, 'ADDED', o);
    } else {
      for (const ev of this.history.get(resource)!) if (ev.rv > fromRv) this.send(w, ev.type, ev.object);
    }
    if (w.bookmarks) {
      const def = RESOURCES[resource];
      w.timers.push(setInterval(() => this.send(w, 'BOOKMARK', { kind: def.kind, apiVersion: def.apiVersion, metadata: { resourceVersion: String(this.rv) } }), this.bookmarkIntervalMs));
    }
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) {
      w.timers.push(
        setTimeout(() => {
          end();
          res.end();
        }, timeoutSeconds * 1000),
      );
    }
  }
}
