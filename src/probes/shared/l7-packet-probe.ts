// The attach side shared by the L7 packet probes (dns, http): one object with
// <prefix>_tc_ingress, <prefix>_tc_egress and <prefix>_socket programs and a
// <prefix>_events ring buffer, attached per selected interface (including
// interfaces that appear later), TC where it attaches and the AF_PACKET socket
// filter where it does not; every ring-buffer batch goes to a handler.
import { join } from 'node:path';
import { BpfObject } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from './context.js';
import { sumPerCpu } from './counters.js';
import { InterfaceAttacher, InterfaceProbe, type PacketHookMode } from './interface-attacher.js';
import { L7_COUNTERS, L7_LOSS_COUNTERS } from './layouts.js';
import { kernelLosses, type AttachedProbe } from './probe.js';
import { RecordStream } from './record-stream.js';

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

export class L7PacketProbe extends InterfaceProbe implements AttachedProbe {
  readonly #ctx: ProbeContext;
  readonly #spec: L7ObjectSpec;
  readonly #handler: L7Handler;
  readonly #obj: BpfObject;
  readonly #stream: RecordStream;
  protected readonly attacher: InterfaceAttacher;

  constructor(ctx: ProbeContext, spec: L7ObjectSpec, mode: PacketHookMode, handler: L7Handler) {
    super();
    this.#ctx = ctx;
    this.#spec = spec;
    this.#handler = handler;
    this.#obj = BpfObject.open(join(ctx.objectDir, spec.file));
    try {
      spec.configure?.(this.#obj);
      this.#obj.load();
      const program = (kind: string) => this.#obj.program(`${spec.prefix}_${kind}`);
      this.attacher = new InterfaceAttacher({ tcIngress: program('tc_ingress'), tcEgress: program('tc_egress'), socket: program('socket') }, spec.interfaces, mode);
      this.#stream = new RecordStream(ctx, spec.probe, this.#obj.map(`${spec.prefix}_events`), spec.recordSize, (batch, off, out) => handler.decode(batch, off, out));
    } catch (err) {
      this.#obj.close();
      throw err;
    }
  }

  /** The underlying object (tests run its programs through BPF_PROG_TEST_RUN). */
  get object(): BpfObject {
    return this.#obj;
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

  /** The l7_counters totals of this object, by name. */
  counters(): Record<string, number> {
    const map = this.#obj.map('l7_counters');
    const key = Buffer.alloc(4);
    const out: Record<string, number> = {};
    for (const [i, name] of L7_COUNTERS.entries()) {
      if (name.startsWith(`${this.#spec.probe}:`)) out[name] = sumPerCpu(map, i, key);
    }
    return out;
  }

  losses(): LossCount[] {
    const p = this.#spec.probe;
    const counted = Object.entries(this.counters()).filter(([name]) => L7_LOSS_COUNTERS.has(name));
    return [
      ...kernelLosses(this.#obj, p),
      ...counted.map(([reason, count]) => ({ stage: 'kernel', reason, count })),
      ...this.#stream.losses(),
      ...this.#handler.losses(),
    ];
  }

  close(): void {
    this.attacher.close();
    this.#stream.stop();
    const out: FlowRecord[] = [];
    this.#handler.stop?.(out);
    this.#emit(out);
    this.#obj.close();
  }
}
