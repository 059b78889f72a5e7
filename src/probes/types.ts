// The contract between the probes (kernel side, one folder each) and the agent.
import type { LossCount, RecordIngress } from '../pipeline/types.js';

/** Kernel memory of the flows map unless told otherwise (see flowMapEntries in flows/plan.ts). */
export const DEFAULT_FLOW_MAP_BYTES = 64 * 1024 ** 2;

/** Names of the probes, in the order of ../shared/DESIGN.md's table. */
export const PROBE_NAMES = ['flows', 'tcp', 'retransmit', 'drops', 'rtt', 'dns', 'http', 'process'] as const;
export type ProbeName = (typeof PROBE_NAMES)[number];

/** What `podflow probes` prints for one probe. */
export interface ProbeStatus {
  probe: ProbeName;
  /** The hook in use, e.g. "tc", "tracepoint/sock/inet_sock_set_state"; null when none attached. */
  hook: string | null;
  attached: boolean;
  /** Each hook tried before the chosen one, and why it was skipped. */
  skipped: { hook: string; reason: string }[];
  /** Events the probe decoded since start. */
  eventsSeen: number;
  /** Events the kernel side could not hand over (ring buffer full, map full), since start. */
  eventsDroppedInKernel: number;
  /** Events the probe's kernel filter left out (policy, not loss: configuration, or no flow to report), per reason, since start. */
  eventsFiltered?: { reason: string; count: number }[];
  /** The last error of the probe's periodic work (map drain, interface attach), if any. */
  lastError?: string;
}

/** Smoothed-RTT samples per log2 bucket: counts[b] holds [2^b, 2^(b+1)) microseconds (b = 0 also 0). */
export interface RttHistogram {
  counts: number[];
}

export interface ProbeOptions {
  /** Probes to run; default all. */
  probes: readonly ProbeName[];
  /** Interface names for TC/socket probes; empty = every non-loopback interface, including ones that appear later. */
  interfaces: readonly string[];
  /** Flow aggregation timeouts. */
  flowActiveTimeoutMs: number;
  flowIdleTimeoutMs: number;
  /** Kernel memory of the flows map (pf_flows entries = this / (96 + 64 x possible CPUs) bytes, at most 65,536); default DEFAULT_FLOW_MAP_BYTES. */
  flowKernelMapBytes?: number;
  /** The node name stamped on records. */
  nodeName: string;
  /** Where decoded records go. */
  ingress: RecordIngress;
  /** Directory of the built <probe>.bpf.o objects; default: bpf/build of this package. */
  objectDir?: string;
  /** How often new and removed interfaces are looked for; default 1000 ms. */
  interfacePollMs?: number;
  /** Where the node's interfaces are listed (see InterfaceIndex); default /sys/class/net. */
  interfaceDir?: string;
  /**
   * Which kernel drop reasons become DROP records (names of enum skb_drop_reason without SKB_DROP_REASON_):
   * allow empty = every reason not denied; default deny: NOT_SPECIFIED and QUEUE_PURGE (normal teardown), OTHERHOST (flooded copies).
   */
  dropReasons?: { allow: readonly string[]; deny: readonly string[] };
  /**
   * cgroup v2 mount for sockops and the svc programs; default: findCgroup2Root() (src/enrich/cgroup.ts);
   * null: none (those hooks are skipped). The agent finds it once and passes the same root to createEnricher.
   */
  cgroupRoot?: string | null;
  /** UDP and TCP ports the dns probe recognises DNS on (1 to 4); default [53]. */
  dnsPorts?: readonly number[];
  /** A DNS query without response for this long is reported with rcode TIMEOUT; default 5000. */
  dnsTimeoutMs?: number;
  /** An HTTP request without response for this long is reported with noResponse TIMEOUT; default 30000. */
  httpTimeoutMs?: number;
  /** Where problems of the running probes are logged (pino-compatible); default: not logged, only in status(). */
  log?: ProbeLog;
}

/** The part of a pino logger the probes use. */
export interface ProbeLog {
  warn(fields: object, message: string): void;
}

/** Loads, attaches and runs every enabled probe. */
export interface ProbeManager {
  start(): Promise<void>;
  /**
   * Detaches everything podflow created at once, then resolves once the records the probes had read are
   * in the ingress (a PacedIngress holds the flush of what the flows probe aggregates).
   */
  stop(): Promise<void>;
  status(): ProbeStatus[];
  /** Kernel-side and decode losses per probe and reason, running totals. */
  losses(): LossCount[];
  /** Running totals of the rtt probe's kernel histogram; undefined unless it runs with a kernel hook. */
  rttHistogram(): RttHistogram | undefined;
}
