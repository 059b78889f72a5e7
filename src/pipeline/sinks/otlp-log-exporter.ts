// Sends already-encoded ExportLogsServiceRequests (otlp-log-encoder.ts) with
// the OpenTelemetry JS SDK's own OTLP transports. The SDK's log exporters
// (@opentelemetry/exporter-logs-otlp-grpc and -proto) are exactly these export
// delegates with the SDK's log serializer; here the delegate gets a serializer
// that passes our bytes through, so gRPC and HTTP/protobuf, gzip, TLS,
// headers/metadata, timeouts, the HTTP retry with backoff, the concurrency
// bound and the environment's OTEL_EXPORTER_OTLP_* settings all stay the SDK's.
// The delegate layer is marked experimental by the SDK: the otlp-*-base
// packages are pinned to one minor version in package.json.
//
// One exception: over HTTP, requests are gzipped here (gzipLogBatch), not by
// the transport. Its gzip stream has no level setting and runs zlib's default
// (6), which took 4.8 µs per log record of a 4,096-record request against
// 1.2 µs at level 1 (47x against 33x smaller; bench/otlp.bench.ts) and was the
// largest part of the sink's CPU. gRPC compresses in grpc-js, as before.
import { gzip, gzipSync, constants as zlibConstants } from 'node:zlib';
import { CompressionAlgorithm, OTLPExporterBase, type OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate, type OTLPGRPCExporterConfigNode } from '@opentelemetry/otlp-grpc-exporter-base';
import { ProtobufLogsSerializer, type IExporterMetricsHelper, type ISerializer, type IExportLogsServiceResponse } from '@opentelemetry/otlp-transformer';
import type { EncodedLogBatch } from './otlp-log-encoder.js';

const PASS_THROUGH: ISerializer<EncodedLogBatch, IExportLogsServiceResponse> = {
  serializeRequest: (batch) => batch.bytes,
  deserializeResponse: (data) => ProtobufLogsSerializer.deserializeResponse(data),
};

/** For the exporter's self-observability metrics (off: no meter provider is given). */
const COUNT_RECORDS: IExporterMetricsHelper<EncodedLogBatch> = { name: 'log', countItems: (batch) => batch.count };

export type LogBatchExporter = OTLPExporterBase<EncodedLogBatch>;

/**
 * An ExportLogsServiceRequest without log records (zero bytes in protobuf):
 * the collector answers it as it answers a real request, through the same
 * transport, path, headers and TLS, and passes nothing on to its pipeline.
 */
export const EMPTY_LOG_REQUEST: EncodedLogBatch = { bytes: new Uint8Array(0), count: 0 };
const GZIP_OPTIONS = { level: zlibConstants.Z_BEST_SPEED };
/** EMPTY_LOG_REQUEST for an HTTP exporter that takes gzipped requests. */
export const EMPTY_GZIPPED_LOG_REQUEST: EncodedLogBatch = { bytes: gzipSync(EMPTY_LOG_REQUEST.bytes, GZIP_OPTIONS), count: 0 };

/** The batch's bytes gzipped (on libuv's thread pool), for an exporter made with httpLogExporter(config, true). */
export function gzipLogBatch(batch: EncodedLogBatch, done: (err: Error | null, gzipped: EncodedLogBatch) => void): void {
  gzip(batch.bytes, GZIP_OPTIONS, (err, bytes) => done(err, { bytes, count: batch.count, loss: batch.loss }));
}

export function grpcLogExporter(config: OTLPGRPCExporterConfigNode): LogBatchExporter {
  // The service path and names of @opentelemetry/exporter-logs-otlp-grpc.
  return new OTLPExporterBase(createOtlpGrpcExportDelegate(
    convertLegacyOtlpGrpcOptions(config, 'LOGS'), PASS_THROUGH, 'otlp_grpc_log_exporter', COUNT_RECORDS, undefined,
    'LogsExportService', '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  ));
}

/**
 * config.url is the full URL, `/v1/logs` included. With `gzipped`, every
 * request given to export() must have gone through gzipLogBatch (or be
 * EMPTY_GZIPPED_LOG_REQUEST): they are sent as they are, as gzip content.
 */
export function httpLogExporter(config: OTLPExporterNodeConfigBase & { headers?: Record<string, string> }, gzipped: boolean): LogBatchExporter {
  if (gzipped) {
    config = { ...config, compression: CompressionAlgorithm.NONE, headers: { ...config.headers, 'Content-Encoding': 'gzip' } };
  }
  // As @opentelemetry/exporter-logs-otlp-proto builds its delegate.
  return new OTLPExporterBase(createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(config, 'LOGS', 'v1/logs', { 'Content-Type': 'application/x-protobuf' }),
    PASS_THROUGH, 'otlp_http_log_exporter', COUNT_RECORDS, undefined,
  ));
}
