// Writes records as lines (human, canonical JSON or OCSF) to a stream,
// normally process.stdout. It respects the stream's backpressure: a write()
// resolves only once the stream took the batch, so at most the pipeline's
// in-flight batches are ever buffered here. Each batch is one write of one
// chunk; JSON lines are written as bytes straight into it (no string per
// record: `-o json` is the agent's busiest output).
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { JsonEncoder } from '../../proto/json.js';
import { createRecordEncoder, type LineEncoder, type LineFormat } from '../../proto/record-encoder.js';
import type { FlowRecord, Sink } from '../types.js';

/** A record format, or an encoder of its own (`podflow observe -o table`). */
export type StdoutSinkOptions = ({ format: LineFormat; productVersion: string } | { encode: LineEncoder }) & {
  /** Default process.stdout. */
  stream?: Writable;
  /** Default "stdout"; another name lets two stream sinks coexist. */
  name?: string;
  /** Print at most this many records; reached() is called after each write once they are printed. */
  limit?: { count: number; reached: () => void };
};

export class StdoutSink implements Sink {
  readonly name: string;
  private readonly stream: Writable;
  /** Text formats: one line per record, without its newline. */
  private readonly encode: LineEncoder | undefined;
  /** JSON: a batch of lines as one Buffer. */
  private readonly json: JsonEncoder | undefined;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private printed = 0;
  /** Settles once the stream processed the last chunk handed to it (write() returning true only means buffered). */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(private readonly options: StdoutSinkOptions) {
    this.name = options.name ?? 'stdout';
    this.stream = options.stream ?? process.stdout;
    if ('encode' in options) this.encode = options.encode;
    else if (options.format === 'json') this.json = new JsonEncoder();
    else this.encode = createRecordEncoder(options.format, options);
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

  async flush(): Promise<void> {
    await this.tail;
    await this.lastWrite;
  }

  async stop(): Promise<void> {
    await this.flush();
  }

  private async writeBatch(records: readonly FlowRecord[]): Promise<void> {
    if (this.failure) throw new Error(`${this.name}: stream failed: ${this.failure.message}`);
    const limit = this.options.limit;
    const count = limit ? Math.min(records.length, Math.max(0, limit.count - this.printed)) : records.length;
    this.printed += count;
    if (count > 0) await this.writeChunk(await this.lines(records, count));
    if (limit && this.printed >= limit.count) limit.reached();
  }

  /** The first `count` records as newline-terminated lines, in one chunk. */
  private async lines(records: readonly FlowRecord[], count: number): Promise<Buffer | string> {
    if (this.json) {
      // The stream is done with the previous chunk once its write callback ran: its slab is written again.
      await this.lastWrite;
      return this.json.encodeLines(records, count, true);
    }
    const encode = this.encode!;
    let text = '';
    for (let i = 0; i < count; i++) text += encode(records[i]) + '\n';
    return text;
  }

  private async writeChunk(chunk: Buffer | string): Promise<void> {
    let taken = false;
    // The callback also runs (with an error) when the stream is destroyed, so this never hangs.
    this.lastWrite = new Promise<void>((resolve) => {
      taken = this.stream.write(chunk, () => resolve());
    });
    if (taken) return;
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
