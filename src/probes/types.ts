// The contract between the probes (kernel side, one folder each) and the agent.
import type { LossCount, RecordIngress } from '../pipeline/types.js';

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
}

export interface ProbeOptions {
  /** Probes to run; default all. */
  probes: readonly ProbeName[];
  /** Interface names for TC/socket probes; empty = every non-loopback interface, including ones that appear later. */
  interfaces: readonly string[];
  /** Flow aggregation timeouts. */
  flowActiveTimeoutMs: number;
  flowIdleTimeoutMs: number;
  /** The node name stamped on records. */
  nodeName: string;
  /** Where decoded records go. */
  ingress: RecordIngress;
}

/** Loads, attaches and runs every enabled probe; stop() detaches everything podflow created. */
export interface ProbeManager {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): ProbeStatus[];
  /** Kernel-side and decode losses per probe and reason, running totals. */
  losses(): LossCount[];
}
