// The user side shared by the L7 probes of the packet object (dns, http): a
// ring buffer (<probe>_events) read into records by a handler, the object's
// programs attached per selected interface (including interfaces that appear
// later), TC where it attaches and the AF_PACKET socket filter where it does not.
import type { BpfObject } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from './context.js';
import { sumPerCpu } from './counters.js';
import { InterfaceProbe, type InterfaceAttacher, type PacketHookMode } from './interface-attacher.js';
import { L7_COUNTERS, L7_LOSS_COUNTERS } from './layouts.js';
import type { PacketObject, PacketObjects } from './packet-object.js';
import type { AttachedProbe } from './probe.js';
import { RecordStream } from './record-stream.js';

export interface L7ProbeSpec {
  probe: 'dns' | 'http';
  /** Size of one ring-buffer record; shorter records are counted and skipped. */
  recordSize: number;
  /** The packet objects, this probe among their setups. */
  packet: PacketObjects;
}

/** What a probe does with its records; decode() appends to `out`, which the probe hands to the ingress. */
export interface L7Handler {
  decode(batch: Buffer, off: number, out: FlowRecord[]): void;
  tick?(nowNs: number, out: FlowRecord[]): void;
  /** Called once after the hooks are gone, before the ring buffer's last drain (kernel work whose events must still be read). */
  finish?(): void;
  /** Called once after the hooks are gone and the ring buffer is drained. */
  stop?(out: FlowRecord[]): void;
  losses(): LossCount[];
  /** Counters of its own that are not losses, by name, next to the kernel's l7_counters. */
  counters?(): Record<string, number>;
}

export class L7PacketProbe extends InterfaceProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #spec: L7ProbeSpec;
  readonly #handler: L7Handler;
  readonly #packet: PacketObject;
  readonly #stream: RecordStream;
  #final: LossCount[] | undefined;
  protected readonly attacher: InterfaceAttacher;

  constructor(ctx: ProbeContext, spec: L7ProbeSpec, mode: PacketHookMode, handler: L7Handler) {
    super();
    this.#ctx = ctx;
    this.#spec = spec;
    this.#handler = handler;
    this.#packet = spec.packet.acquire(ctx.objectDir, mode);
    try {
      this.attacher = this.#packet.attacher;
      this.#stream = new RecordStream(ctx, spec.probe, this.#packet.object.map(`${spec.probe}_events`), spec.recordSize, (batch, off, out) => handler.decode(batch, off, out));
    } catch (err) {
      this.#packet.release();
      throw err;
    }
  }

  /** The underlying packet object (tests run its programs through BPF_PROG_TEST_RUN). */
  get object(): BpfObject {
    return this.#packet.object;
  }

  #emit(out: FlowRecord[]): void {
    if (out.length > 0) this.#ctx.ingress.ingest(out);
  }

  tick(nowNs: number): void {
    if (!this.#handler.tick) return;
    const out: FlowRecord[] = [];
    this.#handler.tick(nowNs, out);
    this.#emit(out);
  }

  eventsSeen(): number {
    return this.#stream.seen;
  }

  /** This probe's l7_counters totals, by name. */
  counters(): Record<string, number> {
    const map = this.#packet.object.map('l7_counters');
    const key = Buffer.alloc(4);
    const out: Record<string, number> = {};
    for (const [i, name] of L7_COUNTERS.entries()) {
      if (name.startsWith(`${this.#spec.probe}:`)) out[name] = sumPerCpu(map, i, key);
    }
    return { ...out, ...this.#handler.counters?.() };
  }

  losses(): LossCount[] {
    if (this.#final) return this.#final;
    const p = this.#spec.probe;
    const counted = Object.entries(this.counters()).filter(([name]) => L7_LOSS_COUNTERS.has(name));
    return [
      ...this.#packet.losses(p),
      ...counted.map(([reason, count]) => ({ stage: 'kernel', reason, count })),
      ...this.#stream.losses(),
      ...this.#handler.losses(),
    ];
  }

  /** The handler stops once the ring buffer's last batches were decoded: a DNS response among them still finds its query. */
  close(): Promise<void> {
    this.#packet.detach();
    this.#handler.finish?.();
    return this.#stream.stop().then(() => {
      const out: FlowRecord[] = [];
      this.#handler.stop?.(out);
      this.#emit(out);
      // Read while the maps are open: the totals stay answerable after close (pending_at_stop is only known now).
      this.#final = this.losses();
      this.#packet.release();
    });
  }
}
