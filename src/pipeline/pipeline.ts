// The record pipeline: ingest -> enrich -> shape -> sinks (each sink encodes
// with src/proto). Ingest never blocks: records wait in a bounded queue that
// one event-loop task drains through enrich and shape, then fan out to one
// bounded queue per sink (see SinkRunner), the one place that sheds when a
// sink is slow. Memory is bounded at run time, not only by the queues'
// capacities: every queued record reserves its estimated bytes, and a record
// that would pass memoryLimitBytes is shed with the reason "memory_limit". The
// sink queues share three quarters of the limit in equal parts, so a slow sink
// sheds at its own queue without taking memory from the others; the ingest
// queue, drained every event-loop turn, has the last quarter for one burst
// (beyond it, ingest sheds, as it does when full). Every stage counts
// received/emitted/dropped per reason, and losses reach the stream itself as
// LOSS records.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { BoundedQueue } from './bounded-queue.js';
import { LossReporter } from './loss-reporter.js';
import { MemoryBudget } from './memory-budget.js';
import { estimateRecordBytes } from './record-bytes.js';
import { RecordIdAssigner } from './record-ids.js';
import { Shaper, type ShapeOptions } from './shaper.js';
import { SinkRunner, type SinkWriteEvent } from './sink-runner.js';
import { StageCounter } from './stage-counter.js';
import type { Enricher, FlowRecord, LossCount, LossSource, PipelineSnapshot, QueueSnapshot, RecordIngress, Sink } from './types.js';

export interface PipelineOptions {
  /** Stamped on LOSS records and the first part of every record id. */
  nodeName: string;
  /** Second part of record ids; random per start by default. */
  bootId?: string;
  sinks: Sink[];
  /** Default: none (records go on as decoded). */
  enricher?: Pick<Enricher, 'enrich'>;
  /** Where the first enricher error is logged (later ones are only counted). */
  logger?: Pick<Logger, 'warn'>;
  shape?: ShapeOptions;
  /**
   * Bound on the estimated bytes of records held in the ingest and sink queues
   * and in-flight sink writes (the config's memoryLimit); default: no bound
   * beyond the queue capacities.
   */
  memoryLimitBytes?: number;
  /** Records accepted but not yet enriched (default 65536). */
  ingestQueueCapacity?: number;
  /** Data records waiting per sink (default 16384). */
  sinkQueueCapacity?: number;
  /** LOSS records waiting per sink (default 256). */
  lossQueueCapacity?: number;
  /** Records per write() (default 512). */
  sinkBatchSize?: number;
  /** Concurrent write() calls per sink (default 2). */
  sinkMaxInFlight?: number;
  /** Period of LOSS records (default 10000 ms; 0: only at stop and on emitLossRecords()). */
  lossIntervalMs?: number;
  /** Losses counted outside the pipeline (probes, sinks' own retries). */
  lossSources?: LossSource[];
  /** Records one drain task processes before yielding to the event loop (default 8192). */
  drainChunk?: number;
  onSinkWrite?: (event: SinkWriteEvent) => void;
  /** Wall clock for LOSS record times (default Date.now). */
  now?: () => number;
}

/** What stop() could and could not deliver. */
export interface StopReport {
  /** Records still queued or in flight at the deadline, counted as dropped "shutdown_deadline". */
  undrained: number;
  /** LOSS records emitted at stop. */
  finalLossRecords: number;
  /** Sinks whose flush() or stop() failed or timed out, with the reason. */
  sinkErrors: { sink: string; error: string }[];
}

/** The part of memoryLimitBytes the ingest queue may hold (the rest is the sink queues', in equal parts). */
const INGEST_SHARE = 0.25;

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name}: ${String(value)} is not valid (expected a positive integer)`);
  return v;
}

export class Pipeline implements RecordIngress, LossSource {
  readonly ids: RecordIdAssigner;
  private readonly ingestCounter = new StageCounter('ingest');
  private readonly enrichCounter = new StageCounter('enrich');
  private readonly shapeCounter = new StageCounter('shape');
  private readonly queue: BoundedQueue<FlowRecord>;
  /** The ingest queue's share of memoryLimitBytes (each sink has its own, see SinkRunner). */
  private readonly ingestBudget: MemoryBudget;
  private readonly shaper: Shaper;
  private readonly runners: SinkRunner[];
  private readonly reporter: LossReporter;
  private readonly lossSources: LossSource[];
  private readonly drainChunk: number;
  private readonly now: () => number;
  private readonly batchSize: number;
  private accepting = true;
  private drainScheduled = false;
  /** A drain is running: records a sink's write() ingests then wait for the next one. */
  private draining = false;
  private lossTimer: NodeJS.Timeout | undefined;

  /** Throws an Error naming the option on invalid capacities, filters, rates or rules. */
  constructor(private readonly options: PipelineOptions) {
    const names = new Set<string>();
    for (const sink of options.sinks) {
      if (names.has(sink.name)) throw new Error(`sinks: "${sink.name}" is configured twice (expected each sink once)`);
      names.add(sink.name);
    }
    this.ids = new RecordIdAssigner(options.nodeName, options.bootId);
    this.queue = new BoundedQueue(positiveInt('ingestQueueCapacity', options.ingestQueueCapacity, 65536));
    this.shaper = new Shaper(options.shape ?? {}, this.shapeCounter);
    const limit = options.memoryLimitBytes ?? Infinity;
    if (!(limit > 0)) throw new RangeError(`memoryLimitBytes: ${String(limit)} is not valid (expected a positive number of bytes)`);
    this.ingestBudget = new MemoryBudget(limit * INGEST_SHARE);
    const perSink = (limit - limit * INGEST_SHARE) / Math.max(1, options.sinks.length);
    this.batchSize = positiveInt('sinkBatchSize', options.sinkBatchSize, 512);
    const runnerOptions = {
      queueCapacity: positiveInt('sinkQueueCapacity', options.sinkQueueCapacity, 16384),
      lossQueueCapacity: positiveInt('lossQueueCapacity', options.lossQueueCapacity, 256),
      batchSize: this.batchSize,
      maxInFlight: positiveInt('sinkMaxInFlight', options.sinkMaxInFlight, 2),
      onWrite: options.onSinkWrite,
    };
    this.runners = options.sinks.map((sink) => new SinkRunner(sink, { ...runnerOptions, budget: new MemoryBudget(perSink) }));
    this.reporter = new LossReporter(options.nodeName);
    this.lossSources = [...(options.lossSources ?? [])];
    this.drainChunk = positiveInt('drainChunk', options.drainChunk, 8192);
    this.now = options.now ?? Date.now;
  }

  /** Starts every sink (rejecting with the sink's name and error) and the LOSS timer. */
  async start(): Promise<void> {
    await Promise.all(
      this.runners.map(({ sink }) =>
        sink.start().catch((err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          // The Kafka and OTLP sinks' errors name the sink already ("kafka sink: cannot connect to ...").
          throw new Error(message.startsWith(`${sink.name} sink:`) ? message : `sink ${sink.name}: ${message}`, { cause: err });
        }),
      ),
    );
    const interval = this.options.lossIntervalMs ?? 10000;
    if (interval > 0) {
      this.lossTimer = setInterval(() => this.emitLossRecords(), interval);
      this.lossTimer.unref();
    }
  }

  /** Losses counted elsewhere (e.g. the ProbeManager) join the LOSS records. */
  addLossSource(source: LossSource): void {
    this.lossSources.push(source);
  }

  ingest(records: FlowRecord[]): void {
    const counter = this.ingestCounter;
    counter.received += records.length;
    if (!this.accepting) {
      counter.drop('stopped', records.length);
      return;
    }
    const queue = this.queue;
    const budget = this.ingestBudget;
    const ids = this.ids;
    let accepted = 0;
    let overBudget = 0;
    for (let i = 0; i < records.length; i++) {
      if (queue.length === queue.capacity) {
        counter.drop('queue_full', records.length - i);
        break;
      }
      const record = records[i];
      const bytes = estimateRecordBytes(record);
      if (!budget.reserve(bytes)) {
        overBudget++;
        continue;
      }
      queue.push(record, bytes);
      record.id = ids.next();
      accepted++;
    }
    if (overBudget > 0) counter.drop('memory_limit', overBudget);
    counter.emitted += accepted;
    // A sink batch's worth goes through enrich, shape and the sinks' encoders
    // now, while the records a probe decoded a moment ago are still in the
    // CPU's cache: left for the end of the event-loop turn, a burst of them
    // (several ring-buffer batches, megabytes of objects) was read back from
    // memory by every stage, which cost a quarter of the pipeline's throughput
    // (bench/pipeline.bench.ts). Smaller remainders still wait for the turn's
    // end, so a trickle of records becomes one write.
    if (queue.length >= this.batchSize && !this.draining) this.drain(queue.length);
    if (queue.length > 0) this.scheduleDrain();
  }

  /** Emits LOSS records for every loss counted since the last ones; returns how many. */
  emitLossRecords(): number {
    const records = this.reporter.records(this.losses(), this.now());
    for (const record of records) {
      record.id = this.ids.next();
      for (const runner of this.runners) runner.offerLoss(record);
    }
    return records.length;
  }

  /** Running loss totals of the pipeline's stages and every registered LossSource. */
  losses(): LossCount[] {
    const out: LossCount[] = [];
    for (const counter of this.counters()) for (const loss of counter.losses()) out.push(loss);
    for (const source of this.lossSources) for (const loss of source.losses()) out.push(loss);
    return out;
  }

  /** The queues' depths alone: cheap enough for a producer pacing itself (snapshot() also reads every loss source). */
  queues(): QueueSnapshot[] {
    return [{ name: 'ingest', depth: this.queue.length, capacity: this.queue.capacity, bytes: this.queue.weight }, ...this.runners.flatMap((r) => r.queueDepths())];
  }

  snapshot(): PipelineSnapshot {
    return {
      stages: this.counters().map((c) => c.snapshot()),
      queues: this.queues(),
      sinks: this.runners.map((r) => r.snapshot()),
      losses: this.losses(),
      memory: { heldBytes: this.runners.reduce((n, r) => n + r.heldBytes, this.ingestBudget.held), limitBytes: this.options.memoryLimitBytes ?? null },
    };
  }

  /**
   * Stops accepting, drains what was accepted within deadlineMs, counts what
   * could not be delivered, emits the final LOSS records, flushes and stops
   * the sinks. A quarter of the deadline (at most 2 s) is kept for the final
   * LOSS records and the flush.
   */
  async stop(deadlineMs: number): Promise<StopReport> {
    this.accepting = false;
    if (this.lossTimer) clearInterval(this.lossTimer);
    const end = performance.now() + deadlineMs;
    const drainEnd = end - Math.min(deadlineMs / 4, 2000);
    this.drain(Infinity);
    await Promise.all(this.runners.map((r) => r.waitIdle(drainEnd)));
    let undrained = 0;
    for (const runner of this.runners) undrained += runner.abandon('shutdown_deadline');
    const finalLossRecords = this.emitLossRecords();
    await Promise.all(this.runners.map((r) => r.waitIdle(end)));
    for (const runner of this.runners) runner.abandon('shutdown_deadline');
    const sinkErrors: StopReport['sinkErrors'] = [];
    await Promise.all(
      this.runners.map(async ({ sink }) => {
        try {
          await withDeadline(sink.flush(), end, `flush of sink ${sink.name}`);
        } catch (err) {
          sinkErrors.push({ sink: sink.name, error: (err as Error).message });
        }
        try {
          await withDeadline(sink.stop(), Math.max(end, performance.now() + 1000), `stop of sink ${sink.name}`);
        } catch (err) {
          sinkErrors.push({ sink: sink.name, error: (err as Error).message });
        }
      }),
    );
    return { undrained, finalLossRecords, sinkErrors };
  }

  private counters(): StageCounter[] {
    return [this.ingestCounter, this.enrichCounter, this.shapeCounter, ...this.runners.map((r) => r.counter)];
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain(this.drainChunk);
      if (this.queue.length > 0) this.scheduleDrain();
    });
  }

  // enrich and shape are synchronous and cache-only, so one task runs them
  // back to back; the hand-over to the sinks is where waiting may happen.
  private drain(max: number): void {
    this.draining = true;
    try {
      this.drainRecords(max);
    } finally {
      this.draining = false;
    }
  }

  private drainRecords(max: number): void {
    const enricher = this.options.enricher;
    const enrichCounter = this.enrichCounter;
    const runners = this.runners;
    const queue = this.queue;
    const budget = this.ingestBudget;
    const n = Math.min(max, queue.length);
    // Counted per chunk: every record taken is enriched (or passed on unenriched when it throws).
    if (enricher) {
      enrichCounter.received += n;
      enrichCounter.emitted += n;
    }
    for (let k = 0; k < n; k++) {
      const record = queue.shift()!;
      // Released here and reserved again by each sink queue that takes the record.
      const bytes = queue.lastWeight;
      budget.release(bytes);
      if (enricher) {
        try {
          enricher.enrich(record);
        } catch (err) {
          // Metadata is an addition: the record is worth more unenriched than lost.
          if (enrichCounter.failed++ === 0) this.options.logger?.warn({ err }, 'enricher failed on a record: passing it on unenriched (further failures are only counted in podflow_stage_failed_total{stage="enrich"})');
        }
      }
      if (!this.shaper.process(record)) continue;
      for (let i = 0; i < runners.length; i++) runners[i].offer(record, bytes);
    }
  }
}

function withDeadline<T>(promise: Promise<T>, end: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish before the shutdown deadline`)), Math.max(0, end - performance.now()));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
