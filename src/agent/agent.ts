// The agent: probes -> pipeline (enrich, shape, encode) -> sinks, plus the
// operations surface (metrics HTTP server, observe socket). start() brings the
// parts up in dependency order; stop() takes them down in reverse, bounded by
// the shutdown deadline, and always detaches the probes.
import type { Logger } from 'pino';
import { parseHostPort } from '../config/addresses.js';
import type { PodflowConfig } from '../config/schema.js';
import { compileFilterSet } from '../pipeline/filter.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { newBootId } from '../pipeline/record-ids.js';
import type { MetadataEnricher } from '../enrich/index.js';
import type { LossSource, Sink } from '../pipeline/types.js';
import type { ProbeManager, ProbeName, ProbeStatus } from '../probes/types.js';
import { OpsHttpServer } from './http-server.js';
import { IngressPacer } from './ingress-pacer.js';
import { createMetricsRegistry } from './metrics.js';
import { ObserveServer } from './observe-server.js';
import { SinkHealth } from './sink-health.js';
import * as parts from './parts.js';
import type { AgentIntrospection, AgentStatus, Readiness } from './status.js';
import { noHookAttachedError, requireBpfCapability } from './preflight.js';
import { VERSION } from './version.js';

/** Of the shutdown deadline, at most this much (and at most half) is kept for the pipeline to deliver what the probes flushed. */
const PIPELINE_SHUTDOWN_RESERVE_MS = 4000;

export interface AgentOptions {
  /** Sinks besides the configured ones (e.g. `podflow observe` printing to the terminal). */
  extraSinks?: Sink[];
  /** False: only extraSinks receive records (standalone `podflow observe`). */
  configuredSinks?: boolean;
  /** False: no metrics server and no observe socket (standalone `podflow observe`). */
  serve?: boolean;
}

export class Agent implements AgentIntrospection {
  private readonly startedAt = new Date();
  private probeManager: ProbeManager | null = null;
  private probesStarted = false;
  private enricher: MetadataEnricher | null = null;
  private pipeline: Pipeline | null = null;
  private pacer: IngressPacer | null = null;
  private sinks: Sink[] = [];
  private readonly sinkHealth: SinkHealth;
  private observe: ObserveServer | null = null;
  private http: OpsHttpServer | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly config: PodflowConfig, private readonly logger: Logger, private readonly options: AgentOptions = {}) {
    this.sinkHealth = new SinkHealth(logger, () => this.stopping !== null);
  }

  /** Brings every part up; rejects (after which stop() cleans up) when one fails or stop() was called meanwhile. */
  start(): Promise<void> {
    this.starting ??= this.startParts();
    return this.starting;
  }

  private checkNotStopping(): void {
    if (this.stopping) throw new Error('stopped during start-up');
  }

  private async startParts(): Promise<void> {
    const { config, logger } = this;
    requireBpfCapability(config.probes);
    const serve = this.options.serve !== false;
    if (serve && config.metricsAddr !== 'off') {
      // First, so /healthz answers (and /readyz says why not ready) while the rest starts.
      this.http = new OpsHttpServer(this, createMetricsRegistry(this));
      const address = await this.http.listen(parseHostPort(config.metricsAddr, { listen: true })!);
      this.checkNotStopping();
      logger.info({ address }, 'serving /metrics, /healthz, /readyz');
    }
    if (serve) {
      this.observe = new ObserveServer({
        socketPath: config.observeSocket,
        clientBufferBytes: config.queues.observeClientBytes,
        maxConnections: config.queues.observeClients,
        historySize: config.queues.observeHistory,
        agent: this,
        compileFilter: (filter) => compileFilterSet({ allow: filter.allow ?? [], deny: filter.deny ?? [] }, 'observe filter'),
        logger,
      });
      await this.observe.listen();
      this.checkNotStopping();
      logger.info({ socket: config.observeSocket }, 'serving podflow observe/status');
    }
    // In every record id, and the OTLP resource's service.instance.id: one agent run.
    const bootId = newBootId();
    this.sinks = [
      ...(this.options.configuredSinks === false ? [] : await parts.createSinks(config, logger, bootId)),
      ...(this.observe ? [this.observe] : []),
      ...(this.options.extraSinks ?? []),
    ];
    // One cgroup v2 root for the enricher's container resolution and the probes' cgroup hooks.
    const cgroupRoot = parts.findCgroup2Root();
    this.enricher = await parts.createEnricher(config, cgroupRoot, logger);
    this.checkNotStopping();
    this.pipeline = parts.createPipeline(config, {
      sinks: this.sinks,
      bootId,
      enricher: this.enricher,
      // The probe manager exists only once the pipeline (its ingress) does.
      lossSources: [{ losses: () => this.probeManager?.losses() ?? [] }, ...this.sinks.filter(isLossSource)],
      onSinkWrite: this.sinkHealth.onWrite,
    }, logger);
    // Connects every sink.
    await this.pipeline.start();
    this.checkNotStopping();
    logger.info({ sinks: this.sinks.map((s) => s.name) }, 'sinks connected');
    await this.enricher.start();
    this.checkNotStopping();
    // The flows probe hands its bursts (expiry, shutdown flush) over as the pipeline has room.
    this.pacer = new IngressPacer(this.pipeline);
    this.pipeline.addLossSource(this.pacer);
    this.probeManager = parts.createProbeManager(config, this.pacer, cgroupRoot, logger);
    await this.probeManager.start();
    this.probesStarted = true;
    const probes = this.probes();
    for (const p of probes) {
      if (p.attached) logger.info({ probe: p.probe, hook: p.hook, skipped: p.skipped }, 'probe attached');
      else logger.warn({ probe: p.probe, skipped: p.skipped }, 'probe could not attach any hook');
    }
    if (!probes.some((p) => p.attached)) throw noHookAttachedError(config.probes, probes);
  }

  /** Idempotent; resolves once everything podflow created is gone. Never rejects. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { logger } = this;
    const deadline = Date.now() + this.config.shutdownDeadline;
    if (this.starting) {
      // Let a start-up in progress reach its next step (it then rejects), but not past the deadline.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.starting.catch(() => {}), new Promise((r) => { timer = setTimeout(r, this.config.shutdownDeadline); })]);
      clearTimeout(timer);
    }
    const step = async (what: string, action: (() => Promise<void>) | undefined) => {
      if (!action) return;
      try {
        await action();
      } catch (err) {
        logger.error({ err }, `shutdown: ${what} failed`);
      }
    };
    // What the probes read before they detached, and then what they still hold (the flow table), goes
    // in as the sinks make room, leaving the pipeline part of the deadline to deliver it; what is
    // left then is counted, and what comes later is counted by the pipeline (ingest/stopped).
    const producersEnd = deadline - Math.min(this.config.shutdownDeadline / 2, PIPELINE_SHUTDOWN_RESERVE_MS);
    // Probes first: the kernel stops producing, and detaching must happen whatever else fails.
    await step('detaching probes', this.probeManager ? () => untilDeadline(this.probeManager!.stop(), producersEnd) : undefined);
    await step('flushing the probes', this.pacer ? () => this.pacer!.settle(producersEnd) : undefined);
    // Drains the queues into the sinks, then flushes and stops them.
    await step('draining the pipeline', this.pipeline ? async () => {
      const report = await this.pipeline!.stop(Math.max(0, deadline - Date.now()));
      const losses = this.pipeline!.snapshot().losses.filter((l) => l.count > 0);
      if (report.sinkErrors.length) logger.error({ sinkErrors: report.sinkErrors }, 'sinks did not flush cleanly');
      logger.info({ undrained: report.undrained, losses }, 'pipeline drained');
    } : undefined);
    // Already stopped as a sink when the pipeline ran; not when start-up failed before it.
    await step('closing the observe socket', this.observe ? () => this.observe!.stop() : undefined);
    await step('stopping enrichment', this.enricher ? () => this.enricher!.stop() : undefined);
    await step('closing the metrics server', this.http ? () => this.http!.close() : undefined);
    logger.info('agent stopped');
  }

  probes(): ProbeStatus[] {
    return this.probesStarted ? withUnavailableProbes(this.config.probes, this.probeManager!.status()) : [];
  }

  readiness(): Readiness {
    const probes = this.probesStarted && this.probes().every((p) => p.attached);
    const enrichment = this.enricher?.ready ?? true;
    const sinks = this.sinks.length > 0 && this.sinks.every((s) => this.sinkDelivers(s.name, s.ready));
    return { ready: probes && enrichment && sinks && this.stopping === null, probes, enrichment, sinks };
  }

  /** A sink delivers when it says it can and its last write did not fail. */
  private sinkDelivers(name: string, ready: boolean): boolean {
    return ready && !this.sinkHealth.failing(name);
  }

  status(): AgentStatus {
    const pipeline = this.pipeline?.snapshot();
    if (pipeline) pipeline.sinks = pipeline.sinks.map((k) => ({ ...k, ready: this.sinkDelivers(k.name, k.ready) }));
    return {
      agent: {
        version: VERSION,
        nodeName: this.config.nodeName,
        pid: process.pid,
        startedAt: this.startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
        readiness: this.readiness(),
      },
      probes: this.probes(),
      pipeline: pipeline ?? { stages: [], queues: [], sinks: [], losses: this.probeManager?.losses() ?? [] },
      enrichment: { ready: this.enricher?.ready ?? true, cacheSizes: this.enricher?.cacheSizes() ?? {}, sources: this.enricher?.sourceStats() ?? {} },
      observe: this.observe?.stats() ?? { clients: 0, dropped: 0, refused: 0 },
      rtt: this.probesStarted ? this.probeManager!.rttHistogram() : undefined,
    };
  }
}

/** Every enabled probe: one the probe manager does not run is reported as not attached, with the reason. */
export function withUnavailableProbes(enabled: readonly ProbeName[], running: ProbeStatus[]): ProbeStatus[] {
  const missing = enabled.filter((name) => !running.some((p) => p.probe === name)).map((probe): ProbeStatus => ({
    probe, hook: null, attached: false, eventsSeen: 0, eventsDroppedInKernel: 0,
    skipped: [{ hook: '-', reason: 'this probe is not available in this build of podflow' }],
  }));
  return [...running, ...missing];
}

/** Resolves when `work` settles (rejecting with it), or at `end` (Date.now() ms) if that comes first. */
async function untilDeadline(work: Promise<void>, end: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise((r) => { timer = setTimeout(r, Math.max(0, end - Date.now())); })]);
  } finally {
    clearTimeout(timer);
  }
}

const isLossSource = (sink: Sink): sink is Sink & LossSource => typeof (sink as Partial<LossSource>).losses === 'function';
