// The bounded queue in front of one sink: the single place where the pipeline
// sheds when a sink is slow, by count ("queue_full") and by the memory bound
// ("memory_limit": the records' estimated bytes, reserved from this sink's
// share of the memory bound until their write settles). It keeps at most maxInFlight
// write() calls running, hands LOSS records over ahead of data records, and
// counts every record as written or dropped (per reason) so nothing goes
// missing silently.
import { performance } from 'node:perf_hooks';
import { BoundedQueue } from './bounded-queue.js';
import { LatencyHistogram } from './latency-histogram.js';
import { MemoryBudget } from './memory-budget.js';
import { StageCounter } from './stage-counter.js';
import type { FlowRecord, Sink, SinkSnapshot } from './types.js';

export interface SinkRunnerOptions {
  /** Data records waiting for this sink. */
  queueCapacity: number;
  /** LOSS records waiting for this sink (served first). */
  lossQueueCapacity: number;
  batchSize: number;
  maxInFlight: number;
  /** This sink's share of the memory bound (queued and in-flight records); default: no bound. */
  budget?: MemoryBudget;
  onWrite?: (event: SinkWriteEvent) => void;
}

/** Reported after every settled write() (for metrics and logs). */
export interface SinkWriteEvent {
  sink: string;
  records: number;
  seconds: number;
  error?: Error;
}

interface Batch {
  records: FlowRecord[];
  lossRecords: number;
  /** Estimated bytes of its data records, reserved from the budget until it settles. */
  bytes: number;
  /** Set when shutdown gave up on this batch and already counted it. */
  abandoned: boolean;
}

export class SinkRunner {
  readonly counter: StageCounter;
  private readonly queue: BoundedQueue<FlowRecord>;
  private readonly lossQueue: BoundedQueue<FlowRecord>;
  private readonly pending = new Set<Batch>();
  private readonly latency = new LatencyHistogram();
  private readonly budget: MemoryBudget;
  private scheduled = false;
  private writeErrors = 0;
  private lossWritten = 0;
  private lossDropped = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly sink: Sink, private readonly options: SinkRunnerOptions) {
    this.counter = new StageCounter(`sink:${sink.name}`);
    this.queue = new BoundedQueue(options.queueCapacity);
    this.lossQueue = new BoundedQueue(options.lossQueueCapacity);
    this.budget = options.budget ?? new MemoryBudget(Infinity);
  }

  /** A data record of about `bytes` (estimateRecordBytes) for this sink. */
  offer(record: FlowRecord, bytes = 0): void {
    this.counter.received++;
    if (this.queue.length === this.queue.capacity) {
      this.counter.drop('queue_full');
      return;
    }
    if (!this.budget.reserve(bytes)) {
      this.counter.drop('memory_limit');
      return;
    }
    this.queue.push(record, bytes);
    // A full batch is written now, while its records are in the CPU's cache (see Pipeline.ingest).
    if (this.queue.length >= this.options.batchSize && this.pending.size < this.options.maxInFlight) this.pump();
    else this.schedule();
  }

  /** LOSS records: their own drops are counted apart and never become LOSS records. */
  offerLoss(record: FlowRecord): void {
    if (!this.lossQueue.push(record)) {
      this.lossDropped++;
      return;
    }
    this.schedule();
  }

  /** Estimated bytes of the data records queued and in flight. */
  get heldBytes(): number {
    return this.budget.held;
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.lossQueue.length === 0 && this.pending.size === 0;
  }

  /** Resolves true once idle, false at the deadline (epoch ms from performance.now()). */
  waitIdle(deadline: number): Promise<boolean> {
    if (this.idle) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.idle), Math.max(0, deadline - performance.now()));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Shutdown gave up: counts queued and in-flight records as dropped with `reason`. */
  abandon(reason: string): number {
    this.budget.release(this.queue.weight);
    let n = this.queue.clear();
    this.counter.drop(reason, n);
    this.lossDropped += this.lossQueue.clear();
    for (const batch of this.pending) {
      if (batch.abandoned) continue;
      batch.abandoned = true;
      this.budget.release(batch.bytes);
      const data = batch.records.length - batch.lossRecords;
      this.counter.drop(reason, data);
      this.lossDropped += batch.lossRecords;
      n += data;
    }
    this.pending.clear();
    this.notifyIfIdle();
    return n;
  }

  snapshot(): SinkSnapshot {
    return {
      name: this.sink.name,
      ready: this.sink.ready,
      written: this.counter.emitted,
      writeErrors: this.writeErrors,
      inFlight: this.pending.size,
      lossRecordsWritten: this.lossWritten,
      lossRecordsDropped: this.lossDropped,
      latency: this.latency.snapshot(),
    };
  }

  queueDepths(): { name: string; depth: number; capacity: number; bytes: number }[] {
    return [
      { name: this.counter.stage, depth: this.queue.length, capacity: this.queue.capacity, bytes: this.budget.held },
      { name: `${this.counter.stage}:loss`, depth: this.lossQueue.length, capacity: this.lossQueue.capacity, bytes: 0 },
    ];
  }

  // Batches form over one event-loop turn, so a burst becomes one write.
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.pending.size < this.options.maxInFlight && (this.lossQueue.length > 0 || this.queue.length > 0)) {
      const loss = this.lossQueue.take(this.options.batchSize);
      const queued = this.queue.weight;
      const records = loss.length < this.options.batchSize ? loss.concat(this.queue.take(this.options.batchSize - loss.length)) : loss;
      this.write({ records, lossRecords: loss.length, bytes: queued - this.queue.weight, abandoned: false });
    }
  }

  private write(batch: Batch): void {
    this.pending.add(batch);
    const started = performance.now();
    let result: Promise<void>;
    try {
      result = this.sink.write(batch.records);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => this.settle(batch, started),
      (err: unknown) => this.settle(batch, started, err instanceof Error ? err : new Error(String(err))),
    );
  }

  private settle(batch: Batch, started: number, error?: Error): void {
    const seconds = (performance.now() - started) / 1000;
    this.pending.delete(batch);
    if (!batch.abandoned) {
      this.budget.release(batch.bytes);
      const data = batch.records.length - batch.lossRecords;
      this.latency.observe(seconds);
      if (error) {
        this.writeErrors++;
        this.counter.drop('write_failed', data);
        this.lossDropped += batch.lossRecords;
      } else {
        this.counter.emitted += data;
        this.lossWritten += batch.lossRecords;
      }
      this.options.onWrite?.({ sink: this.sink.name, records: batch.records.length, seconds, error });
    }
    this.pump();
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (!this.idle || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
