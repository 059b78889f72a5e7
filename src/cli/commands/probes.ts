// `podflow probes`: which hook each probe uses on this kernel, and why the
// preferred ones were skipped. Asks the running agent; without one, runs the
// capability check itself (load and attach each probe, then detach).
import { Command } from 'commander';
import type { PodflowConfig } from '../../config/index.js';
import type { ProbeStatus } from '../../probes/types.js';
import { createLogger } from '../../agent/logger.js';
import { fetchProbes, NoAgentError } from '../agent-client.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';
import { tableWithNotes } from '../table.js';

export function probesCommand(): Command {
  const command = new Command('probes')
    .description('show the hook each probe uses on this kernel and why preferred hooks were skipped')
    .option('--json', 'print the probe states as JSON');
  addConfigFlags(command, ['--observe-socket', '--probes', '--interfaces']);
  return command.action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(command);
    let probes: ProbeStatus[];
    let source: string;
    try {
      probes = await fetchProbes(config.observeSocket);
      source = 'from the running agent';
    } catch (err) {
      if (!(err instanceof NoAgentError)) throw err;
      probes = await checkProbesHere(config);
      source = 'checked just now: no agent is running';
    }
    if (opts.json) {
      process.stdout.write(JSON.stringify(probes, null, 2) + '\n');
      return;
    }
    process.stdout.write(`${source}\n` + tableWithNotes(['PROBE', 'HOOK', 'STATE'],
      probes.map((p) => [p.probe, p.hook ?? '-', p.attached ? 'attached' : 'NOT ATTACHED']),
      probes.map(probeNotes)) + '\n');
  });
}

/** Why the preferred hooks were skipped, and what the probe's periodic work last failed at (an interface not found, say). */
function probeNotes(p: ProbeStatus): string[] {
  return [...p.skipped.map((s) => `skipped ${s.hook}: ${s.reason}`), ...(p.lastError ? [`last error: ${p.lastError}`] : [])];
}

async function checkProbesHere(config: PodflowConfig): Promise<ProbeStatus[]> {
  // A dry run of the attach plan: records produced meanwhile are not part of any stream.
  const [{ withUnavailableProbes }, parts, { requireBpfCapability }] = await Promise.all([
    import('../../agent/agent.js'), import('../../agent/parts.js'), import('../../agent/preflight.js'),
  ]);
  requireBpfCapability(config.probes);
  const manager = parts.createProbeManager(config, { ingest: () => {} }, parts.findCgroup2Root(), createLogger(config.logLevel, config.nodeName));
  try {
    await manager.start();
    return withUnavailableProbes(config.probes, manager.status());
  } finally {
    await manager.stop();
  }
}
