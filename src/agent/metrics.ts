// /metrics: every series reads the agent's status at scrape time, plus
// prom-client's default process metrics (memory, CPU, event loop lag, GC).
import { collectDefaultMetrics, Registry } from 'prom-client';
import { histogramValues, SnapshotMetric, type MetricValue } from './snapshot-metric.js';
import type { AgentIntrospection, AgentStatus } from './status.js';

/**
 * counts[b] holds samples in [2^b, 2^(b+1)) microseconds: cumulative buckets
 * with le = 2^(b+1) µs in seconds, and the count. Without _sum, which Prometheus
 * histogram_quantile does not need and the kernel does not keep.
 */
function rttHistogramValues(name: string, counts: readonly number[]): MetricValue[] {
  const values: MetricValue[] = [];
  let cumulative = 0;
  for (let b = 0; b < counts.length; b++) {
    cumulative += counts[b];
    values.push({ metricName: `${name}_bucket`, labels: { le: 2 ** (b + 1) / 1e6 }, value: cumulative });
  }
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cumulative });
  values.push({ metricName: `${name}_count`, value: cumulative });
  return values;
}

export function createMetricsRegistry(agent: AgentIntrospection): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One status read per scrape, shared by every series of that scrape.
  let cached: { at: number; status: AgentStatus } | undefined;
  const status = () => {
    const now = Date.now();
    if (!cached || now - cached.at > 250) cached = { at: now, status: agent.status() };
    return cached.status;
  };
  const metric = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: (s: AgentStatus) => MetricValue[]) =>
    new SnapshotMetric(name, help, type, () => read(status())).register(registry);

  metric('podflow_probe_events_total', 'Events each probe decoded', 'counter',
    (s) => s.probes.map((p) => ({ labels: { probe: p.probe }, value: p.eventsSeen })));
  metric('podflow_probe_kernel_dropped_total', 'Events the kernel side of a probe could not hand over (ring buffer or map full)', 'counter',
    (s) => s.probes.map((p) => ({ labels: { probe: p.probe }, value: p.eventsDroppedInKernel })));
  metric('podflow_probe_filtered_total', 'Events a probe\'s kernel filter left out (policy, not loss), e.g. drop reasons denied, drops of non-IP skbs', 'counter',
    (s) => s.probes.flatMap((p) => (p.eventsFiltered ?? []).map((f) => ({ labels: { probe: p.probe, reason: f.reason }, value: f.count }))));
  metric('podflow_probe_attached', '1 when the probe attached a hook, labelled with the hook in use', 'gauge',
    (s) => s.probes.map((p) => ({ labels: { probe: p.probe, hook: p.hook ?? 'none' }, value: p.attached ? 1 : 0 })));
  metric('podflow_stage_received_total', 'Records each pipeline stage received', 'counter',
    (s) => s.pipeline.stages.map((st) => ({ labels: { stage: st.stage }, value: st.received })));
  metric('podflow_stage_emitted_total', 'Records each pipeline stage passed on', 'counter',
    (s) => s.pipeline.stages.map((st) => ({ labels: { stage: st.stage }, value: st.emitted })));
  metric('podflow_stage_failed_total', 'Records a stage passed on without its work because it threw (enrich: sent unenriched)', 'counter',
    (s) => s.pipeline.stages.map((st) => ({ labels: { stage: st.stage }, value: st.failed })));
  metric('podflow_stage_dropped_total', 'Records each pipeline stage dropped, by reason', 'counter',
    (s) => s.pipeline.stages.flatMap((st) => Object.entries(st.dropped).map(([reason, value]) => ({ labels: { stage: st.stage, reason }, value }))));
  metric('podflow_loss_total', 'Every counted loss (kernel, decode, pipeline stages, sinks), by stage and reason', 'counter',
    (s) => s.pipeline.losses.map((l) => ({ labels: { stage: l.stage, reason: l.reason }, value: l.count })));
  metric('podflow_queue_depth', 'Records waiting in each bounded queue', 'gauge',
    (s) => s.pipeline.queues.map((q) => ({ labels: { queue: q.name }, value: q.depth })));
  metric('podflow_queue_capacity', 'Capacity of each bounded queue', 'gauge',
    (s) => s.pipeline.queues.map((q) => ({ labels: { queue: q.name }, value: q.capacity })));
  metric('podflow_queue_held_bytes', 'Estimated bytes of the records each queue holds (sink queues with their in-flight writes), counted against memoryLimit', 'gauge',
    (s) => s.pipeline.queues.map((q) => ({ labels: { queue: q.name }, value: q.bytes ?? 0 })));
  metric('podflow_tcp_srtt_seconds', 'Smoothed RTT of TCP sockets as the kernel updates it (rtt probe; log2 buckets; no _sum: the kernel keeps none)', 'histogram',
    (s) => (s.rtt ? rttHistogramValues('podflow_tcp_srtt_seconds', s.rtt.counts) : []));
  metric('podflow_sink_write_duration_seconds', 'Time a sink took to settle one write', 'histogram',
    (s) => s.pipeline.sinks.flatMap((k) => histogramValues('podflow_sink_write_duration_seconds', { sink: k.name }, k.latency)));
  metric('podflow_sink_write_errors_total', 'Sink writes that failed (their records are counted as lost)', 'counter',
    (s) => s.pipeline.sinks.map((k) => ({ labels: { sink: k.name }, value: k.writeErrors })));
  metric('podflow_sink_records_written_total', 'Records each sink accepted', 'counter',
    (s) => s.pipeline.sinks.map((k) => ({ labels: { sink: k.name }, value: k.written })));
  metric('podflow_sink_ready', '1 while the sink can deliver', 'gauge',
    (s) => s.pipeline.sinks.map((k) => ({ labels: { sink: k.name }, value: k.ready ? 1 : 0 })));
  metric('podflow_enrich_cache_entries', 'Entries in each enrichment cache', 'gauge',
    (s) => Object.entries(s.enrichment.cacheSizes).map(([cache, value]) => ({ labels: { cache }, value })));
  // Series only while a metadata file is watched: no file, no reloads to count.
  const sourceCounter = (key: string) => (s: AgentStatus): MetricValue[] => {
    const value = s.enrichment.sources?.[key];
    return value === undefined ? [] : [{ value }];
  };
  metric('podflow_enrich_file_reloads_total', 'Changed versions of --metadata-file loaded after the start', 'counter',
    sourceCounter('file_reloads'));
  metric('podflow_enrich_file_reload_errors_total', 'Reloads of --metadata-file that failed (unreadable or bad; the last good version stays in force), a bad version counted once however often it is read', 'counter',
    sourceCounter('file_reload_errors'));
  metric('podflow_observe_clients', 'Connected `podflow observe` clients', 'gauge',
    (s) => [{ value: s.observe.clients }]);
  metric('podflow_observe_dropped_total', 'Records slow observe clients could not take', 'counter',
    (s) => [{ value: s.observe.dropped }]);
  metric('podflow_observe_refused_total', 'Observe socket connections refused because queues.observeClients were open', 'counter',
    (s) => [{ value: s.observe.refused }]);
  metric('podflow_ready', '1 while /readyz answers 200: probes attached, enrichment synced, every sink delivering (connected, its last write not failed)', 'gauge',
    (s) => [{ value: s.agent.readiness.ready ? 1 : 0 }]);
  return registry;
}
