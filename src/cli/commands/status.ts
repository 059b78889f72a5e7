// `podflow status`: the running agent's probes, per-stage counters and losses, sinks.
import { Command } from 'commander';
import type { AgentStatus } from '../../agent/status.js';
import { fetchStatus } from '../agent-client.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';
import { table, tableWithNotes } from '../table.js';

export function statusCommand(): Command {
  const command = new Command('status')
    .description('show the running agent\'s probes, pipeline counters, losses and sink states')
    .option('--json', 'print the status as JSON');
  addConfigFlags(command, ['--observe-socket']);
  return command.action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(command);
    const status = await fetchStatus(config.observeSocket);
    process.stdout.write(opts.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
  });
}

function formatStatus(s: AgentStatus): string {
  const r = s.agent.readiness;
  const yes = (b: boolean) => (b ? 'yes' : 'NO');
  const out = [
    `podflow ${s.agent.version} on ${s.agent.nodeName} (pid ${s.agent.pid}, up ${s.agent.uptimeSeconds}s)`,
    `ready: ${yes(r.ready)} (probes attached: ${yes(r.probes)}, enrichment synced: ${yes(r.enrichment)}, sinks delivering: ${yes(r.sinks)})`,
    '',
    'PROBES',
    tableWithNotes(['PROBE', 'HOOK', 'EVENTS', 'KERNEL DROPS'],
      s.probes.map((p) => [p.probe, p.attached ? p.hook ?? '' : 'not attached', p.eventsSeen, p.eventsDroppedInKernel]),
      s.probes.map((p) => (p.lastError ? [`last error: ${p.lastError}`] : []))),
    '',
    'PIPELINE',
    table(['STAGE', 'RECEIVED', 'EMITTED', 'DROPPED'], s.pipeline.stages.map((st) => [
      st.stage, st.received, st.emitted, Object.entries(st.dropped).map(([reason, n]) => `${reason}=${n}`).join(' ') || '0',
    ])),
    '',
    'QUEUES',
    table(['QUEUE', 'DEPTH', 'CAPACITY'], s.pipeline.queues.map((q) => [q.name, q.depth, q.capacity])),
    '',
    'SINKS',
    table(['SINK', 'READY', 'WRITTEN', 'ERRORS', 'MEAN LATENCY'], s.pipeline.sinks.map((k) => [
      k.name, yes(k.ready), k.written, k.writeErrors, k.latency.count ? `${((k.latency.sumSeconds / k.latency.count) * 1000).toFixed(1)}ms` : '-',
    ])),
    '',
    'LOSSES',
    s.pipeline.losses.some((l) => l.count > 0)
      ? table(['STAGE', 'REASON', 'COUNT'], s.pipeline.losses.filter((l) => l.count > 0).map((l) => [l.stage, l.reason, l.count]))
      : 'none',
    '',
    `ENRICHMENT synced: ${yes(s.enrichment.ready)}  ${Object.entries(s.enrichment.cacheSizes).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `OBSERVE clients: ${s.observe.clients}, dropped for slow clients: ${s.observe.dropped}, connections refused: ${s.observe.refused}`,
  ];
  return out.join('\n') + '\n';
}
