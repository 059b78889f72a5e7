// The shape every probe folder exports: an attach plan (hooks in order of
// preference) whose first candidate that loads and attaches becomes the probe.
import { join } from 'node:path';
import { BpfObject, type BpfMap, type Link } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeName } from '../types.js';
import type { ProbeContext } from './context.js';
import { sumPerCpu } from './counters.js';
import type { NetInterface } from './interfaces.js';
import { RecordStream } from './record-stream.js';

/** A probe that attached: the manager ticks it, tells it about interfaces, and closes it. */
export interface AttachedProbe {
  readonly hook: string;
  /** Periodic work (drain maps, expire flows); nowNs is CLOCK_MONOTONIC like the kernel's. */
  tick?(nowNs: number): void;
  /** Interfaces that appeared or went away (TC and socket probes attach per interface). */
  interfacesChanged?(added: readonly NetInterface[], removed: readonly NetInterface[]): void;
  /** Why selected interfaces present could not be attached, one message each. */
  interfaceFailures?(): string[];
  eventsSeen(): number;
  /** Running totals of the events the probe's kernel filter left out (policy: configuration, or no flow to report), per reason. */
  filtered?(): { reason: string; count: number }[];
  /** Running totals: stage "kernel" (counted by the BPF programs) and "decode". */
  losses(): LossCount[];
  /**
   * Detaches and closes everything this probe created (after emitting what it still holds). A promise when
   * records read before the detach are still on their way to the ingress: it resolves once they got there.
   */
  close(): void | Promise<void>;
  /** The tcp probe's per-socket map (side, process; bpf/include/sock_info.h), which the retransmit object reuses. */
  readonly sockets?: BpfMap;
}

export interface HookCandidate {
  /** As shown by `podflow probes`, e.g. "tracepoint/sock/inet_sock_set_state". */
  readonly hook: string;
  /** Loads and attaches; throws (LoadError, AttachError, ...) when this kernel cannot. */
  attach(ctx: ProbeContext): AttachedProbe;
}

export interface ProbePlan {
  readonly probe: ProbeName;
  readonly candidates: readonly HookCandidate[];
}

const KERNEL_LOSS_REASONS = ['ringbuf_full', 'map_full', 'parse_error'] as const;

/**
 * Opens <objectDir>/<file>, loading only `programs` (the others' hooks may not exist here);
 * `configure` sizes maps or sets globals before the load.
 */
export function loadObject(ctx: ProbeContext, file: string, programs: readonly string[], configure?: (obj: BpfObject) => void): BpfObject {
  const obj = BpfObject.open(join(ctx.objectDir, file));
  try {
    for (const p of obj.programs) p.setAutoload(programs.includes(p.name));
    configure?.(obj);
    obj.load();
    return obj;
  } catch (err) {
    obj.close();
    throw err;
  }
}

/** Loads `programs` of `file` (configured as loadObject does) and builds the probe from the object; closes the object when that fails. */
export function openProbe<T>(ctx: ProbeContext, file: string, programs: readonly string[], build: (obj: BpfObject) => T, configure?: (obj: BpfObject) => void): T {
  const obj = loadObject(ctx, file, programs, configure);
  try {
    return build(obj);
  } catch (err) {
    obj.close();
    throw err;
  }
}

/** Attaches each program by its section; on failure destroys the links made so far. */
export function attachAll(obj: BpfObject, programs: readonly string[]): Link[] {
  const links: Link[] = [];
  try {
    for (const name of programs) links.push(obj.program(name).attach());
    return links;
  } catch (err) {
    for (const l of links) l.destroy();
    throw err;
  }
}

/**
 * The per-reason totals of an object's pf_losses per-CPU array (see bpf/include/common.h); `row`: the
 * probe's row where the object serves several.
 */
export function kernelLosses(obj: BpfObject, probe: string, row = 0): LossCount[] {
  const map = obj.map('pf_losses');
  const key = Buffer.alloc(4);
  const base = row * KERNEL_LOSS_REASONS.length;
  return KERNEL_LOSS_REASONS.map((reason, i) => ({ stage: 'kernel', reason: `${probe}:${reason}`, count: sumPerCpu(map, base + i, key) }));
}

/**
 * A probe whose object writes fixed-size records into a ring buffer `pf_events`: each batch is decoded
 * and handed to the ingress in one call.
 */
export class RingBufferProbe implements AttachedProbe {
  readonly hook: string;
  readonly #probe: string;
  readonly #obj: BpfObject;
  readonly #links: Link[];
  readonly #stream: RecordStream;
  /** The loss totals at close (the object's counters go with it; the stream's last ones are known then). */
  #final: LossCount[] | undefined;

  constructor(
    ctx: ProbeContext,
    probe: string,
    hook: string,
    obj: BpfObject,
    links: Link[],
    recordSize: number,
    decode: (batch: Buffer, off: number) => FlowRecord,
  ) {
    this.hook = hook;
    this.#probe = probe;
    this.#obj = obj;
    this.#links = links;
    this.#stream = new RecordStream(ctx, probe, obj.map('pf_events'), recordSize, (batch, off, out) => {
      out.push(decode(batch, off));
    });
  }

  eventsSeen(): number {
    return this.#stream.seen;
  }

  losses(): LossCount[] {
    return this.#final ?? [...kernelLosses(this.#obj, this.#probe), ...this.#stream.losses()];
  }

  close(): Promise<void> {
    for (const l of this.#links) l.destroy();
    const delivered = this.#stream.stop();
    this.#final = this.losses();
    this.#obj.close();
    return delivered;
  }
}
