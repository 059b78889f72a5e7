// Runs an agent until SIGTERM, SIGINT or --duration, then stops it within the
// shutdown deadline. A second signal, or a stop that overruns the deadline by
// far, ends the process at once with EXIT.FAILURE.
import type { Logger } from 'pino';
import type { Agent } from '../agent/agent.js';
import { EXIT } from './exit-codes.js';

/** Grace beyond the shutdown deadline before the process gives up on a clean stop. */
const STOP_GRACE_MS = 5000;

/**
 * A signal this soon after the first is the same request delivered twice, not a second one: `timeout`
 * signals its child and then its whole process group, which holds the child too.
 */
const REPEAT_MS = 250;

/**
 * SIGTERM/SIGINT turned into a stop request. Created first thing in a command
 * that runs probes, so a signal while the command is still loading is a clean
 * stop too, not a kill.
 */
export class StopSignals {
  readonly requested: Promise<string>;
  private request: (reason: string) => void = () => {};
  private stopping = false;
  /** When the first signal came (ms, monotonic); undefined before one did. */
  private firstSignalAt: number | undefined;
  private logger: Logger | undefined;

  /** The stop requests of the agent this process runs, if any. */
  static current: StopSignals | null = null;

  constructor() {
    this.requested = new Promise((resolve) => { this.request = resolve; });
    process.on('SIGTERM', this.onSignal);
    process.on('SIGINT', this.onSignal);
    StopSignals.current = this;
  }

  /** Another reason to stop (the --duration timer, `observe --last N` done). */
  stop(reason: string): void {
    this.request(reason);
  }

  private readonly onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (this.stopping) {
      if (this.firstSignalAt !== undefined && now - this.firstSignalAt < REPEAT_MS) {
        this.logger?.debug({ signal }, 'signal repeated right after the first: still stopping cleanly');
        return;
      }
      this.logger?.error({ signal }, 'second signal during shutdown: exiting without a clean stop');
      process.exit(EXIT.FAILURE);
    }
    this.firstSignalAt ??= now;
    this.request(signal);
  };

  /** From here on a further signal forces the exit. */
  shuttingDown(logger: Logger): void {
    this.stopping = true;
    this.logger = logger;
  }

  dispose(): void {
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
    StopSignals.current = null;
  }
}

export interface RunOptions {
  signals: StopSignals;
  durationMs?: number;
  shutdownDeadlineMs: number;
  logger: Logger;
}

export async function runUntilStopped(agent: Agent, opts: RunOptions): Promise<void> {
  const { logger, signals } = opts;
  const timer = opts.durationMs === undefined ? undefined : setTimeout(() => signals.stop(`duration ${opts.durationMs}ms elapsed`), opts.durationMs);
  try {
    const started = agent.start().then(() => 'started' as const);
    // A signal during start-up stops what has started so far; start() then rejects, which is expected.
    started.catch(() => {});
    const first = await Promise.race([started, signals.requested]);
    if (first === 'started') logger.info('agent running');
    const reason = first === 'started' ? await signals.requested : first;
    logger.info({ reason }, 'stopping');
  } finally {
    signals.shuttingDown(logger);
    if (timer) clearTimeout(timer);
    const watchdog = setTimeout(() => {
      logger.error({ deadlineMs: opts.shutdownDeadlineMs }, 'shutdown overran its deadline: exiting without a clean stop');
      process.exit(EXIT.FAILURE);
    }, opts.shutdownDeadlineMs + STOP_GRACE_MS);
    watchdog.unref();
    await agent.stop();
    clearTimeout(watchdog);
    signals.dispose();
    // A write still pending (stdout into a pipe nobody reads) would keep the process alive after the stop, and
    // the exit waits for stdout to drain: what it held is already counted as lost.
    setTimeout(() => {
      logger.error({ graceMs: STOP_GRACE_MS }, 'output still blocked after the stop (stdout not read?): exiting');
      process.exit(EXIT.FAILURE);
    }, STOP_GRACE_MS).unref();
  }
}

/**
 * stdout went away (`podflow run | head`): an agent stops cleanly, since
 * nobody reads its records any more; any other command just ends.
 */
export function onStdoutError(err: NodeJS.ErrnoException): void {
  if (StopSignals.current) StopSignals.current.stop(`stdout closed (${err.code ?? err.message})`);
  else process.exit(err.code === 'EPIPE' ? EXIT.OK : EXIT.FAILURE);
}
