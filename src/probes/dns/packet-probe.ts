// The attach side shared by the L7 packet probes (dns, http): one object with
// <prefix>_tc_ingress, <prefix>_tc_egress and <prefix>_socket programs and a
// <prefix>_events ring buffer, attached per selected interface (including
// interfaces that appear later), TC where it attaches and the AF_PACKET socket
// filter where it does not; every ring-buffer batch goes to a handler.
import { join } from 'node:path';
import { BpfObject, RingBufferConsumer, type Link } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from '../shared/context.js';
import type { NetInterface } from '../shared/interfaces.js';
import { kernelLosses, type AttachedProbe, type HookCandidate } from '../shared/probe.js';
import { interfaceSelected } from '../flows/plan.js';
import { L7_COUNTERS, L7_LOSS_COUNTERS } from './layout.js';

export type L7Mode = 'tc' | 'socket_filter';

export interface L7ObjectSpec {
  probe: 'dns' | 'http';
  /** The object file in ctx.objectDir, e.g. "dns.bpf.o". */
  file: string;
  /** Names the programs (<prefix>_tc_ingress, ...) and the ring buffer (<prefix>_events). */
  prefix: string;
  /** Size of one ring-buffer record; shorter records are counted and skipped. */
  recordSize: number;
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  interfaces: readonly string[];
  /** Sets globals before load. */
  configure?(obj: BpfObject): void;
}

/** What a probe does with its records; decode() appends to `out`, which the probe hands to the ingress. */
export interface L7Handler {
  decode(batch: Buffer, off: number, out: FlowRecord[]): void;
  tick?(nowNs: number, out: FlowRecord[]): void;
  /** Called once after the hooks are gone and the ring buffer is drained. */
  stop?(out: FlowRecord[]): void;
  losses(): LossCount[];
}

export class L7PacketProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #spec: L7ObjectSpec;
  readonly #mode: L7Mode;
  readonly #handler: L7Handler;
  readonly #obj: BpfObject;
  readonly #consumer: RingBufferConsumer;
  readonly #links = new Map<number, Link[]>();
  readonly #hooks = new Map<number, string>();
  #seen = 0;
  #short = 0;
  #attachFailures = 0;

  constructor(ctx: ProbeContext, spec: L7ObjectSpec, mode: L7Mode, handler: L7Handler) {
    this.#ctx = ctx;
    this.#spec = spec;
    this.#mode = mode;
    this.#handler = handler;
    this.#obj = BpfObject.open(join(ctx.objectDir, spec.file));
    try {
      spec.configure?.(this.#obj);
      this.#obj.load();
      this.#consumer = new RingBufferConsumer(this.#obj.map(`${spec.prefix}_events`), (batch, offsets, count) => this.#onBatch(batch, offsets, count));
      this.#consumer.start();
    } catch (err) {
      this.#obj.close();
      throw err;
    }
  }

  get hook(): string {
    const hooks = new Set(this.#hooks.values());
    return hooks.size === 0 ? this.#mode : [...hooks].sort().join('+');
  }

  /** The underlying object (tests run its programs through BPF_PROG_TEST_RUN). */
  get object(): BpfObject {
    return this.#obj;
  }

  #onBatch(batch: Buffer, offsets: Uint32Array, count: number): void {
    const out: FlowRecord[] = [];
    for (let i = 0; i < count; i++) {
      const off = offsets[i] ?? 0;
      if ((offsets[i + 1] ?? 0) - off < this.#spec.recordSize) {
        this.#short++;
        continue;
      }
      this.#handler.decode(batch, off, out);
    }
    this.#seen += count;
    this.#emit(out);
  }

  #emit(out: FlowRecord[]): void {
    if (out.length > 0) this.#ctx.ingress.ingest(out);
  }

  /** Attaches to the selected interfaces; throws when there were some and none attached. */
  attachInitial(interfaces: readonly NetInterface[]): void {
    const selected = interfaces.filter((i) => interfaceSelected(i.name, this.#spec.interfaces));
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

  #attach(iface: NetInterface, mode: L7Mode): void {
    const p = this.#spec.prefix;
    if (mode === 'socket_filter') {
      this.#links.set(iface.index, [this.#obj.program(`${p}_socket`).attachPacketSocket(iface.index)]);
      this.#hooks.set(iface.index, 'socket_filter');
      return;
    }
    const ingress = this.#obj.program(`${p}_tc_ingress`).attachTc(iface.index, 'ingress');
    let egress: Link;
    try {
      egress = this.#obj.program(`${p}_tc_egress`).attachTc(iface.index, 'egress');
    } catch (err) {
      ingress.destroy();
      throw err;
    }
    this.#links.set(iface.index, [ingress, egress]);
    this.#hooks.set(iface.index, ingress.hook);
  }

  interfacesChanged(added: readonly NetInterface[], removed: readonly NetInterface[]): void {
    for (const iface of removed) this.#detach(iface.index);
    for (const iface of added) {
      if (!interfaceSelected(iface.name, this.#spec.interfaces) || this.#links.has(iface.index)) continue;
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
    if (!this.#handler.tick) return;
    const out: FlowRecord[] = [];
    this.#handler.tick(nowNs, out);
    this.#emit(out);
  }

  eventsSeen(): number {
    return this.#seen;
  }

  /** The l7_counters totals of this object, by name. */
  counters(): Record<string, number> {
    const map = this.#obj.map('l7_counters');
    const key = Buffer.alloc(4);
    const out: Record<string, number> = {};
    for (const [i, name] of L7_COUNTERS.entries()) {
      if (!name.startsWith(`${this.#spec.probe}:`)) continue;
      key.writeUInt32LE(i);
      const value = map.lookup(key);
      let n = 0;
      if (value) for (const cpu of map.perCpuValues(value)) n += Number(cpu.readBigUInt64LE(0));
      out[name] = n;
    }
    return out;
  }

  losses(): LossCount[] {
    const p = this.#spec.probe;
    const counted = Object.entries(this.counters()).filter(([name]) => L7_LOSS_COUNTERS.has(name));
    return [
      ...kernelLosses(this.#obj, p),
      ...counted.map(([reason, count]) => ({ stage: 'kernel', reason, count })),
      { stage: 'decode', reason: `${p}:short_record`, count: this.#short },
      { stage: 'attach', reason: `${p}:interface_attach_failed`, count: this.#attachFailures },
      ...this.#handler.losses(),
    ];
  }

  close(): void {
    for (const ifindex of [...this.#links.keys()]) this.#detach(ifindex);
    this.#consumer.stop();
    const out: FlowRecord[] = [];
    this.#handler.stop?.(out);
    this.#emit(out);
    this.#obj.close();
  }
}

/** A plan candidate for one mode: loads, then attaches to the interfaces known now. */
export function l7Candidate(mode: L7Mode, make: (ctx: ProbeContext, mode: L7Mode) => L7PacketProbe): HookCandidate {
  return {
    hook: mode,
    attach(ctx: ProbeContext) {
      const probe = make(ctx, mode);
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
