// flows: per-flow counters from TC clsact ingress+egress (TCX links where the
// kernel has them; the packet object's programs, shared with dns and http) on
// every selected interface, including ones that appear later; an interface
// where TC cannot attach gets the AF_PACKET socket filter. The whole probe
// falls back to socket filters when TC attaches nowhere.
//
// Expired conversations and the shutdown flush can be 100,000 records at once:
// through a PacedIngress they are handed over in chunks as the pipeline has
// room, and wait compactly in the FlowTable meanwhile (the kernel map is still
// drained every tick). A plain ingress gets them all at once.
import { possibleCpus, type BatchBuffers } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import { MonotonicClock } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { describeError } from '../shared/errors.js';
import { InterfaceProbe, packetCandidate, type InterfaceAttacher, type PacketHookMode } from '../shared/interface-attacher.js';
import { PacketObjects, type PacketObject, type PacketProbeSetup } from '../shared/packet-object.js';
import type { AttachedProbe, ProbePlan } from '../shared/probe.js';
import { FlowStats } from '../shared/layouts.js';
import { DEFAULT_FLOW_MAP_BYTES } from '../types.js';
import { emitPaced, isPaced, type PacedIngress } from './paced-ingress.js';
import { FlowTable } from './table.js';

/** Entries read per lookup-and-delete call: bounds the buffers of one drain. */
const DRAIN_CHUNK = 4096;
/** pf_flows entries at most: conversations with packets within one drain interval (a second at most). */
const MAP_ENTRIES_MAX = 65536;
/** A preallocated hash element besides its value: header, key and the per-CPU value pointer. */
const MAP_ELEMENT_BYTES = 96;
/**
 * pf_flows holds the conversations with packets between two drains, and a
 * large node's budget buys few entries (per-CPU values: about 16,000 with
 * 64 MiB on 64 CPUs). So a drain is brought forward when, at the rate the
 * last one found conversations, the map would be this full before the next
 * tick; a quiet node keeps draining once a tick (each drain makes the next
 * packet of a long-lived conversation insert its entry again).
 */
const EARLY_DRAIN_FILL = 0.25;
/** Early drains come at most this often. */
const EARLY_DRAIN_MIN_MS = 50;
/** The longest tick interval (src/probes/index.ts): an early drain is only worth it before then. */
const TICK_MAX_MS = 1000;

/**
 * pf_flows entries for a kernel memory budget. Its value is per CPU (64 bytes
 * each), so 65,536 entries are 8 MiB on 2 CPUs but 268 MiB on 64: on a large
 * node the budget, not the count, bounds the map (and the map's memory counts
 * against the agent's cgroup on Linux >= 5.11).
 */
export function flowMapEntries(budgetBytes: number, cpus: number): number {
  const perEntry = MAP_ELEMENT_BYTES + FlowStats.size * cpus;
  return Math.max(1024, Math.min(MAP_ENTRIES_MAX, Math.floor(budgetBytes / perEntry)));
}

export interface FlowsOptions {
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  interfaces: readonly string[];
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  maxConversations?: number;
  /** Kernel memory for pf_flows (see flowMapEntries); default DEFAULT_FLOW_MAP_BYTES. */
  kernelMapBytes?: number;
  /** The packet objects shared with dns and http; default: one of flows' own. */
  packet?: PacketObjects;
}

/** flows' part of the packet object: pf_flows sized to its memory budget. */
export function flowsSetup(opts: FlowsOptions): PacketProbeSetup {
  const entries = flowMapEntries(opts.kernelMapBytes ?? DEFAULT_FLOW_MAP_BYTES, possibleCpus());
  return { probe: 'flows', configure: (obj) => obj.map('pf_flows').resize(entries) };
}

class FlowsProbe extends InterfaceProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #packet: PacketObject;
  readonly #table: FlowTable;
  protected readonly attacher: InterfaceAttacher;
  readonly #paced: PacedIngress | null;
  #seen = 0;
  /** When the map was last drained (monotonic ns), and the early drain due, if any. */
  #drainedNs = MonotonicClock.nowNs();
  #earlyDrain: NodeJS.Timeout | null = null;
  /** Where each drain chunk is read (the table copies what it keeps): 4096 entries of per-CPU values, every tick. */
  #drainBuffers: BatchBuffers | null = null;
  /** The paced expiry pass in progress (it goes on as the pipeline makes room). */
  #expiring: Promise<void> | null = null;
  #closed = false;

  constructor(ctx: ProbeContext, opts: FlowsOptions, mode: PacketHookMode) {
    super();
    this.#ctx = ctx;
    this.#paced = isPaced(ctx.ingress) ? ctx.ingress : null;
    const packet = opts.packet ?? new PacketObjects({ interfaces: opts.interfaces, setups: [flowsSetup(opts)] });
    this.#packet = packet.acquire(ctx.objectDir, mode);
    this.attacher = this.#packet.attacher;
    this.#table = new FlowTable(ctx, {
      activeTimeoutMs: opts.activeTimeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxConversations: opts.maxConversations ?? 131072,
      hook: () => this.hook,
    });
  }

  tick(nowNs: number): void {
    if (this.#closed) return;
    const out: FlowRecord[] = [];
    this.#drain(nowNs, out);
    const paced = this.#paced;
    if (!paced) {
      this.#table.expire(nowNs, out);
      this.#emit(out);
      return;
    }
    // Conversations beyond maxConversations: the table does not keep them, so they go now.
    this.#emit(out);
    this.#expiring ??= this.#expirePaced(paced, nowNs)
      .catch((err: unknown) => this.#failed('expiring flows', err))
      .finally(() => (this.#expiring = null));
  }

  #failed(what: string, err: unknown): void {
    this.#ctx.log?.warn({ probe: 'flows' }, `${what} failed: ${describeError(err)}`);
  }

  /** One expiry pass, chunk by chunk as the pipeline has room; it stops early when the probe closes. */
  async #expirePaced(paced: PacedIngress, nowNs: number): Promise<void> {
    await emitPaced(paced, (out, max) => this.#counted(this.#table.expire(nowNs, out, max), out), () => this.#closed);
  }

  /** Every conversation, chunk by chunk as the pipeline has room, until the shutdown deadline. */
  async #flushPaced(paced: PacedIngress): Promise<void> {
    await this.#expiring;
    if (!(await emitPaced(paced, (out, max) => this.#counted(this.#table.flushAll(out, max), out)))) {
      paced.abandon(this.#table.clear(), 'flows:shutdown_deadline');
    }
  }

  /** Counts the records a paced step produced (emitPaced ingests them). */
  #counted(done: boolean, out: FlowRecord[]): boolean {
    this.#seen += out.length;
    return done;
  }

  #drain(nowNs: number, out: FlowRecord[]): void {
    const map = this.#packet.object.map('pf_flows');
    const cpus = possibleCpus();
    let drained = 0;
    for (;;) {
      const r = map.lookupAndDeleteBatch(DRAIN_CHUNK, (this.#drainBuffers ??= map.batchBuffers(DRAIN_CHUNK)));
      this.#table.add(r.keys, r.values, r.count, map.valueBufferSize, cpus, nowNs, out);
      drained += r.count;
      if (r.count < DRAIN_CHUNK) break;
    }
    const perMs = drained / Math.max(1, (nowNs - this.#drainedNs) / 1e6);
    this.#drainedNs = nowNs;
    const fillMs = (map.maxEntries * EARLY_DRAIN_FILL) / perMs;
    if (fillMs < TICK_MAX_MS && this.#earlyDrain === null && !this.#closed) {
      this.#earlyDrain = setTimeout(() => this.#drainEarly(), Math.max(EARLY_DRAIN_MIN_MS, fillMs));
      this.#earlyDrain.unref();
    }
  }

  /** A drain between ticks (see EARLY_DRAIN_FILL): the table takes the counters, the tick expires them. */
  #drainEarly(): void {
    this.#earlyDrain = null;
    if (this.#closed) return;
    const out: FlowRecord[] = [];
    try {
      this.#drain(MonotonicClock.nowNs(), out);
    } catch (err) {
      this.#failed('an early drain of the flow map', err);
    }
    this.#emit(out);
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
    return this.#packet.losses('flows');
  }

  /** Detaches, moves the kernel map's last counters into the table, then flushes it (paced: in the background, held by the ingress). */
  close(): void {
    this.#closed = true;
    if (this.#earlyDrain) clearTimeout(this.#earlyDrain);
    const out: FlowRecord[] = [];
    try {
      this.#packet.detach();
      this.#drain(MonotonicClock.nowNs(), out);
    } catch (err) {
      // What the table and `out` already hold is still flushed (or counted) below.
      this.#failed('the last drain of the flow map', err);
    } finally {
      this.#packet.release();
    }
    if (this.#paced) {
      this.#emit(out);
      const paced = this.#paced;
      paced.hold(this.#flushPaced(paced).catch((err: unknown) => {
        this.#failed('flushing flows', err);
        paced.abandon(this.#table.clear(), 'flows:flush_failed');
      }));
    } else {
      this.#table.flushAll(out);
      this.#emit(out);
    }
  }
}

export function flowsPlan(opts: FlowsOptions): ProbePlan {
  const make = (ctx: ProbeContext, mode: PacketHookMode) => new FlowsProbe(ctx, opts, mode);
  return { probe: 'flows', candidates: [packetCandidate('tc', make), packetCandidate('socket_filter', make)] };
}
