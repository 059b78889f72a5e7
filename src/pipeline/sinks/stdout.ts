// Writes records as lines (human, canonical JSON or OCSF) to a stream,
// normally process.stdout. It respects the stream's backpressure: a write()
// resolves only once the stream took the batch, so at most the pipeline's
// in-flight batches are ever buffered here.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { createLineEncoder, type LineEncoder, type LineFormat } from '../../proto/line-encoding.js';
import type { FlowRecord, Sink } from '../types.js';

export interface StdoutSinkOptions {
  format: LineFormat;
  productVersion: string;
  /** Default process.stdout. */
  stream?: Writable;
  /** Default "stdout"; another name lets two stream sinks coexist. */
  name?: string;
}

export class StdoutSink implements Sink {
  readonly name: string;
  private readonly stream: Writable;
  private readonly encode: LineEncoder;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(options: StdoutSinkOptions) {
    this.name = options.name ?? 'stdout';
    this.stream = options.stream ?? process.stdout;
    this.encode = createLineEncoder(options.format, options);
    // An EPIPE (reader went away) fails the following writes instead of crashing the agent.
    this.stream.on('error', (err: Error) => {
      this.failure = err;
    });
  }

  get ready(): boolean {
    return this.failure === undefined && !this.stream.destroyed;
  }

  async start(): Promise<void> {}

  write(records: readonly FlowRecord[]): Promise<void> {
    // Serialized: one batch reaches the stream after the previous one drained.
    const result = this.tail.then(() => this.writeBatch(records));
    this.tail = result.catch(() => undefined);
    return result;
  }

  flush(): Promise<void> {
    return this.tail;
  }

  async stop(): Promise<void> {
    await this.tail;
  }

  private async writeBatch(records: readonly FlowRecord[]): Promise<void> {
    if (this.failure) throw new Error(`${this.name}: stream failed: ${this.failure.message}`);
    let text = '';
    for (const record of records) text += this.encode(record) + '\n';
    if (this.stream.write(text)) return;
    // Both waits are cancelled once one settles, so no listeners pile up on the stream.
    const cancel = new AbortController();
    try {
      await Promise.race([
        once(this.stream, 'drain', { signal: cancel.signal }),
        once(this.stream, 'close', { signal: cancel.signal }).then(() => {
          throw new Error(`${this.name}: stream closed before the write drained`);
        }),
      ]);
    } finally {
      cancel.abort();
    }
  }
}
