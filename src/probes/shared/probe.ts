// The shape every probe folder exports: an attach plan (hooks in order of
// preference) whose first candidate that loads and attaches becomes the probe.
import { join } from 'node:path';
import { BpfObject, RingBufferConsumer, type Link } from 'libbpf-ts';
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeName } from '../types.js';
import type { ProbeContext } from './context.js';
import type { NetInterface } from './interfaces.js';

/** A probe that attached: the manager ticks it, tells it about interfaces, and closes it. */
export interface AttachedProbe {
  readonly hook: string;
  /** Periodic work (drain maps, expire flows); nowNs is CLOCK_MONOTONIC like the kernel's. */
  tick?(nowNs: number): void;
  /** Interfaces that appeared or went away (TC and socket probes attach per interface); returns why any could not be attached. */
  interfacesChanged?(added: readonly NetInterface[], removed: readonly NetInterface[]): string[];
  eventsSeen(): number;
  /** Running totals: stage "kernel" (counted by the BPF programs) and "decode". */
  losses(): LossCount[];
  /** Detaches and closes everything this probe created (after emitting what it still holds). */
  close(): void;
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

/** An error as one line for status() and logs, with its errno code when the message lacks it. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

const KERNEL_LOSS_REASONS = ['ringbuf_full', 'map_full', 'parse_error'] as const;

/** Opens <objectDir>/<file>, loading only `programs` (the others' hooks may not exist here). */
export function loadObject(ctx: ProbeContext, file: string, programs: readonly string[]): BpfObject {
  const obj = BpfObject.open(join(ctx.objectDir, file));
  try {
    for (const p of obj.programs) p.setAutoload(programs.includes(p.name));
    obj.load();
    return obj;
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

/** The per-reason totals of an object's pf_losses per-CPU array (see bpf/include/common.h). */
export function kernelLosses(obj: BpfObject, probe: string): LossCount[] {
  const map = obj.map('pf_losses');
  const key = Buffer.alloc(4);
  const out: LossCount[] = [];
  for (const [i, reason] of KERNEL_LOSS_REASONS.entries()) {
    key.writeUInt32LE(i);
    const value = map.lookup(key);
    let count = 0;
    if (value) for (const cpu of map.perCpuValues(value)) count += Number(cpu.readBigUInt64LE(0));
    out.push({ stage: 'kernel', reason: `${probe}:${reason}`, count });
  }
  return out;
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
  readonly #consumer: RingBufferConsumer;
  #seen = 0;
  #short = 0;

  constructor(
    ctx: ProbeContext,
    probe: string,
    hook: string,
    obj: BpfObject,
    links: Link[],
    recordSize: number,
    decode: (batch: Buffer, off: number) => FlowRecord | undefined,
  ) {
    this.hook = hook;
    this.#probe = probe;
    this.#obj = obj;
    this.#links = links;
    this.#consumer = new RingBufferConsumer(obj.map('pf_events'), (batch, offsets, count) => {
      const records: FlowRecord[] = [];
      for (let i = 0; i < count; i++) {
        const off = offsets[i] ?? 0;
        if ((offsets[i + 1] ?? 0) - off < recordSize) {
          this.#short++;
          continue;
        }
        const r = decode(batch, off);
        if (r) records.push(r);
      }
      this.#seen += count;
      if (records.length > 0) ctx.ingress.ingest(records);
    });
    this.#consumer.start();
  }

  eventsSeen(): number {
    return this.#seen;
  }

  losses(): LossCount[] {
    return [...kernelLosses(this.#obj, this.#probe), { stage: 'decode', reason: `${this.#probe}:short_record`, count: this.#short }];
  }

  close(): void {
    for (const l of this.#links) l.destroy();
    this.#consumer.stop();
    this.#obj.close();
  }
}
