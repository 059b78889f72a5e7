// The one schema of podflow's configuration. YAML keys, PODFLOW_* variables
// and CLI flags all land here (see load.ts); names are the YAML keys. Values
// with units (durations, sizes) are parsed into milliseconds and bytes.
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_LABEL_ALLOW_LIST } from '../enrich/model.js';
import { compileFilter, FilterError, VERDICTS } from '../pipeline/filter.js';
import { REDACTABLE_FIELDS } from '../pipeline/redactor.js';
import { FILE_FORMATS } from '../pipeline/sinks/file.js';
import { DEFAULT_DENIED_DROP_REASONS } from '../probes/drops/reasons.js';
import { DEFAULT_FLOW_MAP_BYTES, PROBE_NAMES } from '../probes/types.js';
import { isIpOrCidr, parseHostPort } from './addresses.js';
import { parseByteSize, parseDuration } from './units.js';

/**
 * Heap a queued record takes, rounded up: an enriched TCP_CLOSE record measured
 * ~860 bytes on Node 20. Sink queues share record objects, so the bound errs high.
 */
const QUEUED_RECORD_BYTES = 1024;

const DURATION_EXPECTED = 'expected a duration such as "10s", "500ms" or "1m30s"';
const SIZE_EXPECTED = 'expected a size such as "256MiB", "64KiB" or a number of bytes';

/** A duration written like "10s"; parsed into milliseconds. */
const duration = z.string({ error: DURATION_EXPECTED }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.issues.push({ code: 'custom', message: DURATION_EXPECTED, input: text });
    return z.NEVER;
  }
  return ms;
});

/** A duration that must not be zero (a timeout of 0 would report everything at once). */
const positiveDuration = duration.refine((ms) => ms > 0, { error: `${DURATION_EXPECTED}, greater than 0` });

/** A byte size written like "256MiB" (or a plain number of bytes); parsed into bytes. */
const byteSize = z.union([z.number(), z.string()], { error: SIZE_EXPECTED }).transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseByteSize(value);
  if (bytes === undefined || !Number.isInteger(bytes) || bytes <= 0) {
    ctx.issues.push({ code: 'custom', message: `${SIZE_EXPECTED}, greater than 0`, input: value });
    return z.NEVER;
  }
  return bytes;
});

const capacity = z.number({ error: 'expected a whole number greater than 0' })
  .int({ error: 'expected a whole number greater than 0' })
  .positive({ error: 'expected a whole number greater than 0' });
const port = z.number({ error: 'expected a port number 1-65535' }).int().min(1).max(65535, { error: 'expected a port number 1-65535' });
const hostPort = z.string().refine((s) => parseHostPort(s) !== undefined, {
  error: 'expected an address HOST:PORT, e.g. "kafka-0.kafka:9092", "10.0.0.5:9092" or "[fd00::5]:9092"',
});
/** Where the agent listens; port 0 takes any free port (the agent logs the one it got). */
const listenAddress = z.string().refine((s) => parseHostPort(s, { listen: true }) !== undefined, {
  error: 'expected an address HOST:PORT to listen on, e.g. "0.0.0.0:9464", "127.0.0.1:0" (any free port) or "[::]:9464"',
});
const ipOrCidr = z.string().refine(isIpOrCidr, { error: 'expected an IP address or CIDR, e.g. "10.0.0.0/8" or "fd00::/64"', abort: true });
const httpUrl = z.string().refine((s) => {
  if (!URL.canParse(s)) return false;
  const url = new URL(s);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}, { error: 'expected an http:// or https:// URL, e.g. "http://otel-collector:4318"' });
/** A kernel drop reason by name; checked against the running kernel's BTF when the drops probe starts. */
const dropReason = z.string().regex(/^(SKB_DROP_REASON_)?[A-Z][A-Z0-9_]*$/, {
  error: 'expected a drop reason name of enum skb_drop_reason such as "NO_SOCKET" or "SKB_DROP_REASON_TCP_CSUM"',
});
const cidr = z.string().refine((s) => s.includes('/') && isIpOrCidr(s), { error: 'expected a CIDR, e.g. "203.0.113.0/24" or "2001:db8::/32"' });
const fraction = z.number({ error: 'expected a fraction between 0 and 1' }).min(0, { error: 'expected a fraction between 0 and 1' }).max(1, { error: 'expected a fraction between 0 and 1' });
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, { error: 'expected a Kafka topic name (letters, digits, ".", "_", "-")' });
const regex = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, { error: 'expected a valid regular expression' });

// The Kafka and OTLP sink modules load their client libraries, which would
// make every CLI command slow to start; their option lists are repeated here
// and test/unit/config-schema.test.ts holds the two in step.
export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export const KAFKA_ENCODINGS = ['protobuf', 'json', 'ocsf'] as const;
export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf'] as const;
const OUTPUT_FORMATS = ['human', 'json', 'ocsf'] as const;
const SINK_NAMES = ['stdout', 'file', 'kafka', 'otlp'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const RECORD_TYPE_NAMES = ['FLOW', 'TCP_OPEN', 'TCP_CLOSE', 'TCP_FAILED', 'TCP_RESET', 'RETRANSMIT', 'DROP', 'DNS', 'HTTP', 'LOSS'] as const;

const tls = z.strictObject({
  enabled: z.boolean().default(false),
  caFile: z.string().optional(),
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  /** Name to verify the server certificate against, when it differs from the address. */
  serverName: z.string().optional(),
  insecureSkipVerify: z.boolean().default(false),
}).refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
  error: 'expected certFile and keyFile together (client certificate authentication needs both)',
});

const sasl = z.strictObject({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string().min(1),
  password: z.string().optional(),
  /** Read the password from this file (a mounted Secret) instead of the config. */
  passwordFile: z.string().optional(),
}).refine((s) => (s.password === undefined) !== (s.passwordFile === undefined), {
  error: 'expected exactly one of password or passwordFile',
});

/** A list that names each entry at most once; a repeat is reported at its index. */
const eachOnce = <T>(list: z.ZodArray<z.ZodType<T>>, what: string) => list.superRefine((items, ctx) => {
  items.forEach((item, i) => {
    if (items.indexOf(item) < i) ctx.issues.push({ code: 'custom', path: [i], input: item, message: `expected each ${what} once` });
  });
});

/** A list, or one value standing for a list of one (`namespace: default`). */
const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' || typeof v === 'number' ? [v] : v), z.array(item)).optional();
const ipList = listOf(ipOrCidr);
const portList = listOf(z.number({ error: 'expected a port number 0-65535' }).int().min(0).max(65535, { error: 'expected a port number 0-65535' }));
const nameList = listOf(z.string().min(1));
const oneOfAnyCase = (names: readonly string[]) =>
  z.string().refine((v) => names.includes(v.toUpperCase()), { error: `expected one of ${names.join(', ')} (any case)` });

/**
 * One filter with `hubble observe` semantics (src/pipeline/filter.ts): every
 * field set must match (AND), any value of a field may match (OR); plain
 * endpoint fields match either side, the from- and to- forms one side.
 */
export const filterRuleSchema = z.strictObject({
  namespace: nameList, fromNamespace: nameList, toNamespace: nameList,
  pod: nameList, fromPod: nameList, toPod: nameList,
  workload: nameList, fromWorkload: nameList, toWorkload: nameList,
  label: nameList, fromLabel: nameList, toLabel: nameList,
  ip: ipList, fromIp: ipList, toIp: ipList,
  port: portList, fromPort: portList, toPort: portList,
  service: nameList, fromService: nameList, toService: nameList,
  protocol: listOf(oneOfAnyCase(['TCP', 'UDP', 'ICMP', 'ICMPV6', 'SCTP', 'HTTP', 'DNS'])),
  type: listOf(oneOfAnyCase(RECORD_TYPE_NAMES).transform((v) => v.toUpperCase() as (typeof RECORD_TYPE_NAMES)[number])),
  verdict: listOf(oneOfAnyCase(VERDICTS).transform((v) => v.toUpperCase() as (typeof VERDICTS)[number])),
  node: nameList,
}).superRefine((rule, ctx) => {
  // The remaining syntax (label selectors, workload references) is the filter compiler's to judge.
  try {
    compileFilter(rule);
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    ctx.issues.push({ code: 'custom', input: rule, message: `expected a valid filter: ${err.message}` });
  }
});
export type FilterRule = z.infer<typeof filterRuleSchema>;

/** sun_path of struct sockaddr_un holds 108 bytes with the terminating NUL. */
const UNIX_SOCKET_PATH_MAX = 107;

export const configSchema = z.strictObject({
  /** Stamped on every record; on Kubernetes set it from spec.nodeName (downward API). */
  nodeName: z.string().min(1).default(() => hostname()),
  probes: z.array(z.enum(PROBE_NAMES)).min(1, { error: `expected at least 1 probe (of ${PROBE_NAMES.join(', ')})` }).default([...PROBE_NAMES]),
  /** Interfaces for TC/socket probes; empty = every non-loopback interface. */
  interfaces: z.array(z.string().min(1).max(15, { error: 'expected an interface name of at most 15 characters' })).default([]),
  flows: z.strictObject({
    activeTimeout: positiveDuration.default(30_000),
    idleTimeout: positiveDuration.default(15_000),
    /** Kernel memory of the flows map (per-CPU values: its entries shrink as CPUs grow, up to 65,536). */
    kernelMapMemory: byteSize.default(DEFAULT_FLOW_MAP_BYTES),
  }).prefault({}),
  dns: z.strictObject({
    /** UDP and TCP ports parsed as DNS (the kernel side matches at most 4). */
    ports: z.array(port).min(1).max(4, { error: 'expected at most 4 ports (the kernel side matches up to 4)' }).default([53]),
    /** A query without a response for this long is reported with rcode TIMEOUT. */
    timeout: positiveDuration.default(5000),
  }).prefault({}),
  http: z.strictObject({
    /** A request without a response for this long is reported with noResponse TIMEOUT. */
    timeout: positiveDuration.default(30_000),
  }).prefault({}),
  drops: z.strictObject({
    /** Drop reasons that become DROP records; empty = every reason not denied. */
    allowReasons: z.array(dropReason).default([]),
    /** Drop reasons never reported (counted per reason as filtered); default: normal teardown. */
    denyReasons: z.array(dropReason).default([...DEFAULT_DENIED_DROP_REASONS]),
  }).prefault({}),
  queues: z.strictObject({
    /** Records waiting between the probes and the pipeline. */
    ingest: capacity.default(65_536),
    /** Records waiting in front of each sink. */
    sink: capacity.default(16_384),
    /** LOSS records waiting in front of each sink. */
    lossRecords: capacity.default(256),
    /** Records per sink write. */
    sinkBatch: capacity.default(512),
    /** Concurrent writes per sink. */
    sinkInFlight: capacity.default(2),
    /** Bytes buffered per `podflow observe` client before it starts losing records. */
    // At least a socket's write high-water mark, so a full buffer always ends in a 'drain' (and the client's LOSS record).
    observeClientBytes: capacity.min(65_536, { error: 'expected at least 65536 bytes' }).default(1_048_576),
    /** Connections to the observe socket at once (`podflow observe`, `status`, `probes`); more are refused. */
    observeClients: capacity.default(16),
    /** Recent records kept for `podflow observe --last N`; 0 keeps none. */
    observeHistory: z.number({ error: 'expected a whole number >= 0' }).int({ error: 'expected a whole number >= 0' })
      .min(0, { error: 'expected a whole number >= 0' }).default(1000),
  }).prefault({}),
  /** Upper bound for records held in queues; the pipeline sheds beyond it. */
  memoryLimit: byteSize.default(256 * 1024 ** 2),
  /** Encoding of the stdout sink. */
  output: z.enum(OUTPUT_FORMATS).default('human'),
  sinks: eachOnce(z.array(z.enum(SINK_NAMES)).min(1), 'sink').default(['stdout']),
  file: z.strictObject({
    path: z.string().min(1).optional(),
    format: z.enum(FILE_FORMATS).default('json'),
    maxSize: byteSize.default(100 * 1024 ** 2),
    maxFiles: capacity.default(5),
    gzip: z.boolean().default(false),
  }).prefault({}),
  kafka: z.strictObject({
    brokers: z.array(hostPort).default([]),
    topic: topicName.default('podflow.flows'),
    /** Also write each record type to "<topic>.<type>" (e.g. podflow.flows.http). */
    topicPerRecordType: z.boolean().default(false),
    clientId: z.string().min(1).default('podflow'),
    encoding: z.enum(KAFKA_ENCODINGS).default('protobuf'),
    compression: z.enum(KAFKA_COMPRESSIONS).default('zstd'),
    /**
     * A batch is sent once it holds this many bytes, this many records, or waited `linger`.
     * Unset: 4 MiB, or 1 MiB without compression (the sink's default, sized for one request in flight).
     */
    batchSize: byteSize.optional(),
    maxBatchRecords: capacity.default(20_000),
    linger: duration.default(20),
    /** Encoded records held while the brokers are slow or away; beyond it writes fail and count as lost. */
    bufferSize: byteSize.default(64 * 1024 ** 2),
    /** Per request; a slower request is retried. */
    timeout: duration.default(30_000),
    tls: tls.prefault({}),
    sasl: sasl.optional(),
  }).prefault({}),
  otlp: z.strictObject({
    endpoint: httpUrl.optional(),
    /** http/protobuf: the OTel spec's default for exporters, and ~1.5 CPU-µs per record cheaper than grpc-js here (bench/otlp.bench.ts). */
    protocol: z.enum(OTLP_PROTOCOLS).default('http/protobuf'),
    headers: z.record(z.string(), z.string()).default({}),
    compression: z.enum(['gzip', 'none']).default('gzip'),
    /** Each record as a log record. */
    logs: z.boolean().default(true),
    /** Flow, HTTP, DNS and RTT metrics. */
    metrics: z.boolean().default(true),
    metricsInterval: duration.default(60_000),
    metricTemporality: z.enum(['delta', 'cumulative']).default('delta'),
    /** Series per instrument before the rest fold into an overflow series. */
    metricCardinalityLimit: capacity.default(2000),
    /** Log records waiting for export; beyond it writes fail and count as lost. */
    maxQueue: capacity.default(65_536),
    timeout: duration.default(10_000),
    tls: tls.prefault({}),
  }).prefault({}),
  /** k8s.cluster.name on OTLP resources. */
  clusterName: z.string().min(1).optional(),
  filters: z.strictObject({
    /** Keep a record when any rule matches (all records when empty). */
    allow: z.array(filterRuleSchema).default([]),
    /** Then drop it when any rule matches. */
    deny: z.array(filterRuleSchema).default([]),
  }).prefault({}),
  sampling: z.strictObject({
    /** Fraction of records kept, 0-1, for every type (LOSS records are never sampled away). */
    rate: fraction.default(1),
    /** Per record type rates overriding `rate`, e.g. { FLOW: 0.1 }. */
    byType: z.partialRecord(z.enum(RECORD_TYPE_NAMES.filter((t) => t !== 'LOSS') as [string, ...string[]], {
      error: `expected a record type other than LOSS (${RECORD_TYPE_NAMES.filter((t) => t !== 'LOSS').join(', ')})`,
    }), fraction).default({}),
  }).prefault({}),
  redaction: z.strictObject({
    /** Cut "?query" and "#fragment" from http.path (tokens and e-mail addresses live there). */
    httpQueryStrings: z.boolean().default(true),
    /** Replace dns.query with "[redacted]". */
    dnsQueryNames: z.boolean().default(false),
    rules: z.array(z.strictObject({
      field: z.enum(REDACTABLE_FIELDS),
      /** JavaScript regular expression; every match is replaced. */
      pattern: regex,
      /** Replacement text; $1.. refer to capture groups. */
      replacement: z.string().default('[redacted]'),
    })).default([]),
  }).prefault({}),
  /** Names for IP ranges outside the cluster, stamped as endpoint.network. */
  networks: z.array(z.strictObject({ name: z.string().min(1), cidr: cidr })).default([]),
  /** Static enrichment: a YAML/JSON file of pods, services and networks. */
  metadataFile: z.string().min(1).optional(),
  kubernetes: z.strictObject({
    enabled: z.boolean().default(false),
    /** Absent: in-cluster service account. */
    kubeconfig: z.string().min(1).optional(),
    /** Pod labels copied onto records. */
    /** Pod labels copied onto records; "prefix*" matches a prefix. */
    labelAllowList: z.array(z.string().min(1)).default([...DEFAULT_LABEL_ALLOW_LIST]),
    /** How long a deleted pod's IPs still resolve (records of its last connections). */
    deletedPodGrace: duration.default(30_000),
  }).prefault({}),
  /** HOST:PORT of /metrics, /healthz and /readyz; "off" disables the server; port 0 takes a free one. */
  metricsAddr: z.union([z.literal('off'), listenAddress]).default('0.0.0.0:9464'),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  /** Unix socket serving `podflow observe` and `podflow status`. */
  observeSocket: z.string().min(1).refine((path) => Buffer.byteLength(path) <= UNIX_SOCKET_PATH_MAX, {
    // Longer, Node binds a cut-off path and the agent failed with "ENOENT ... chmod", `podflow status` said no agent ran.
    error: `expected a unix socket path of at most ${UNIX_SOCKET_PATH_MAX} bytes (the kernel's limit), e.g. /run/podflow/observe.sock`,
  }).default('/run/podflow/observe.sock'),
  /** How often LOSS records report the losses counted since the previous ones. */
  lossInterval: duration.default(10_000),
  /** How long SIGTERM may take to drain queues and flush sinks. */
  shutdownDeadline: duration.default(10_000),
  /** Stop cleanly after this long (absent: run until signalled). */
  duration: duration.optional(),
}).superRefine((config, ctx) => {
  const need = (sink: (typeof SINK_NAMES)[number], ok: boolean, path: string[], what: string) => {
    if (config.sinks.includes(sink) && !ok) {
      ctx.issues.push({ code: 'custom', path, input: undefined, message: `expected ${what} because sinks includes "${sink}"` });
    }
  };
  need('file', config.file.path !== undefined, ['file', 'path'], 'a file path (--file-path)');
  need('kafka', config.kafka.brokers.length > 0, ['kafka', 'brokers'], 'at least one broker (--kafka-brokers)');
  need('otlp', config.otlp.endpoint !== undefined, ['otlp', 'endpoint'], 'a collector URL (--otlp-endpoint)');
  // Where records wait (the queues) and the observe socket's buffers and --last ring bound the agent's record memory.
  const q = config.queues;
  // A sink's in-flight writes hold records already taken off its queue.
  const queued = q.ingest + (config.sinks.length + 1) * (q.sink + q.lossRecords + q.sinkInFlight * q.sinkBatch);
  // A connection reads at most its request line (64 KiB, not more than observeClientBytes) before its stream buffer fills.
  const observeBytes = q.observeClients * q.observeClientBytes + q.observeHistory * QUEUED_RECORD_BYTES;
  const needed = queued * QUEUED_RECORD_BYTES + observeBytes;
  if (needed > config.memoryLimit) {
    const mib = (n: number) => `${Math.round(n / 1024 ** 2)}MiB`;
    ctx.issues.push({
      code: 'custom', path: ['memoryLimit'], input: config.memoryLimit,
      message: `expected at least ${mib(needed)}: the queues hold up to ${queued} records ` +
        `(queues.ingest + (sinks + observe) x (queues.sink + queues.lossRecords + queues.sinkInFlight x queues.sinkBatch)) at about ${QUEUED_RECORD_BYTES / 1024}KiB each, ` +
        `and podflow observe up to ${mib(observeBytes)} (queues.observeClients x queues.observeClientBytes + queues.observeHistory records); ` +
        'raise memoryLimit or lower the queue capacities',
    });
  }
  if (config.flows.idleTimeout > config.flows.activeTimeout) {
    ctx.issues.push({
      code: 'custom', path: ['flows', 'idleTimeout'], input: config.flows.idleTimeout,
      message: `expected at most flows.activeTimeout (${config.flows.activeTimeout}ms)`,
    });
  }
});

export type PodflowConfig = z.output<typeof configSchema>;
