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

  /** Set by fail(): the stop was caused by a failure, and the command ends with it once stopped cleanly. */
  failure: Error | undefined;

  /** Stop cleanly, then fail (exit 1) with `err`. */
  fail(reason: string, err: Error): void {
    this.failure ??= err;
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
  let timer: NodeJS.Timeout | undefined;
  try {
    const started = agent.start().then(() => 'started' as const);
    // A signal during start-up stops what has started so far; start() then rejects, which is expected.
    started.catch(() => {});
    const first = await Promise.race([started, signals.requested]);
    if (first === 'started') {
      logger.info('agent running');
      // --duration is how long the agent runs: loading the probes can take longer than it on a busy node, and a
      // timer started before that stopped the agent as soon as it ran, with no records and exit 0.
      if (opts.durationMs !== undefined) timer = setTimeout(() => signals.stop(`duration ${opts.durationMs}ms elapsed`), opts.durationMs);
    }
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
  if (signals.failure) throw signals.failure;
}

/**
 * stdout went away (`podflow run | head`): an agent stops cleanly, since
 * nobody reads its records any more; any other command just ends. Any other
 * error (ENOSPC: `podflow run > file` on a full disk) stops it the same way but
 * is a failure, exit 1, as for the other commands: a supervisor restarts it.
 */
export function onStdoutError(err: NodeJS.ErrnoException): void {
  const signals = StopSignals.current;
  if (!signals) process.exit(err.code === 'EPIPE' ? EXIT.OK : EXIT.FAILURE);
  else if (err.code === 'EPIPE') signals.stop('stdout closed (EPIPE)');
  else signals.fail(`stdout failed (${err.code ?? err.message})`, new Error(`cannot write records to stdout: ${err.message}`, { cause: err }));
}
