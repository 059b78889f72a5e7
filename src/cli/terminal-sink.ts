// The sink of a standalone `podflow observe` (no agent running): filtered,
// formatted records to stdout, waiting for the terminal or pipe to drain so
// that the pipeline's bounded sink queue (not memory) absorbs a slow reader.
import { once } from 'node:events';
import type { FlowRecord, Sink } from '../pipeline/types.js';

export class TerminalSink implements Sink {
  readonly name = 'terminal';
  readonly ready = true;
  private printed = 0;

  constructor(
    private readonly encode: (record: FlowRecord) => string,
    private readonly matches: (record: FlowRecord) => boolean,
    private readonly limit: { count: number; reached: () => void } | null,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  async start(): Promise<void> {}

  async write(records: readonly FlowRecord[]): Promise<void> {
    let text = '';
    for (const record of records) {
      if (this.limit && this.printed >= this.limit.count) break;
      if (!this.matches(record)) continue;
      text += this.encode(record) + '\n';
      this.printed++;
    }
    if (text && !this.out.write(text)) await once(this.out, 'drain');
    if (this.limit && this.printed >= this.limit.count) this.limit.reached();
  }

  async flush(): Promise<void> {}

  async stop(): Promise<void> {}
}
