// flows: per-flow counters from TC clsact ingress+egress (TCX links where the
// kernel has them) on every selected interface, including ones that appear
// later; an interface where TC cannot attach gets the AF_PACKET socket filter.
// The whole probe falls back to socket filters when TC attaches nowhere.
import { possibleCpus, type BpfObject, type Link } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import { MonotonicClock } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import type { NetInterface } from '../shared/interfaces.js';
import { kernelLosses, loadObject, type AttachedProbe, type HookCandidate, type ProbePlan } from '../shared/probe.js';
import { FlowTable } from './table.js';

const PROGRAMS = ['flows_tc_ingress', 'flows_tc_egress', 'flows_socket'];
/** Entries read per lookup-and-delete call: bounds the buffers of one drain. */
const DRAIN_CHUNK = 4096;

export interface FlowsOptions {
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  interfaces: readonly string[];
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  maxConversations?: number;
}

export function interfaceSelected(name: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return name !== 'lo';
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

type Mode = 'tc' | 'socket_filter';

class FlowsProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #opts: FlowsOptions;
  readonly #obj: BpfObject;
  readonly #mode: Mode;
  readonly #table: FlowTable;
  readonly #links = new Map<number, Link[]>();
  /** The hook each attached interface got ('tc', 'tcx' or 'socket_filter'). */
  readonly #hooks = new Map<number, string>();
  #seen = 0;
  #attachFailures = 0;

  constructor(ctx: ProbeContext, opts: FlowsOptions, mode: Mode) {
    this.#ctx = ctx;
    this.#opts = opts;
    this.#mode = mode;
    this.#obj = loadObject(ctx, 'flows.bpf.o', PROGRAMS);
    this.#table = new FlowTable(ctx, {
      activeTimeoutMs: opts.activeTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxConversations: opts.maxConversations ?? 131072,
      hook: () => this.hook,
    });
  }

  get hook(): string {
    const hooks = new Set(this.#hooks.values());
    return hooks.size === 0 ? this.#mode : [...hooks].sort().join('+');
  }

  /** Attaches to the selected interfaces; throws when the first attach of this mode fails everywhere. */
  attachInitial(interfaces: readonly NetInterface[]): void {
    const selected = interfaces.filter((i) => interfaceSelected(i.name, this.#opts.interfaces));
    let firstError: unknown;
    for (const iface of selected) {
      try {
        this.#attach(iface, this.#mode);
      } catch (err) {
        firstError ??= err;
      }
    }
    if (selected.length > 0 && this.#links.size === 0) throw firstError;
  }

  #attach(iface: NetInterface, mode: Mode): void {
    if (mode === 'tc') {
      const ingress = this.#obj.program('flows_tc_ingress').attachTc(iface.index, 'ingress');
      let egress: Link;
      try {
        egress = this.#obj.program('flows_tc_egress').attachTc(iface.index, 'egress');
      } catch (err) {
        ingress.destroy();
        throw err;
      }
      this.#links.set(iface.index, [ingress, egress]);
      this.#hooks.set(iface.index, ingress.hook);
    } else {
      this.#links.set(iface.index, [this.#obj.program('flows_socket').attachPacketSocket(iface.index)]);
      this.#hooks.set(iface.index, 'socket_filter');
    }
  }

  interfacesChanged(added: readonly NetInterface[], removed: readonly NetInterface[]): void {
    for (const iface of removed) this.#detach(iface.index);
    for (const iface of added) {
      if (!interfaceSelected(iface.name, this.#opts.interfaces) || this.#links.has(iface.index)) continue;
      try {
        this.#attach(iface, this.#mode);
      } catch {
        try {
          this.#attach(iface, 'socket_filter');
        } catch {
          // Gone again before we attached (a short-lived veth), or not attachable at all.
          this.#attachFailures++;
        }
      }
    }
  }

  #detach(ifindex: number): void {
    for (const l of this.#links.get(ifindex) ?? []) {
      try {
        l.destroy();
      } catch {
        // The interface is gone and took its hooks with it.
      }
    }
    this.#links.delete(ifindex);
    this.#hooks.delete(ifindex);
  }

  attachedInterfaces(): number[] {
    return [...this.#links.keys()];
  }

  tick(nowNs: number): void {
    const out: FlowRecord[] = [];
    this.#drain(nowNs, out);
    this.#table.expire(nowNs, out);
    this.#emit(out);
  }

  #drain(nowNs: number, out: FlowRecord[]): void {
    const map = this.#obj.map('pf_flows');
    const cpus = possibleCpus();
    for (;;) {
      const r = map.lookupAndDeleteBatch(DRAIN_CHUNK);
      this.#table.add(r.keys, r.values, r.count, map.valueBufferSize, cpus, nowNs, out);
      if (r.count < DRAIN_CHUNK) return;
    }
  }

  #emit(records: FlowRecord[]): void {
    if (records.length === 0) return;
    this.#seen += records.length;
    this.#ctx.ingress.ingest(records);
  }

  eventsSeen(): number {
    return this.#seen;
  }

  losses(): LossCount[] {
    return [...kernelLosses(this.#obj, 'flows'), { stage: 'attach', reason: 'flows:interface_attach_failed', count: this.#attachFailures }];
  }

  close(): void {
    for (const ifindex of [...this.#links.keys()]) this.#detach(ifindex);
    const out: FlowRecord[] = [];
    this.#drain(MonotonicClock.nowNs(), out);
    this.#table.flushAll(out);
    this.#emit(out);
    this.#obj.close();
  }
}

function candidate(mode: Mode, opts: FlowsOptions): HookCandidate {
  return {
    hook: mode,
    attach(ctx: ProbeContext) {
      const probe = new FlowsProbe(ctx, opts, mode);
      try {
        probe.attachInitial(ctx.interfaces.list());
        return probe;
      } catch (err) {
        probe.close();
        throw err;
      }
    },
  };
}

export function flowsPlan(opts: FlowsOptions): ProbePlan {
  return { probe: 'flows', candidates: [candidate('tc', opts), candidate('socket_filter', opts)] };
}
