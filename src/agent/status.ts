// The agent's self-description: what `podflow status` prints, what the observe
// socket answers to {"op":"status"}, and what /metrics and /readyz read.
import type { PipelineSnapshot } from '../pipeline/types.js';
import type { ProbeStatus, RttHistogram } from '../probes/types.js';

export interface Readiness {
  ready: boolean;
  /** Every enabled probe attached a hook. */
  probes: boolean;
  /** The enricher finished its first sync (true without enrichment). */
  enrichment: boolean;
  /** Every sink is connected and its last write did not fail. */
  sinks: boolean;
}

export interface ObserveStats {
  clients: number;
  /** Records a slow observe client could not take (its buffer was full), since start. */
  dropped: number;
  /** Connections refused because queues.observeClients were open, since start. */
  refused: number;
}

export interface AgentStatus {
  agent: {
    version: string;
    nodeName: string;
    pid: number;
    startedAt: string;
    uptimeSeconds: number;
    readiness: Readiness;
  };
  probes: ProbeStatus[];
  pipeline: PipelineSnapshot;
  enrichment: {
    ready: boolean;
    cacheSizes: Record<string, number>;
    /** The metadata sources' running totals, "<source>_<counter>" (MetadataEnricher.sourceStats()): file_reloads, file_reload_errors, kubernetes_<resource>_*. */
    sources?: Record<string, number>;
  };
  observe: ObserveStats;
  /** The rtt probe's smoothed-RTT histogram (running totals); absent unless that probe runs with a kernel hook. */
  rtt?: RttHistogram;
}

/** Read-only access to the running agent's parts, for the HTTP and observe servers. */
export interface AgentIntrospection {
  status(): AgentStatus;
  /** What /readyz answers: cheap, unlike status() it reads no BPF maps. */
  readiness(): Readiness;
  probes(): ProbeStatus[];
}
