// Runs a benchmark's body and then undoes what it set up (namespaces,
// processes), also when the body throws or the benchmark is interrupted
// (SIGINT/SIGTERM from a test runner's timeout), so nothing is left behind.
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

export async function runBench(body: (cleanup: Cleanup) => Promise<void>): Promise<void> {
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
  }
}
