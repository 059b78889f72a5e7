// Delivers FlowRecords to an OpenTelemetry Collector over OTLP (gRPC or
// HTTP/protobuf): every record as one log record, and metrics derived from
// the records (otlp-metrics.ts, through the OpenTelemetry JS SDK).
//
// Log records do not go through the SDK's LoggerProvider: write() encodes each
// record straight into the protobuf of the next export request
// (otlp-log-encoder.ts, the same bytes the SDK would send, at a fraction of the
// CPU), and the SDK's OTLP transport sends the requests (otlp-log-exporter.ts).
// A request leaves when it holds maxExportBatchSize records or
// MAX_REQUEST_BYTES, or scheduledDelayMs after its first record.
//
// Log records accepted but not yet settled by the exporter are bounded by the
// queue bound: write() rejects beyond it (the pipeline counts the rejected
// records). Export failures, after the transport's own bounded retry, are
// counted here per reason; the next request is tried as usual, so delivery
// resumes when the collector returns.
//
// start() sends an empty export request per signal and rejects unless the
// collector accepts it, so a wrong address, port, path, protocol or TLS setup
// fails start-up (the agent exits 1) instead of losing every record. After
// that, `ready` follows the exports: false from a failed one until one
// succeeds. A signal with no export for HEALTH_INTERVAL_MS (an idle node, or a
// failing signal waiting for its next export) is asked again with an empty
// request, so readiness is true to the collector's state without traffic too.
import { credentials as grpcCredentials, Metadata } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as HttpMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader,
  type AggregationOption, type InstrumentType, type PushMetricExporter, type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import { formatDetail, formatEndpoint, endpointsShowPorts } from '../../proto/human.js';
import { encodeCanonicalJson } from '../../proto/json.js';
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord, LossCount, LossSource, Sink } from '../types.js';
import type { SinkFactoryContext } from './registry.js';
import { settleWithin, STOP_FLUSH_MS } from './bounded-wait.js';
import { readTlsMaterial, type TlsFileOptions, type TlsMaterial } from './kafka-tls.js';
import { OtlpLogEncoder, type EncodedLogBatch } from './otlp-log-encoder.js';
import {
  EMPTY_GZIPPED_LOG_REQUEST, EMPTY_LOG_REQUEST, grpcLogExporter, gzipLogBatch, httpLogExporter, type LogBatchExporter,
} from './otlp-log-exporter.js';
import { FlowMetrics, METRIC_ATTRIBUTES } from './otlp-metrics.js';

/**
 * Largest export request: a collector's gRPC receiver refuses messages over
 * 4 MiB unless configured otherwise (max_recv_msg_size_mib).
 */
const MAX_REQUEST_BYTES = 3 * 1024 * 1024;
/** Export requests in flight at once; more wait (they are within the queue bound). */
const CONCURRENT_EXPORTS = 4;
/**
 * LOSS records of failed exports kept for the next export (beyond: counted lost
 * like the rest): they tell the collector's side of the gap, this one included.
 */
const LOSS_RESERVE_RECORDS = 256;
/** A signal with no export settled for this long is asked with an empty request (see the top). */
const HEALTH_INTERVAL_MS = 5_000;
/**
 * start() gives up on the collector after this (or otlp.timeout if shorter), so
 * a wrong address fails fast: the HTTP transport's retries of a refused
 * connection (about 0, 1 and 2.5 s) fit, with their last error as the cause.
 */
const START_TIMEOUT_MS = 5_000;

type Signal = 'logs' | 'metrics';

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf'] as const;

const BODIES: Record<NonNullable<OtlpSinkOptions['body']>, (r: FlowRecord) => string | undefined> = {
  summary: (r) => {
    if (r.type === podflow.v1.RecordType.LOSS) return formatDetail(r);
    const ports = endpointsShowPorts(r);
    return `${formatEndpoint(r.source, ports)} -> ${formatEndpoint(r.destination, ports)} ${formatDetail(r)}`;
  },
  json: (r) => encodeCanonicalJson(r),
  none: () => undefined,
};
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface OtlpSinkOptions {
  /** Collector URL: http(s)://HOST:PORT (gRPC) or the HTTP base URL; /v1/logs and /v1/metrics are appended for HTTP. */
  endpoint: string;
  name?: string;
  /** Default "http/protobuf", as the OTel spec recommends for exporters. */
  protocol?: OtlpProtocol;
  /** Extra request headers (gRPC metadata), e.g. an API key. */
  headers?: Record<string, string>;
  /** Default "gzip". */
  compression?: 'gzip' | 'none';
  tls?: TlsFileOptions;
  /** Per export request, including the exporter's retries (default 10 s). */
  timeoutMs?: number;
  logs?: boolean;
  metrics?: boolean;
  /**
   * The log body: "summary" (default), the record as one human line without its
   * time (`shop/frontend-7d9 -> shop/backend-5c2 HTTP GET /api/users 200 325ms`),
   * the attributes carrying every field; "json", the record's canonical JSON
   * (serialising it roughly halves throughput); "none".
   */
  body?: 'summary' | 'json' | 'none';
  /** Log records accepted but not yet exported; write() rejects beyond it (default 65536). */
  maxQueueSize?: number;
  /** Log records per export request (default 4096). */
  maxExportBatchSize?: number;
  /** Longest wait before a partial batch is exported (default 200 ms). */
  scheduledDelayMs?: number;
  metricsIntervalMs?: number;
  /** Metric attributes kept (default all of METRIC_ATTRIBUTES). */
  metricAttributes?: string[];
  /** Series per instrument before the SDK folds the rest into an overflow series (default 2000). */
  metricCardinalityLimit?: number;
  /** "delta" (default: idle series expire) or "cumulative". */
  metricTemporality?: 'delta' | 'cumulative';
  /** Resource attributes: the node, cluster and agent. */
  nodeName: string;
  clusterName?: string;
  agentVersion: string;
  /** Agent boot id (service.instance.id). */
  instanceId?: string;
  logger?: Logger;
}

export class OtlpSink implements Sink, LossSource {
  readonly name: string;
  private encoder: OtlpLogEncoder | null = null;
  private logExporter: LogBatchExporter | null = null;
  private meterProvider: MeterProvider | null = null;
  /** The metric exporter without the counting wrapper: empty requests are not metric exports. */
  private metricTransport: PushMetricExporter | null = null;
  /** The empty metrics request (the resource without metrics). */
  private emptyMetrics: ResourceMetrics | null = null;
  private flowMetrics: FlowMetrics | null = null;
  private readonly lost = new Map<string, number>();
  private readonly maxQueueSize: number;
  private readonly protocol: OtlpProtocol;
  /** The endpoint without trailing slashes: the gRPC address, or the base of the HTTP paths. */
  private readonly base: string;
  private readonly maxExportBatchSize: number;
  /** LOSS records in the request being filled. */
  private batchLoss: FlowRecord[] = [];
  /** LOSS records of failed exports, exported again once the collector accepts logs (at most LOSS_RESERVE_RECORDS). */
  private retainedLoss: FlowRecord[] = [];
  /** Encoded requests waiting for an export slot. */
  private readonly waiting: EncodedLogBatch[] = [];
  private exporting = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Resolved when nothing is waiting or being exported. */
  private readonly idleWaiters: (() => void)[] = [];
  /** Set once stop() counted what was left: later export results change nothing. */
  private closed = false;
  /** Log records accepted by write(). */
  emitted = 0;
  /** Log records the collector acknowledged. */
  exported = 0;
  private failed = 0;
  /** Per signal: whether its last export (or empty request) was accepted, and when it settled. */
  private readonly health: Record<Signal, { ok: boolean; settledAt: number }> = {
    logs: { ok: true, settledAt: 0 },
    metrics: { ok: true, settledAt: 0 },
  };
  private healthTimer: NodeJS.Timeout | null = null;
  /** An empty request of the health check is in flight. */
  private probing = false;
  /** Log records of failed exports since the collector last accepted logs: logged when it accepts them again. */
  private lostWhileFailing = 0;
  /** Metric exports the collector did not accept (each loses one interval of deltas). */
  metricExportFailures = 0;

  constructor(private readonly options: OtlpSinkOptions) {
    this.name = options.name ?? 'otlp';
    this.maxQueueSize = options.maxQueueSize ?? 65_536;
    this.maxExportBatchSize = Math.min(options.maxExportBatchSize ?? 4096, this.maxQueueSize);
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new Error(`${this.name} sink: endpoint "${options.endpoint}" is not a URL (expected e.g. http://otel-collector:4317 for gRPC or http://otel-collector:4318 for HTTP)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`${this.name} sink: endpoint "${options.endpoint}" must start with http:// or https://`);
    }
    const protocol = options.protocol ?? 'http/protobuf';
    this.protocol = protocol;
    this.base = options.endpoint.replace(/\/+$/, '');
    if (options.body !== undefined && !(options.body in BODIES)) {
      throw new Error(`${this.name} sink: unknown body "${String(options.body)}" (expected one of ${Object.keys(BODIES).join(', ')})`);
    }
    if (!OTLP_PROTOCOLS.includes(protocol)) {
      throw new Error(`${this.name} sink: unknown protocol "${String(protocol)}" (expected one of ${OTLP_PROTOCOLS.join(', ')})`);
    }
  }

  get ready(): boolean {
    return (this.encoder !== null || this.meterProvider !== null) && this.health.logs.ok && this.health.metrics.ok;
  }

  /** Log records accepted but not settled (in the next request, waiting, or being exported). */
  get inFlight(): number {
    return this.emitted - this.exported - this.failed;
  }

  async start(): Promise<void> {
    const o = this.options;
    const tls = o.tls ? await readTlsMaterial(this.name, o.tls) : undefined;
    const resource: Record<string, string> = {
      'service.name': 'podflow',
      'service.version': o.agentVersion,
      ...(o.instanceId ? { 'service.instance.id': o.instanceId } : {}),
      'k8s.node.name': o.nodeName,
      'host.name': o.nodeName,
      ...(o.clusterName ? { 'k8s.cluster.name': o.clusterName } : {}),
    };
    this.closed = false;
    this.emptyMetrics = { resource: resourceFromAttributes(resource), scopeMetrics: [] };
    await this.checkCollector(tls);
    for (const h of Object.values(this.health)) {
      h.ok = true;
      h.settledAt = Date.now();
    }
    if (o.logs !== false) {
      this.logExporter = this.createLogExporter(tls, o.timeoutMs ?? 10_000);
      this.encoder = new OtlpLogEncoder(resource, { name: 'podflow', version: o.agentVersion });
    }
    if (o.metrics !== false) {
      this.metricTransport = this.metricExporter(tls, o.timeoutMs ?? 10_000);
      const limit = o.metricCardinalityLimit ?? 2000;
      const reader = new PeriodicExportingMetricReader({
        exporter: new CountingMetricExporter(this.metricTransport, (result) => this.onMetricExport(result)),
        exportIntervalMillis: o.metricsIntervalMs ?? 60_000,
        exportTimeoutMillis: Math.min(o.timeoutMs ?? 10_000, o.metricsIntervalMs ?? 60_000),
        cardinalityLimits: { default: limit },
      });
      this.meterProvider = new MeterProvider({ resource: resourceFromAttributes(resource), readers: [reader] });
      this.flowMetrics = new FlowMetrics(this.meterProvider.getMeter('podflow', o.agentVersion), o.metricAttributes ?? METRIC_ATTRIBUTES);
    }
    this.healthTimer = setInterval(() => this.checkHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }

  /** Rejects unless the collector accepts an empty request of every signal, sent by start-up's own, shorter-lived exporters. */
  private async checkCollector(tls: TlsMaterial | undefined): Promise<void> {
    const timeoutMs = Math.min(this.options.timeoutMs ?? 10_000, START_TIMEOUT_MS);
    const signals = this.signals();
    const logs = signals.includes('logs') ? this.createLogExporter(tls, timeoutMs) : null;
    const metrics = signals.includes('metrics') ? this.metricExporter(tls, timeoutMs) : null;
    const results = await Promise.all(signals.map((signal) => this.emptyExport(signal, logs, metrics)));
    await Promise.allSettled([logs?.shutdown(), metrics?.shutdown()]);
    // Signals failing for the same reason (both, when nothing listens) are reported together.
    const failed = new Map<string, Signal[]>();
    signals.forEach((signal, i) => {
      if (results[i].code === ExportResultCode.SUCCESS) return;
      const cause = describeExportError(results[i].error, this.protocol);
      failed.set(cause, [...(failed.get(cause) ?? []), signal]);
    });
    if (failed.size === 0) return;
    const causes = [...failed].map(([cause, failing]) => `cannot export to ${this.targetOf(failing)}: ${cause}`);
    throw new Error(`${this.name} sink: ${causes.join('; ')}`);
  }

  write(records: readonly FlowRecord[]): Promise<void> {
    const encoder = this.encoder;
    if (!encoder && !this.flowMetrics) {
      return Promise.reject(new Error(`${this.name} sink: write() before start() or after stop()`));
    }
    if (encoder && this.inFlight + records.length > this.maxQueueSize) {
      return Promise.reject(new Error(
        `${this.name} sink: ${this.inFlight} log records wait for the collector (queue bound ${this.maxQueueSize}); ${records.length} records rejected`,
      ));
    }
    for (const r of records) this.flowMetrics?.record(r);
    this.flowMetrics?.flush();
    if (encoder) {
      this.addLogs(encoder, records);
      this.emitted += records.length;
    }
    return Promise.resolve();
  }

  /** Adds log records to the requests being filled, sending each when full, the last one after scheduledDelayMs. */
  private addLogs(encoder: OtlpLogEncoder, records: readonly FlowRecord[]): void {
    const body = BODIES[this.options.body ?? 'summary'];
    const now = Date.now();
    for (const r of records) {
      encoder.add(r, body(r), now);
      if (r.type === podflow.v1.RecordType.LOSS) this.batchLoss.push(r);
      if (encoder.count >= this.maxExportBatchSize || encoder.size >= MAX_REQUEST_BYTES) this.sendBatch();
    }
    if (encoder.count > 0 && this.timer === null) {
      this.timer = setTimeout(() => this.sendBatch(), this.options.scheduledDelayMs ?? 200);
      this.timer.unref();
    }
  }

  async flush(): Promise<void> {
    await Promise.all([this.flushLogs(), this.meterProvider?.forceFlush()]);
  }

  /**
   * Exports for at most STOP_FLUSH_MS more (the pipeline flush()es first, within the shutdown deadline),
   * counts the log records not exported by then as lost ("shutdown"), and shuts the SDK down.
   */
  async stop(): Promise<void> {
    if (this.healthTimer !== null) clearInterval(this.healthTimer);
    this.healthTimer = null;
    const exporter = this.logExporter;
    const metrics = this.meterProvider;
    await settleWithin(Promise.allSettled([this.flushLogs(), metrics?.shutdown()]), STOP_FLUSH_MS);
    this.encoder = null;
    this.logExporter = null;
    this.flowMetrics = null;
    this.meterProvider = null;
    this.metricTransport = null;
    this.closed = true;
    const left = this.inFlight;
    if (left > 0) {
      this.count('shutdown', left);
      this.failed += left;
    }
    await settleWithin(exporter?.shutdown(), STOP_FLUSH_MS);
  }

  losses(): LossCount[] {
    return [...this.lost].map(([reason, count]) => ({ stage: `sink:${this.name}`, reason, count }));
  }

  /** Sends the request being filled and waits until every request settled, at most the export timeout (+5 s). */
  private async flushLogs(): Promise<void> {
    this.sendBatch();
    if (this.exporting === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, (this.options.timeoutMs ?? 10_000) + 5_000); }),
    ]);
    clearTimeout(timer);
  }

  private sendBatch(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.encoder?.take();
    if (batch === undefined) return;
    if (this.batchLoss.length > 0) {
      batch.loss = this.batchLoss;
      this.batchLoss = [];
    }
    this.waiting.push(batch);
    this.exportWaiting();
  }

  private exportWaiting(): void {
    const exporter = this.logExporter;
    while (exporter && this.exporting < CONCURRENT_EXPORTS && this.waiting.length > 0) {
      const batch = this.waiting.shift()!;
      this.exporting++;
      const settle = (result: ExportResult) => {
        this.exporting--;
        if (!this.closed) this.onExport(batch, result);
        this.exportWaiting();
        if (this.exporting === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      };
      if (!this.gzipsLogs) {
        exporter.export(batch, (result) => {
          this.encoder?.release(batch);
          settle(result);
        });
        continue;
      }
      gzipLogBatch(batch, (err, gzipped) => {
        this.encoder?.release(batch);
        if (err) settle({ code: ExportResultCode.FAILED, error: err });
        else exporter.export(gzipped, settle);
      });
    }
  }

  /** Log requests are gzipped by the sink (otlp-log-exporter.ts says why), not by the transport. */
  private get gzipsLogs(): boolean {
    return this.protocol !== 'grpc' && (this.options.compression ?? 'gzip') === 'gzip';
  }

  private onExport(batch: EncodedLogBatch, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.exported += batch.count;
      this.settled('logs', result);
      return;
    }
    // The LOSS records stay in flight, for the next export after the collector accepts one again.
    const kept = Math.min(batch.loss?.length ?? 0, LOSS_RESERVE_RECORDS - this.retainedLoss.length);
    if (kept > 0) this.retainedLoss.push(...batch.loss!.slice(0, kept));
    const count = batch.count - kept;
    this.failed += count;
    this.count('export_failed', count);
    // One warning when the collector stops accepting (settled()) and one line when it accepts again, with
    // the sum: a line per failed request would flood the log for as long as an outage lasts.
    this.lostWhileFailing += count;
    this.settled('logs', result);
  }

  /** The LOSS records of failed exports, into the next request: the collector accepts logs again. */
  private resendLoss(): void {
    if (this.retainedLoss.length === 0 || !this.encoder) return;
    const records = this.retainedLoss;
    this.retainedLoss = [];
    this.addLogs(this.encoder, records);
  }

  private onMetricExport(result: ExportResult): void {
    this.settled('metrics', result);
    if (result.code === ExportResultCode.SUCCESS) return;
    this.metricExportFailures++;
    this.options.logger?.warn({ err: result.error?.message }, `${this.name} sink: metric export to ${this.options.endpoint} failed`);
  }

  /** The enabled signals, each sent to its own path (HTTP) or service (gRPC). */
  private signals(): Signal[] {
    return [...(this.options.logs !== false ? ['logs' as const] : []), ...(this.options.metrics !== false ? ['metrics' as const] : [])];
  }

  /** Where these signals' exports go, as the user can check it. */
  private targetOf(signals: Signal[]): string {
    return this.protocol === 'grpc'
      ? `${this.base} (grpc, ${signals.join(' and ')})`
      : `${signals.map((signal) => `${this.base}/v1/${signal}`).join(' and ')} (http/protobuf)`;
  }

  /** An export request without data: settles as a real one would (the transport's retries and timeout included). */
  private emptyExport(signal: Signal, logs = this.logExporter, metrics = this.metricTransport): Promise<ExportResult> {
    return new Promise((resolve) => {
      if (signal === 'logs') logs!.export(this.gzipsLogs ? EMPTY_GZIPPED_LOG_REQUEST : EMPTY_LOG_REQUEST, resolve);
      else metrics!.export(this.emptyMetrics!, resolve);
    });
  }

  /** Asks the collector about each signal that had no export for HEALTH_INTERVAL_MS: a failing one, or the first one when idle. */
  private checkHealth(): void {
    if (this.probing) return;
    const now = Date.now();
    const signals = this.signals().filter((signal, i) => {
      const h = this.health[signal];
      return now - h.settledAt >= HEALTH_INTERVAL_MS && (!h.ok || i === 0);
    });
    if (signals.length === 0) return;
    this.probing = true;
    void Promise.all(signals.map(async (signal) => this.settled(signal, await this.emptyExport(signal))))
      .finally(() => { this.probing = false; });
  }

  private settled(signal: Signal, result: ExportResult): void {
    if (this.closed) return;
    const h = this.health[signal];
    h.settledAt = Date.now();
    const ok = result.code === ExportResultCode.SUCCESS;
    if (ok === h.ok) return;
    h.ok = ok;
    if (ok) {
      if (signal === 'logs') this.resendLoss();
      const lost = signal === 'logs' ? { lostRecords: this.lostWhileFailing } : {};
      if (signal === 'logs') this.lostWhileFailing = 0;
      this.options.logger?.info(lost, `${this.name} sink: ${this.targetOf([signal])} accepts exports again`);
    } else {
      const counted = signal === 'logs' ? `; log records of failed exports are counted as lost (sink:${this.name}/export_failed)` : '';
      this.options.logger?.warn(
        { err: describeExportError(result.error, this.protocol) },
        `${this.name} sink: ${this.targetOf([signal])} does not accept exports; not ready until one succeeds${counted}`,
      );
    }
  }

  private count(reason: string, n: number): void {
    this.lost.set(reason, (this.lost.get(reason) ?? 0) + n);
  }

  private exporterConfig(tls: TlsMaterial | undefined, path: string, timeoutMillis: number) {
    const o = this.options;
    const base = this.base;
    const compression = (o.compression ?? 'gzip') === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE;
    return {
      grpc: {
        url: base,
        credentials: tls || base.startsWith('https:')
          ? grpcCredentials.createSsl(tls?.ca ?? null, tls?.key ?? null, tls?.cert ?? null, { rejectUnauthorized: tls?.rejectUnauthorized ?? true })
          : grpcCredentials.createInsecure(),
        metadata: metadataOf(o.headers ?? {}),
        compression,
        timeoutMillis,
      },
      http: {
        url: `${base}${path}`,
        headers: o.headers ?? {},
        compression,
        timeoutMillis,
        httpAgentOptions: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername, rejectUnauthorized: tls.rejectUnauthorized, keepAlive: true } : { keepAlive: true },
      },
    };
  }

  private createLogExporter(tls: TlsMaterial | undefined, timeoutMs: number): LogBatchExporter {
    const c = this.exporterConfig(tls, '/v1/logs', timeoutMs);
    return this.protocol === 'grpc' ? grpcLogExporter(c.grpc) : httpLogExporter(c.http, this.gzipsLogs);
  }

  private metricExporter(tls: TlsMaterial | undefined, timeoutMs: number): PushMetricExporter {
    const c = this.exporterConfig(tls, '/v1/metrics', timeoutMs);
    const temporality = this.options.metricTemporality === 'cumulative' ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA;
    return this.protocol === 'grpc'
      ? new GrpcMetricExporter({ ...c.grpc, temporalityPreference: temporality })
      : new HttpMetricExporter({ ...c.http, temporalityPreference: temporality });
  }
}

/** Passes metric exports through (temporality and aggregation choices too) and reports how each ended. */
class CountingMetricExporter implements PushMetricExporter {
  constructor(
    private readonly inner: PushMetricExporter,
    private readonly settled: (result: ExportResult) => void,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      this.settled(result);
      resultCallback(result);
    });
  }

  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(type) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(type: InstrumentType): AggregationOption {
    return this.inner.selectAggregation?.(type) ?? { type: AggregationType.DEFAULT };
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/** An export error as a user can act on it: the transport's message, what it means here, and what to check. */
function describeExportError(error: Error | undefined, protocol: OtlpProtocol): string {
  if (!error) return 'the export failed';
  const code = (error as { code?: unknown }).code;
  // gRPC appends an empty "Resolution note:", OpenSSL a newline.
  const text = error.message.replace(/\.?\s*Resolution note:\s*$/, '').trim();
  const message = typeof code === 'number' && protocol === 'http/protobuf' ? `HTTP ${code} ${text}` : text;
  const hint = exportErrorHint(code, message, protocol);
  return hint ? `${message} (${hint})` : message;
}

function exportErrorHint(code: unknown, message: string, protocol: OtlpProtocol): string | undefined {
  const port = protocol === 'grpc' ? 'its OTLP/gRPC port, 4317 by default' : 'its OTLP/HTTP port, 4318 by default';
  if (code === 'ECONNREFUSED' || message.includes('ECONNREFUSED')) return `nothing listens there: is the collector running, and is this ${port}?`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|EAI_AGAIN|Name resolution failed/.test(message)) return 'the host name does not resolve';
  if (/certificate|SSL|TLS|self.signed|CERT_/i.test(`${String(code)} ${message}`)) {
    return 'TLS failed: check otlp.tls.caFile, otlp.tls.serverName and the client certificate, or use http:// if the receiver has no TLS';
  }
  if (code === 404 || code === 12) {
    return protocol === 'grpc'
      ? 'the server has no such OTLP service: is a pipeline of this signal fed by the otlp receiver, and is this the gRPC port (otlp.protocol http/protobuf for 4318)?'
      : 'nothing serves this path: the endpoint is the base URL (/v1/logs and /v1/metrics are appended), or the collector has no pipeline of this signal fed by the otlp receiver';
  }
  if (code === 401 || code === 403 || code === 16 || code === 7) return 'the collector refused the credentials: check otlp.headers';
  if (code === 4 || /timed out|ETIMEDOUT|Deadline exceeded/i.test(message)) return 'no answer in time';
  // Another HTTP status is the collector's own answer; anything else is most likely the wrong port or protocol.
  if (typeof code === 'number' && protocol === 'http/protobuf') return undefined;
  return `is this ${port}, and does it speak otlp.protocol ${protocol}?`;
}

function metadataOf(headers: Record<string, string>): Metadata {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return metadata;
}

/** For sinks/index.ts: the agent maps config.otlp onto OtlpSinkOptions (src/agent/parts.ts). */
export function otlpSinkFactory(context: SinkFactoryContext): OtlpSink {
  return new OtlpSink(context.settings as unknown as OtlpSinkOptions);
}
