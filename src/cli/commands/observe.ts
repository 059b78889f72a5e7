// `podflow observe`: the live record stream of the running agent (its unix
// socket), filtered like `hubble observe`. Without an agent it runs the probes
// itself and prints what they see until Ctrl-C or --duration.
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../../agent/logger.js';
import { OBSERVE_FORMATS, observeEncoder, TABLE_HEADER, type ObserveFormat } from '../../agent/observe-format.js';
import { ConfigError, type PodflowConfig } from '../../config/index.js';
import { FILTER_FIELDS, FilterError, filterSetFromFlags, type FilterFlag, type FilterSet } from '../../pipeline/filter.js';
import { StdoutSink } from '../../pipeline/sinks/stdout.js';
import { NoAgentError, requestAgent } from '../agent-client.js';
import { addConfigFlags, configFromFlags } from '../config-flags.js';
import { runUntilStopped, StopSignals } from '../lifecycle.js';

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const FILTER_FLAGS = FILTER_FIELDS.map(kebab);

export function observeCommand(): Command {
  const command = new Command('observe')
    .description('print the live record stream of the agent on this node (or, with no agent running, of probes started just for this)')
    .addOption(new Option('-o, --output <format>', 'how to print records').choices(OBSERVE_FORMATS).default('human'))
    .option('-f, --follow', 'keep printing new records (the default without --last)')
    .option('--last <n>', 'print the last N records first (without --follow: then exit)', (v) => parseCount(v))
    .option('--not', 'negate the filter flag that follows')
    .addHelpText('after', `
Filters (hubble observe semantics): repeating a flag ORs its values, different
flags AND, --not negates the next flag. Endpoint filters match either side;
the from-/to- forms match one side.
  podflow observe -f --namespace default --not --port 53
  podflow observe --last 100 --type HTTP --to-pod default/backend -o json`);
  for (const flag of FILTER_FLAGS) command.option(`--${flag} <value>`, filterHelp(flag), (v: string, prev: string[] = []) => [...prev, v]);
  addConfigFlags(command, ['--observe-socket', '--probes', '--interfaces', '--metadata-file', '--node-name', '--duration', '--log-level']);
  return command.action(async (opts: Record<string, unknown>) => {
    const config = configFromFlags(command, { checkFiles: true });
    const filter = filterSetFromFlags(filterFlagsInOrder(process.argv));
    const format = opts.output as ObserveFormat;
    const last = opts.last as number | undefined;
    // Like the session without an agent: a live stream unless only the last N were asked for.
    const follow = opts.follow === true || last === undefined;
    if (format === 'table') process.stdout.write(TABLE_HEADER + '\n');
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const timer = config.duration === undefined ? undefined : setTimeout(stop, config.duration);
    try {
      await requestAgent(config.observeSocket, { op: 'observe', last: last ?? 0, follow, filter, format },
        (line) => process.stdout.write(line + '\n'), abort.signal, () => warnSessionFlags(command));
      // A live stream ends only when asked to (Ctrl-C, --duration); otherwise the agent went away.
      if (follow && !abort.signal.aborted) throw new Error(`the agent closed the stream on ${config.observeSocket} (it stopped or restarted); run podflow observe again once it is back`);
      return;
    } catch (err) {
      if (!(err instanceof NoAgentError)) throw err;
    } finally {
      clearTimeout(timer);
      // The session below installs its own signal handling (StopSignals).
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    const session = withObserveFilter(config, filter);
    const signals = new StopSignals();
    const logger = createLogger(config.logLevel, config.nodeName);
    const { Agent } = await import('../../agent/agent.js');
    logger.warn({ socket: config.observeSocket }, 'no agent is running: starting the probes for this observe session');
    // On EPIPE (`podflow observe | head`) StdoutSink fails its writes instead of
    // waiting for a drain that never comes, and main's onStdoutError stops the session.
    const sink = new StdoutSink({
      encode: observeEncoder(format),
      name: 'observe',
      limit: last !== undefined && !follow ? { count: last, reached: () => signals.stop(`printed ${last} records`) } : undefined,
    });
    const agent = new Agent(session, logger, { configuredSinks: false, serve: false, extraSinks: [sink] });
    await runUntilStopped(agent, { signals, durationMs: config.duration, shutdownDeadlineMs: config.shutdownDeadline, logger });
  });
}

const FILTER_VALUES: Record<string, string> = {
  namespace: 'namespace', pod: '[namespace/]pod-name-prefix', workload: '[namespace/][kind/]name', label: 'selector k=v,k!=v,k,!k',
  ip: 'IP or CIDR', port: 'port', service: '[namespace/]name', protocol: 'tcp|udp|icmp|icmpv6|sctp|http|dns',
  type: 'record type, e.g. FLOW, HTTP', verdict: 'FORWARDED|DROPPED', node: 'node name',
};

function filterHelp(flag: string): string {
  const side = flag.startsWith('from-') ? 'source ' : flag.startsWith('to-') ? 'destination ' : '';
  return `${side}${FILTER_VALUES[flag.replace(/^(from|to)-/, '')]} (repeatable)`;
}

/**
 * The session's pipeline filters with the observe filter, so that the shape
 * stage drops (and counts as "filtered") what is not shown. Deny rules add up;
 * allow rules of the config file and of the flags cannot be combined into one
 * filter set (a record would have to match both), so that case is refused
 * before anything starts. A running agent applies its own filters first and
 * the flags to what it sends, so there they combine.
 */
function withObserveFilter(config: PodflowConfig, filter: FilterSet): PodflowConfig {
  const configured = config.filters as FilterSet;
  if (configured.allow.length > 0 && filter.allow.length > 0) {
    // A ConfigError, not commander's InvalidArgumentError: commander prints only the errors of its own parsing.
    throw new ConfigError(['filters.allow (from the config file or PODFLOW_FILTERS_ALLOW) and the filter flags both select records, ' +
      'which with no agent running cannot be combined into the session\'s one filter; expected one of the two ' +
      '(remove filters.allow or the filter flags; flags after --not combine with filters.deny)']);
  }
  return {
    ...config,
    filters: { ...config.filters, allow: filter.allow.length > 0 ? filter.allow : configured.allow, deny: [...configured.deny, ...filter.deny] } as PodflowConfig['filters'],
  };
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number >= 0, got "${value}"`);
  return Number(value);
}

/** Flags that shape a session of observe's own: with an agent running, its configuration applies instead. */
const SESSION_FLAGS = ['probes', 'interfaces', 'metadataFile', 'nodeName'];

function warnSessionFlags(command: Command): void {
  const given = SESSION_FLAGS.filter((key) => command.getOptionValueSource(key) === 'cli');
  if (given.length === 0) return;
  const flags = given.map((key) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
  process.stderr.write(`podflow observe: ${flags} ignored: the agent running on this node streams with its own configuration (they apply when no agent runs)\n`);
}

/**
 * The filter flags in command-line order, each with the --not that preceded it.
 * A --not that negates no filter flag (last, doubled, or before another option)
 * is refused: ignoring it would show exactly the records the user meant to hide.
 */
function filterFlagsInOrder(argv: readonly string[]): FilterFlag[] {
  const flags: FilterFlag[] = [];
  let negate = false;
  const dangling = (what: string) => new FilterError(`--not must be followed by a filter flag (e.g. --not --port 53), got ${what}`);
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--not') {
      if (negate) throw dangling('--not again');
      negate = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(token);
    if (!match || !FILTER_FLAGS.includes(match[1])) {
      if (negate && token.startsWith('-')) throw dangling(token);
      continue;
    }
    const value = match[2] ?? argv[++i];
    flags.push({ flag: match[1], value, negate });
    negate = false;
  }
  if (negate) throw dangling('nothing');
  return flags;
}
