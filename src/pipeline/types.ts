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
