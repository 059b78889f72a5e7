// The contracts between podflow's parts: probes produce FlowRecords into a
// RecordIngress; the pipeline enriches, shapes and encodes them; sinks deliver.
// Kept in one small file so each part can be built and tested on its own.
import { podflow } from '../proto/gen/flow.js';

/** A record in flight: the plain-object form of podflow.v1.FlowRecord. */
export type FlowRecord = podflow.v1.IFlowRecord;
export const RecordType = podflow.v1.RecordType;
export type RecordType = podflow.v1.RecordType;

/**
 * Where decoded records enter the pipeline. Probes call it from their
 * ring-buffer batch callback; it never blocks and never throws: when the
 * pipeline's bounded queue is full it drops and counts (stage "ingest",
 * reason "queue_full").
 */
export interface RecordIngress {
  ingest(records: FlowRecord[]): void;
}

/** A counted loss, as it reaches LOSS records, metrics and `podflow status`. */
export interface LossCount {
  /** "kernel", "ringbuf", "decode", "ingest", "enrich", "shape", "encode", "sink:<name>". */
  stage: string;
  reason: string;
  count: number;
}

/** Something that reports the losses it counted itself (probes, sinks). */
export interface LossSource {
  /** Running totals since start (not deltas). */
  losses(): LossCount[];
}

/**
 * Fills endpoint metadata (pod, service, node, network) of a record in place.
 * Called on the hot path: must not allocate per record where avoidable and
 * must answer from its cache (never wait on I/O).
 */
export interface Enricher {
  enrich(record: FlowRecord): void;
  /** True once every source finished its first sync (gates /readyz). */
  readonly ready: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Gauges for /metrics, e.g. { pods: 120, services: 14 }. */
  cacheSizes(): Record<string, number>;
}

/**
 * A destination for records. The pipeline owns a bounded queue in front of
 * every sink and keeps at most a few write() calls in flight; a sink may
 * retry inside write() but must settle within its configured timeout. A
 * rejected write counts its records as lost (stage "sink:<name>").
 */
export interface Sink {
  readonly name: string;
  /** Connects; rejects with an error a user can act on (wrong address, bad credentials). */
  start(): Promise<void>;
  write(records: readonly FlowRecord[]): Promise<void>;
  /** Delivers everything accepted so far. */
  flush(): Promise<void>;
  stop(): Promise<void>;
  /** True while the sink can deliver (gates /readyz). */
  readonly ready: boolean;
}

/** Names of the record types, e.g. "FLOW", "HTTP" (the JSON form of RecordType). */
export type RecordTypeName = Exclude<keyof typeof podflow.v1.RecordType, 'RECORD_TYPE_UNSPECIFIED'>;

/** What one stage saw since start. received = emitted + sum(dropped) once its queue is empty. */
export interface StageSnapshot {
  /** "ingest", "enrich", "shape", "sink:<name>". */
  stage: string;
  received: number;
  emitted: number;
  /** Of emitted: records passed on without the stage's work because it threw (an enricher error: unenriched). */
  failed: number;
  /** Dropped records per reason, e.g. { queue_full: 12, filtered: 400 }. */
  dropped: Record<string, number>;
}

export interface QueueSnapshot {
  /** "ingest" or "sink:<name>". */
  name: string;
  depth: number;
  capacity: number;
  /** Estimated bytes of the records held (for a sink: queued and in flight); see estimateRecordBytes. */
  bytes?: number;
}

/** Write latency of one sink: a cumulative histogram (Prometheus style, seconds). */
export interface LatencySnapshot {
  count: number;
  sumSeconds: number;
  maxSeconds: number;
  /** Cumulative counts per upper bound; the last bound is +Infinity. */
  buckets: { le: number; count: number }[];
}

export interface SinkSnapshot {
  name: string;
  ready: boolean;
  /** Data records the sink accepted (write() resolved). */
  written: number;
  /** write() calls that rejected. */
  writeErrors: number;
  inFlight: number;
  /** LOSS records written / dropped; kept apart so they never feed further LOSS records. */
  lossRecordsWritten: number;
  lossRecordsDropped: number;
  latency: LatencySnapshot;
}

/** Everything /metrics and `podflow status` show about the pipeline. */
export interface PipelineSnapshot {
  stages: StageSnapshot[];
  queues: QueueSnapshot[];
  sinks: SinkSnapshot[];
  /** Every loss (pipeline stages and registered LossSources), running totals. */
  losses: LossCount[];
  /** The run-time memory bound: estimated bytes held in all queues and in-flight writes, and the limit (null: none). */
  memory?: { heldBytes: number; limitBytes: number | null };
}
