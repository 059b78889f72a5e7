// The `podflow` command. Every failure ends in one message on stderr and an
// exit code from exit-codes.ts; --help and --version exit 0.
import { Command, CommanderError } from 'commander';
import { UnavailableError } from '../agent/errors.js';
import { capabilitiesFor, hookKindsFor } from '../capabilities.js';
import { VERSION } from '../agent/version.js';
import { ConfigError } from '../config/errors.js';
import { FilterError } from '../pipeline/filter.js';
import { NoAgentError } from './agent-client.js';
import { configCommand } from './commands/config-check.js';
import { observeCommand } from './commands/observe.js';
import { probesCommand } from './commands/probes.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { EXIT } from './exit-codes.js';
import { onStdoutError } from './lifecycle.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success (also a clean stop on SIGTERM/SIGINT or after --duration)
  1  runtime failure (a sink could not connect, a probe failed, ...)
  2  bad command line or configuration (nothing was started)
  3  no running agent (status)
  4  a needed part is unavailable here (not root, no BPF, not in this build)`;

function buildProgram(): Command {
  const program = new Command('podflow')
    .description('eBPF flow exporter for Kubernetes nodes: kernel flows, TCP, DNS and HTTP records to Kafka, OpenTelemetry, files and stdout')
    .version(VERSION, '-V, --version', 'print the version')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run with --help for usage)');
  for (const command of [runCommand(), observeCommand(), probesCommand(), statusCommand(), configCommand()]) program.addCommand(command);
  // Usage errors of every subcommand exit with EXIT.USAGE instead of commander's 1.
  const exitOverride = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

function exitCodeOf(err: unknown): { code: number; message?: string } {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help/version text). Help shown
    // because a subcommand is missing (`podflow config`) is a usage error (exitCode 1).
    const clean = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || (err.code === 'commander.help' && err.exitCode === 0);
    return { code: clean ? EXIT.OK : EXIT.USAGE };
  }
  if (err instanceof ConfigError || err instanceof FilterError) return { code: EXIT.USAGE, message: err.message };
  if (err instanceof NoAgentError) return { code: EXIT.NO_AGENT, message: err.message };
  if (err instanceof UnavailableError) return { code: EXIT.UNAVAILABLE, message: err.message };
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EPERM' || e?.code === 'EACCES') {
    return { code: EXIT.UNAVAILABLE, message: `${e.message}\npodflow needs root (or ${capabilitiesFor(hookKindsFor()).join(', ')}) to load its probes` };
  }
  return { code: EXIT.FAILURE, message: e instanceof Error ? e.message : String(err) };
}

async function main(argv: readonly string[]): Promise<number> {
  process.stdout.on('error', onStdoutError);
  const program = buildProgram();
  if (argv.length <= 2) {
    program.outputHelp();
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return EXIT.OK;
  } catch (err) {
    const { code, message } = exitCodeOf(err);
    if (message) process.stderr.write(`podflow: ${message}\n`);
    return code;
  }
}

const code = await main(process.argv);
// Lingering handles (sockets of a stopped sink, timers) must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
