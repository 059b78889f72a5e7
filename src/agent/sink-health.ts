// Whether each sink delivers, judged by its writes: a sink whose writes fail is
// not ready (/readyz, podflow_sink_ready, `podflow status`) from the failed write
// until one succeeds, whatever the sink itself says (a file sink on a full disk
// still has its file open), and the failure is logged once, not once per write.
import type { Logger } from 'pino';
import type { SinkWriteEvent } from '../pipeline/sink-runner.js';

interface Failure {
  since: number;
  writes: number;
  records: number;
}

export class SinkHealth {
  private readonly failures = new Map<string, Failure>();

  /**
   * `stopping`: failures from then on are not logged (the stop's own cause, e.g. stdout closed by
   * `podflow run | head`; the losses are in the shutdown's "pipeline drained" line).
   */
  constructor(private readonly logger: Logger, private readonly stopping: () => boolean, private readonly now: () => number = Date.now) {}

  /** For the pipeline's onSinkWrite: called after every settled write. */
  readonly onWrite = (event: SinkWriteEvent): void => {
    const failure = this.failures.get(event.sink);
    if (event.error) {
      if (failure) {
        failure.writes++;
        failure.records += event.records;
        return;
      }
      this.failures.set(event.sink, { since: this.now(), writes: 1, records: event.records });
      if (this.stopping()) return;
      this.logger.error({ sink: event.sink, err: event.error },
        `${event.sink} sink: a write failed (${event.error.message}); its records are lost (sink:${event.sink}/write_failed) and the sink is not ready until a write succeeds`);
    } else if (failure) {
      this.failures.delete(event.sink);
      if (this.stopping()) return;
      this.logger.info({ sink: event.sink, failedWrites: failure.writes, lostRecords: failure.records, seconds: (this.now() - failure.since) / 1000 },
        `${event.sink} sink: writes succeed again`);
    }
  };

  /** The last settled write of this sink failed. */
  failing(sink: string): boolean {
    return this.failures.has(sink);
  }
}
