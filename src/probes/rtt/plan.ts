// rtt: a histogram of smoothed RTT samples kept in the kernel. sockops RTT
// callbacks where a cgroup v2 root exists, else tcp:tcp_probe, else only the
// srtt that TCP_CLOSE records carry (read from tcp_sock at close).
import type { BpfObject, Link } from 'libbpf-ts';
import type { LossCount } from '../../pipeline/types.js';
import type { RttHistogram } from '../types.js';
import type { ProbeContext } from '../shared/context.js';
import { sumPerCpu } from '../shared/counters.js';
import { attachAll, openProbe, type AttachedProbe, type HookCandidate, type ProbePlan } from '../shared/probe.js';

const BUCKETS = 32;

export class RttProbe implements AttachedProbe {
  readonly hook: string;
  readonly #obj: BpfObject;
  readonly #links: Link[];

  constructor(hook: string, obj: BpfObject, links: Link[]) {
    this.hook = hook;
    this.#obj = obj;
    this.#links = links;
  }

  histogram(): RttHistogram {
    const map = this.#obj.map('pf_rtt_hist');
    const key = Buffer.alloc(4);
    return { counts: Array.from({ length: BUCKETS }, (_, b) => sumPerCpu(map, b, key)) };
  }

  eventsSeen(): number {
    return this.histogram().counts.reduce((a, b) => a + b, 0);
  }

  losses(): LossCount[] {
    return [];
  }

  close(): void {
    for (const l of this.#links) l.destroy();
    this.#obj.close();
  }
}

function sockops(cgroupRoot: string | null): HookCandidate {
  return {
    hook: 'sockops',
    attach(ctx: ProbeContext) {
      if (!cgroupRoot) throw new Error('no cgroup v2 mount found in /proc/self/mounts (sockops attaches to a cgroup v2 directory)');
      return openProbe(ctx, 'rtt.bpf.o', ['rtt_sockops'], (obj) => new RttProbe('sockops', obj, [obj.program('rtt_sockops').attachCgroup(cgroupRoot)]));
    },
  };
}

const TCP_PROBE: HookCandidate = {
  hook: 'tracepoint/tcp/tcp_probe',
  attach: (ctx: ProbeContext) => openProbe(ctx, 'rtt.bpf.o', ['rtt_tcp_probe'], (obj) => new RttProbe('tracepoint/tcp/tcp_probe', obj, attachAll(obj, ['rtt_tcp_probe']))),
};

/** No kernel program: RTT is only the srtt on the tcp probe's TCP_CLOSE records. */
const SRTT_AT_CLOSE: HookCandidate = {
  hook: 'srtt_at_close',
  attach() {
    return { hook: 'srtt_at_close', eventsSeen: () => 0, losses: () => [], close: () => undefined };
  },
};

export function rttPlan(opts: { cgroupRoot: string | null }): ProbePlan {
  return { probe: 'rtt', candidates: [sockops(opts.cgroupRoot), TCP_PROBE, SRTT_AT_CLOSE] };
}
