// List+watch of one resource, as client-go's reflector does it: a paged list
// gives the state and a resourceVersion; a watch from that version streams the
// changes (with bookmarks moving the version on). A closed watch resumes from
// the last version; 410 Gone (version compacted) re-lists, deleting what
// disappeared meanwhile; errors and a restarted API server reconnect with
// exponential backoff. The indexes keep answering from the cache throughout.
import http from 'node:http';
import https from 'node:https';
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import type { Log } from '../../source.js';
import type { KubeObject } from './objects.js';

export interface ReflectorHandler {
  /** An object was added or changed (also every object of a list). */
  upsert(obj: KubeObject): void;
  /** The object under `key` is gone (a DELETED event, or missing from a re-list). */
  remove(key: string, obj: KubeObject | null): void;
  keyOf(obj: KubeObject): string;
}

export interface ReflectorOptions {
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  handler: ReflectorHandler;
  kubeConfig: KubeConfig;
  log: Log;
  /** Objects per list page (limit/continue). */
  pageSize: number;
  /** Asks the server to end each watch after this long (it then resumes). */
  watchTimeoutSeconds: number;
  /** A watch silent this long (no event, no bookmark) is taken for a dead connection. */
  idleTimeoutMs: number;
  /** Per-request timeout of a list page. */
  requestTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface ReflectorStats {
  lists: number;
  relists_gone: number;
  watches: number;
  reconnects: number;
  errors: number;
  events: number;
  bookmarks: number;
}

class GoneError extends Error {}

class HttpStatusError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export class Reflector {
  readonly stats: ReflectorStats = { lists: 0, relists_gone: 0, watches: 0, reconnects: 0, errors: 0, events: 0, bookmarks: 0 };
  private readonly opts: ReflectorOptions;
  private readonly watch: Watch;
  private readonly known = new Set<string>();
  private resourceVersion = '';
  private readonly stopper = new AbortController();
  private watchController: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private syncedFlag = false;
  private resolveSynced!: () => void;
  /** Resolves after the first complete list. */
  readonly synced: Promise<void>;
  /** The last error, until the next successful list or watch event. */
  lastError: string | null = null;

  constructor(opts: ReflectorOptions) {
    this.opts = opts;
    this.watch = new Watch(opts.kubeConfig);
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  get isSynced(): boolean {
    return this.syncedFlag;
  }

  get size(): number {
    return this.known.size;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    this.watchController?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let delay = this.opts.backoffInitialMs;
    const stopped = this.stopper.signal;
    while (!stopped.aborted) {
      try {
        if (this.resourceVersion === '') {
          await this.list();
          delay = this.opts.backoffInitialMs;
        }
        const sawEvents = await this.watchOnce();
        if (sawEvents) delay = this.opts.backoffInitialMs;
        else {
          // The server ended the watch without a single event: do not spin.
          await sleep(delay, stopped);
          delay = Math.min(delay * 2, this.opts.backoffMaxMs);
        }
      } catch (err) {
        if (stopped.aborted) break;
        if (err instanceof GoneError) {
          this.stats.relists_gone++;
          this.resourceVersion = '';
          this.opts.log.info({ path: this.opts.path }, 'resourceVersion too old (410 Gone): re-listing');
          continue;
        }
        this.stats.errors++;
        this.stats.reconnects++;
        this.lastError = (err as Error).message;
        this.opts.log.warn({ path: this.opts.path, error: this.lastError, retryInMs: delay }, 'kubernetes list/watch failed, retrying');
        // Full jitter keeps 500 agents from reconnecting to a restarted API server in lockstep.
        await sleep(delay / 2 + Math.random() * (delay / 2), stopped);
        delay = Math.min(delay * 2, this.opts.backoffMaxMs);
      }
    }
  }

  /** Lists every page, applies it, and removes what the list no longer has. */
  private async list(): Promise<void> {
    const seen = new Set<string>();
    let cont = '';
    let rv = '';
    do {
      const query: Record<string, string> = { limit: String(this.opts.pageSize) };
      if (cont) query.continue = cont;
      const page = (await this.getJson(query)) as { items?: KubeObject[]; metadata?: { resourceVersion?: string; continue?: string } };
      for (const item of page.items ?? []) {
        const key = this.opts.handler.keyOf(item);
        seen.add(key);
        this.known.add(key);
        this.opts.handler.upsert(item);
      }
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont !== '' && !this.stopper.signal.aborted);
    for (const key of this.known) {
      if (!seen.has(key)) {
        this.known.delete(key);
        this.opts.handler.remove(key, null);
      }
    }
    this.resourceVersion = rv;
    this.stats.lists++;
    this.lastError = null;
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.resolveSynced();
    }
  }

  private async getJson(query: Record<string, string>): Promise<unknown> {
    const cluster = this.opts.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + this.opts.path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.opts.kubeConfig.applyToHTTPSOptions(options);
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, timeout: this.opts.requestTimeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 410) return reject(new GoneError(`${url.pathname}: 410 Gone`));
          if (res.statusCode !== 200) {
            return reject(new HttpStatusError(`GET ${url.pathname}: HTTP ${res.statusCode}: ${body.slice(0, 200)}`, res.statusCode ?? 0));
          }
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(new Error(`GET ${url.pathname}: response is not JSON: ${(err as Error).message}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: no response within ${this.opts.requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** One watch from the current resourceVersion; resolves when it ends, telling whether it carried events. */
  private watchOnce(): Promise<boolean> {
    this.stats.watches++;
    return new Promise<boolean>((resolve, reject) => {
      let sawEvents = false;
      let gone = false;
      let idleAborted = false;
      let finished = false;
      let idle: NodeJS.Timeout | null = null;
      const armIdle = (): void => {
        if (idle) clearTimeout(idle);
        idle = setTimeout(() => {
          idleAborted = true;
          this.opts.log.warn({ path: this.opts.path, idleMs: this.opts.idleTimeoutMs }, 'watch silent for too long, reconnecting');
          this.watchController?.abort();
        }, this.opts.idleTimeoutMs);
      };
      const onEvent = (type: string, obj: KubeObject & { code?: number; message?: string }): void => {
        armIdle();
        sawEvents = true;
        this.stats.events++;
        this.lastError = null;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED': {
            const key = this.opts.handler.keyOf(obj);
            this.known.add(key);
            this.opts.handler.upsert(obj);
            break;
          }
          case 'DELETED': {
            const key = this.opts.handler.keyOf(obj);
            this.known.delete(key);
            this.opts.handler.remove(key, obj);
            break;
          }
          case 'BOOKMARK':
            this.stats.bookmarks++;
            break;
          case 'ERROR':
            if (obj.code === 410) gone = true;
            else this.lastError = `watch error event: ${obj.code} ${obj.message ?? ''}`;
            return;
          default:
            return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
      };
      const onDone = (err: (Error & { statusCode?: number }) | null): void => {
        if (idle) clearTimeout(idle);
        finished = true;
        this.watchController = null;
        if (gone || err?.statusCode === 410) reject(new GoneError('watch: 410 Gone'));
        else if (err && !idleAborted && !this.stopper.signal.aborted) reject(err);
        else if (idleAborted) reject(new Error(`watch ${this.opts.path} idle for ${this.opts.idleTimeoutMs} ms`));
        else resolve(sawEvents);
      };
      const query = {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.opts.watchTimeoutSeconds,
      };
      armIdle();
      this.watch.watch(this.opts.path, query, onEvent, onDone).then(
        (controller) => {
          if (finished) return;
          this.watchController = controller;
          if (this.stopper.signal.aborted || idleAborted) controller.abort();
        },
        (err: Error) => onDone(err),
      );
    });
  }
}
