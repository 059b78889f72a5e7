// flows: per-flow counters from TC clsact ingress+egress (TCX links where the
// kernel has them) on every selected interface, including ones that appear
// later; an interface where TC cannot attach gets the AF_PACKET socket filter.
// The whole probe falls back to socket filters when TC attaches nowhere.
import { possibleCpus, type BpfObject } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import { MonotonicClock } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { InterfaceAttacher, InterfaceProbe, packetCandidate, type PacketHookMode } from '../shared/interface-attacher.js';
import { kernelLosses, loadObject, type AttachedProbe, type ProbePlan } from '../shared/probe.js';
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

class FlowsProbe extends InterfaceProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #obj: BpfObject;
  readonly #table: FlowTable;
  protected readonly attacher: InterfaceAttacher;
  #seen = 0;

  constructor(ctx: ProbeContext, opts: FlowsOptions, mode: PacketHookMode) {
    super();
    this.#ctx = ctx;
    this.#obj = loadObject(ctx, 'flows.bpf.o', PROGRAMS);
    const program = (name: string) => this.#obj.program(name);
    this.attacher = new InterfaceAttacher({ tcIngress: program('flows_tc_ingress'), tcEgress: program('flows_tc_egress'), socket: program('flows_socket') }, opts.interfaces, mode);
    this.#table = new FlowTable(ctx, {
      activeTimeoutMs: opts.activeTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxConversations: opts.maxConversations ?? 131072,
      hook: () => this.hook,
    });
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
    return kernelLosses(this.#obj, 'flows');
  }

  close(): void {
    this.attacher.close();
    const out: FlowRecord[] = [];
    this.#drain(MonotonicClock.nowNs(), out);
    this.#table.flushAll(out);
    this.#emit(out);
    this.#obj.close();
  }
}

export function flowsPlan(opts: FlowsOptions): ProbePlan {
  const make = (ctx: ProbeContext, mode: PacketHookMode) => new FlowsProbe(ctx, opts, mode);
  return { probe: 'flows', candidates: [packetCandidate('tc', make), packetCandidate('socket_filter', make)] };
}
