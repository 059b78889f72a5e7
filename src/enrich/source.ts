// What a metadata source (static file, Kubernetes API) looks like to the enricher.
import type { Logger } from 'pino';

export interface MetadataSource {
  readonly name: string;
  /** Loads the first version; resolves when the source is ready or rejects with an actionable error. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True after the first complete sync. */
  readonly ready: boolean;
  /** Counters for /metrics and `podflow status` (reloads, relists, reconnects, errors). */
  stats(): Record<string, number>;
}

/** The part of pino's logger the sources use. */
export type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

const noop = (): void => {};
export const silentLog: Log = { info: noop, warn: noop, error: noop, debug: noop } as unknown as Log;
