// Runs a benchmark's body and then undoes what it set up (namespaces,
// processes), also when the body throws or the benchmark is interrupted
// (SIGINT/SIGTERM from a test runner's timeout), so nothing is left behind;
// one such benchmark per machine at a time.
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

type Step = () => void;

export class Cleanup {
  readonly #steps: Step[] = [];

  /** Registers a synchronous undo step; steps run newest first. */
  add(step: Step): void {
    this.#steps.push(step);
  }

  run(): void {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        step();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** The lock's name: an abstract unix socket (no file; Linux). */
export const MACHINE_LOCK = '\0podflow-bench';

/**
 * Waits until no other benchmark of this kind runs on the machine: two would
 * remove each other's namespaces (they have the same names; a smoke run inside
 * `npm test` did that to a full run) and load each other's figures. The lock
 * is an abstract unix socket bound for the benchmark's life: the kernel
 * releases it when the process ends, however it ends.
 */
async function machineLock(): Promise<Server> {
  let told = false;
  for (;;) {
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(MACHINE_LOCK, resolve);
      });
      server.unref();
      return server;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (!told) console.error('waiting for another podflow benchmark on this machine to finish');
      told = true;
      await sleep(250);
    }
  }
}

export async function runBench(body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
  const lock = await machineLock();
  const cleanup = new Cleanup();
  const interrupted = (signal: NodeJS.Signals) => {
    cleanup.run();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await body(cleanup);
  } catch (err) {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exitCode = 1;
  } finally {
    cleanup.run();
    lock.close();
  }
}
