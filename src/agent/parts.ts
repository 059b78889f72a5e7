// The real implementations the agent composes: probes, enrichment, pipeline
// and sinks, each built from the validated config. Kept apart from agent.ts
// so the composition reads as a sequence of steps.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { PodflowConfig } from '../config/schema.js';
import { createEnricher as createMetadataEnricher, type MetadataEnricher } from '../enrich/index.js';
import type { FilterSet } from '../pipeline/filter.js';
import { Pipeline, type PipelineOptions } from '../pipeline/pipeline.js';
import type { SamplingRates } from '../pipeline/sampler.js';
import { createSink, loadSinks } from '../pipeline/sinks/index.js';
import type { KafkaSinkOptions } from '../pipeline/sinks/kafka-sink.js';
import type { TlsFileOptions } from '../pipeline/sinks/kafka-tls.js';
import type { OtlpSinkOptions } from '../pipeline/sinks/otlp-sink.js';
import type { Enricher, LossSource, RecordIngress, RecordTypeName, Sink } from '../pipeline/types.js';
import { createProbeManager as createCoreProbeManager } from '../probes/index.js';
import type { ProbeManager } from '../probes/types.js';
import { routeLibbpfLog, whileTryingHooks } from './libbpf-log.js';
import { VERSION } from './version.js';

export { findCgroup2Root } from '../enrich/index.js';

/**
 * `cgroupRoot`: the cgroup v2 mount the agent found once (findCgroup2Root), the
 * same one the enricher scans; null skips the hooks that attach to it.
 * libbpf's messages go to `logger` from here on (see libbpf-log.ts).
 */
export function createProbeManager(config: PodflowConfig, ingress: RecordIngress, cgroupRoot: string | null, logger: Logger): ProbeManager {
  routeLibbpfLog(logger);
  const manager = createCoreProbeManager({
    probes: config.probes,
    interfaces: config.interfaces,
    flowActiveTimeoutMs: config.flows.activeTimeout,
    flowIdleTimeoutMs: config.flows.idleTimeout,
    flowKernelMapBytes: config.flows.kernelMapMemory,
    nodeName: config.nodeName,
    ingress,
    dnsPorts: config.dns.ports,
    dnsTimeoutMs: config.dns.timeout,
    httpTimeoutMs: config.http.timeout,
    dropReasons: { allow: config.drops.allowReasons, deny: config.drops.denyReasons },
    cgroupRoot,
    log: logger.child({ part: 'probes' }),
  });
  const start = manager.start.bind(manager);
  return Object.assign(manager, { start: () => whileTryingHooks(start) });
}

/** Always built: besides the metadata file and Kubernetes, it maps cgroups (under `cgroupRoot`, the probes' too) to containers. */
export function createEnricher(config: PodflowConfig, cgroupRoot: string | null, logger: Logger): Promise<MetadataEnricher> {
  return createMetadataEnricher({
    cgroupRoot,
    metadataFile: config.metadataFile,
    kubernetes: config.kubernetes.enabled ? { kubeconfig: config.kubernetes.kubeconfig } : false,
    labelAllowList: config.kubernetes.labelAllowList,
    deletedPodGraceMs: config.kubernetes.deletedPodGrace,
    networks: config.networks,
    log: logger.child({ part: 'enrich' }),
  });
}

const tlsOptions = (t: PodflowConfig['kafka']['tls']): TlsFileOptions | undefined =>
  (t.enabled ? { caFile: t.caFile, certFile: t.certFile, keyFile: t.keyFile, serverName: t.serverName, insecureSkipVerify: t.insecureSkipVerify } : undefined);

/** A secret from a file (a mounted Secret), without the trailing newline editors add. */
function readSecret(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError([`${option} = ${JSON.stringify(path)}: cannot read it (${(err as Error).message}); expected a readable file`]);
  }
}

function kafkaSettings(config: PodflowConfig, logger: Logger): KafkaSinkOptions {
  const k = config.kafka;
  return {
    brokers: k.brokers, topic: k.topic, topicPerRecordType: k.topicPerRecordType, clientId: k.clientId,
    encoding: k.encoding, compression: k.compression, batchBytes: k.batchSize, maxBatchRecords: k.maxBatchRecords,
    lingerMs: k.linger, bufferBytes: k.bufferSize, requestTimeoutMs: k.timeout, tls: tlsOptions(k.tls),
    sasl: k.sasl && { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password ?? readSecret(k.sasl.passwordFile!, 'kafka.sasl.passwordFile') },
    productVersion: VERSION, logger: logger.child({ sink: 'kafka' }),
  };
}

function otlpSettings(config: PodflowConfig, logger: Logger, bootId: string): OtlpSinkOptions {
  const o = config.otlp;
  return {
    endpoint: o.endpoint!, protocol: o.protocol, headers: o.headers, compression: o.compression, tls: tlsOptions(o.tls),
    timeoutMs: o.timeout, logs: o.logs, metrics: o.metrics, metricsIntervalMs: o.metricsInterval,
    metricTemporality: o.metricTemporality, metricCardinalityLimit: o.metricCardinalityLimit, maxQueueSize: o.maxQueue,
    nodeName: config.nodeName, clusterName: config.clusterName, agentVersion: VERSION, instanceId: bootId, logger: logger.child({ sink: 'otlp' }),
  };
}

/** Each sink's settings: its part of the configuration, in the shape its factory takes. */
function sinkSettings(name: PodflowConfig['sinks'][number], config: PodflowConfig, logger: Logger, bootId: string): Record<string, unknown> {
  switch (name) {
    case 'kafka': return { ...kafkaSettings(config, logger) };
    case 'otlp': return { ...otlpSettings(config, logger, bootId) };
    case 'stdout': return {};
    case 'file': return { path: config.file.path, format: config.file.format, maxBytes: config.file.maxSize, maxFiles: config.file.maxFiles, gzip: config.file.gzip };
  }
}

/**
 * The configured sinks, built through the sink registry, not yet started (the
 * pipeline starts them); bootId is the pipeline's (OTLP's service.instance.id).
 */
export async function createSinks(config: PodflowConfig, logger: Logger, bootId: string): Promise<Sink[]> {
  await loadSinks(config.sinks);
  return config.sinks.map((name) => createSink(name, {
    output: config.output, productVersion: VERSION, nodeName: config.nodeName, settings: sinkSettings(name, config, logger, bootId),
  }));
}

/** sampling.rate for every type but LOSS, sampling.byType overriding it. */
function samplingRates(sampling: PodflowConfig['sampling']): SamplingRates {
  const rates: Record<string, number> = {};
  if (sampling.rate < 1) for (const type of RECORD_TYPES_SAMPLED) rates[type] = sampling.rate;
  return { ...rates, ...sampling.byType } as SamplingRates;
}
const RECORD_TYPES_SAMPLED: readonly RecordTypeName[] = ['FLOW', 'TCP_OPEN', 'TCP_CLOSE', 'TCP_FAILED', 'TCP_RESET', 'RETRANSMIT', 'DROP', 'DNS', 'HTTP'];

export function createPipeline(config: PodflowConfig, parts: { sinks: Sink[]; enricher: Enricher; lossSources: LossSource[]; bootId: string; onSinkWrite: PipelineOptions['onSinkWrite'] }, logger: Logger): Pipeline {
  return new Pipeline({
    nodeName: config.nodeName,
    bootId: parts.bootId,
    sinks: parts.sinks,
    enricher: parts.enricher,
    logger: logger.child({ part: 'pipeline' }),
    shape: {
      filters: config.filters as FilterSet,
      sampling: samplingRates(config.sampling),
      redaction: config.redaction,
    },
    ingestQueueCapacity: config.queues.ingest,
    sinkQueueCapacity: config.queues.sink,
    lossQueueCapacity: config.queues.lossRecords,
    sinkBatchSize: config.queues.sinkBatch,
    sinkMaxInFlight: config.queues.sinkInFlight,
    memoryLimitBytes: config.memoryLimit,
    lossIntervalMs: config.lossInterval,
    lossSources: parts.lossSources,
    onSinkWrite: parts.onSinkWrite,
  });
}
