// libbpf's own messages (libbpf-ts setLogger) into the agent's pino log, never
// raw on stderr: its debug and info lines at debug, its warnings at warn -
// except while the probe manager tries each probe's hooks in order. There a
// failing candidate (kprobe ENOENT, fentry EPERM) is the normal fallback: the
// error carries libbpf's output, and the agent logs the fallback once per
// probe at info with hook and reason, so libbpf's lines about it are debug.
import { setLogger, type LogLevel } from 'libbpf-ts';
import type { Logger } from 'pino';

/** libbpf's print callback is process-wide, so is this. */
let tryingHooks = 0;

export function routeLibbpfLog(logger: Logger): void {
  const log = logger.child({ part: 'libbpf' });
  setLogger((level: LogLevel, message: string) => {
    const text = message.trimEnd().replace(/^libbpf: /, '');
    if (level === 'warn' && tryingHooks === 0) log.warn(text);
    else log.debug(text);
  });
}

/** Runs fn (the probe manager's start) with libbpf's warnings demoted to debug. */
export async function whileTryingHooks<T>(fn: () => Promise<T>): Promise<T> {
  tryingHooks++;
  try {
    return await fn();
  } finally {
    tryingHooks--;
  }
}
