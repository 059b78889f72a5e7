// The command-line flags that set config options. Each maps to one config
// path, so flags, PODFLOW_* variables and YAML keys can never disagree.
import { Option, type Command } from 'commander';
import { flagLayer, loadConfig, type PodflowConfig } from '../config/index.js';

interface ConfigFlag {
  /** commander's flags string. */
  flags: string;
  description: string;
  path: string[];
  repeatable?: boolean;
  choices?: readonly string[];
}

const CONFIG_FLAGS: readonly ConfigFlag[] = [
  { flags: '-o, --output <format>', description: 'stdout record format', path: ['output'], choices: ['human', 'json', 'ocsf'] },
  { flags: '--sink <name>', description: 'sink to deliver records to; repeatable (stdout|file|kafka|otlp)', path: ['sinks'], repeatable: true },
  { flags: '--duration <duration>', description: 'stop cleanly after this long, e.g. 10s', path: ['duration'] },
  { flags: '--interfaces <list>', description: 'comma-separated interfaces for the TC/socket probes (default: all but loopback)', path: ['interfaces'] },
  { flags: '--probes <list>', description: 'comma-separated probes to enable (default: all)', path: ['probes'] },
  { flags: '--dns-ports <list>', description: 'comma-separated UDP/TCP ports the dns probe parses as DNS (at most 4; default 53)', path: ['dns', 'ports'] },
  { flags: '--dns-timeout <duration>', description: 'report a DNS query without response after this long as rcode TIMEOUT, e.g. 5s', path: ['dns', 'timeout'] },
  { flags: '--http-timeout <duration>', description: 'report an HTTP request without response after this long as noResponse TIMEOUT, e.g. 30s', path: ['http', 'timeout'] },
  { flags: '--metrics-addr <host:port>', description: 'address of /metrics, /healthz and /readyz ("off" disables)', path: ['metricsAddr'] },
  { flags: '--metadata-file <file>', description: 'static enrichment metadata (pods, services, networks)', path: ['metadataFile'] },
  { flags: '--file-path <path>', description: 'file sink: path of the current file', path: ['file', 'path'] },
  { flags: '--kafka-brokers <list>', description: 'Kafka sink: comma-separated HOST:PORT bootstrap brokers', path: ['kafka', 'brokers'] },
  { flags: '--kafka-topic <topic>', description: 'Kafka sink: topic', path: ['kafka', 'topic'] },
  { flags: '--otlp-endpoint <url>', description: 'OTLP sink: collector URL', path: ['otlp', 'endpoint'] },
  { flags: '--node-name <name>', description: 'node name stamped on records', path: ['nodeName'] },
  { flags: '--log-level <level>', description: 'log level (logs go to stderr)', path: ['logLevel'], choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
  { flags: '--observe-socket <path>', description: 'unix socket the agent serves `podflow observe`/`status` on', path: ['observeSocket'] },
  { flags: '--shutdown-deadline <duration>', description: 'how long a SIGTERM may take to drain and flush', path: ['shutdownDeadline'] },
];

/** The config flags each command was given, so that a command's own flags (observe's -o) never reach the config. */
const flagsOf = new WeakMap<Command, readonly ConfigFlag[]>();

export const warnOnStderr = (message: string) => process.stderr.write(`podflow: warning: ${message}\n`);

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Adds --config and the given config flags (all when `only` is absent) to a command. */
export function addConfigFlags(command: Command, only?: readonly string[]): Command {
  command.option('--config <file>', 'YAML config file (also PODFLOW_CONFIG)');
  const selected = CONFIG_FLAGS.filter((flag) => !only || only.some((name) => flag.flags.includes(`${name} `)));
  flagsOf.set(command, selected);
  for (const flag of selected) {
    // Flags are validated by the config schema (like YAML and env values); choices only document them.
    const option = new Option(flag.flags, flag.description + (flag.choices ? ` (${flag.choices.join('|')})` : ''));
    if (flag.repeatable) option.argParser(collect);
    command.addOption(option);
  }
  return command;
}

/**
 * The effective configuration: YAML file < PODFLOW_* environment < these flags.
 * `checkFiles` (commands that start probes): the metadata file is read and checked too.
 */
export function configFromFlags(command: Command, { checkFiles = false } = {}): PodflowConfig {
  const opts = command.opts();
  const flags = (flagsOf.get(command) ?? []).map((flag) => {
    const long = /--([a-z-]+)/.exec(flag.flags)![1];
    const key = long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    return { path: flag.path, flag: `--${long}`, value: opts[key] as string | string[] | undefined };
  });
  return loadConfig({ file: opts.config as string | undefined, env: process.env, flags: flagLayer(flags), warn: warnOnStderr, checkFiles });
}
