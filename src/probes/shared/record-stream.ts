// The one batch loop of every ring-buffer probe: records shorter than the
// struct are counted and skipped, each record is decoded into `out`, and the
// batch goes to the ingress in one call. A decoder that throws (a malformed
// record) costs that record, counted and logged once, never the agent: the
// consumer's default would rethrow it as an uncaught exception. The batches
// the consumer thread read before it was joined reach JavaScript through the
// event loop afterwards: stop() resolves once they did.
import { RingBufferConsumer, type BpfMap } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from './context.js';
import { describeError } from './errors.js';

/** Appends the records of the event at batch[off..] to `out` (none, one, or more). */
export type RecordDecoder = (batch: Buffer, off: number, out: FlowRecord[]) => void;

export class RecordStream {
  readonly #ctx: ProbeContext;
  readonly #probe: string;
  readonly #recordSize: number;
  readonly #decode: RecordDecoder;
  readonly #consumer: RingBufferConsumer;
  #seen = 0;
  #short = 0;
  #errors = 0;
  #batches = 0;
  /** Batches the thread handed over in all, known once it was joined. */
  #handed = Infinity;
  #delivered: (() => void) | undefined;

  /** Starts consuming `map` at once. */
  constructor(ctx: ProbeContext, probe: string, map: BpfMap, recordSize: number, decode: RecordDecoder) {
    this.#ctx = ctx;
    this.#probe = probe;
    this.#recordSize = recordSize;
    this.#decode = decode;
    this.#consumer = new RingBufferConsumer(map, (batch, offsets, count) => this.#onBatch(batch, offsets, count), {
      // Our records are at most a few hundred bytes: 256 KiB batches carry ~1000 of them, and the
      // consumer's resident pool (batches in flight x batchBytes, plus offsets) is a quarter of the 1 MiB default.
      batchBytes: 256 * 1024,
      onError: (err) => this.#failed(err, 1),
    });
    this.#consumer.start();
  }

  #onBatch(batch: Buffer, offsets: Uint32Array, count: number): void {
    try {
      this.#decodeBatch(batch, offsets, count);
    } finally {
      if (++this.#batches === this.#handed) this.#delivered?.();
    }
  }

  #decodeBatch(batch: Buffer, offsets: Uint32Array, count: number): void {
    const out: FlowRecord[] = [];
    for (let i = 0; i < count; i++) {
      const off = offsets[i] ?? 0;
      if ((offsets[i + 1] ?? 0) - off < this.#recordSize) {
        this.#short++;
        continue;
      }
      try {
        this.#decode(batch, off, out);
      } catch (err) {
        this.#failed(err, 1);
      }
    }
    this.#seen += count;
    if (out.length > 0) this.#ctx.ingress.ingest(out);
  }

  #failed(err: unknown, records: number): void {
    if (this.#errors === 0) this.#ctx.log?.warn({ probe: this.#probe }, `cannot decode a record (counted as decode ${this.#probe}:error, logged once): ${describeError(err)}`);
    this.#errors += records;
  }

  get seen(): number {
    return this.#seen;
  }

  losses(): LossCount[] {
    const { oversized, lost, droppedAtStop } = this.#consumer.stats();
    const p = this.#probe;
    return [
      { stage: 'decode', reason: `${p}:short_record`, count: this.#short },
      { stage: 'decode', reason: `${p}:error`, count: this.#errors },
      { stage: 'decode', reason: `${p}:oversized_record`, count: oversized },
      { stage: 'kernel', reason: `${p}:lost`, count: lost },
      { stage: 'ringbuf', reason: `${p}:dropped_at_stop`, count: droppedAtStop },
    ];
  }

  /** Joins the consumer thread; resolves once the batches it had handed over were decoded and ingested. */
  stop(): Promise<void> {
    this.#consumer.stop();
    this.#handed = this.#consumer.stats().batches;
    if (this.#batches >= this.#handed) return Promise.resolve();
    return new Promise((resolve) => (this.#delivered = resolve));
  }
}
