// `podflow run`: the agent.
import { Command } from 'commander';
import { createLogger } from '../../agent/logger.js';
import { capabilitiesFor, hookKindsFor } from '../../capabilities.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';
import { runUntilStopped, StopSignals } from '../lifecycle.js';

export function runCommand(): Command {
  const command = new Command('run')
    .description('run the agent: attach the probes and stream records to the sinks until SIGTERM/SIGINT or --duration')
    .addHelpText('after', `\nRecords go to stdout (default sink), logs to stderr. Needs root (${capabilitiesFor(hookKindsFor()).join(', ')}).`);
  addConfigFlags(command);
  return command.action(async () => {
    const signals = new StopSignals();
    const config = configFromFlags(command, { checkFiles: true });
    // Loaded only here: the agent's parts pull in the Kafka, OTLP and Kubernetes clients.
    const { Agent } = await import('../../agent/agent.js');
    const logger = createLogger(config.logLevel, config.nodeName);
    await runUntilStopped(new Agent(config, logger), { signals, durationMs: config.duration, shutdownDeadlineMs: config.shutdownDeadline, logger });
  });
}
