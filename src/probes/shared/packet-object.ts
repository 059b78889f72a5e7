// The packet object (bpf/packet.bpf.c) the packet probes (flows, dns, http)
// share: one TC program per interface and direction dispatches and parses each
// packet once for all three. It is loaded once per hook mode with the probes
// that will use it enabled (all of them known before the load: a flag or a map
// size cannot change after it), attached per interface by one
// InterfaceAttacher, and closed when the last probe using it lets go.
import { join } from 'node:path';
import { BpfObject } from 'libbpf-ts';
import type { LossCount } from '../../pipeline/types.js';
import type { OriginalDestinationMap } from '../svc/original-destinations.js';
import { InterfaceAttacher, type PacketHookMode } from './interface-attacher.js';
import { kernelLosses } from './probe.js';

export type PacketProbeName = 'flows' | 'dns' | 'http';

/** A probe's part of the object: enabled, and its maps sized or globals set before the load. */
export interface PacketProbeSetup {
  readonly probe: PacketProbeName;
  configure?(obj: BpfObject): void;
}

/** Each probe's row of the object's pf_losses (enum pf_packet_probe in bpf/include/events.h). */
const LOSS_ROW: Record<PacketProbeName, number> = { flows: 0, dns: 1, http: 2 };

/**
 * The hash maps of a probe left out, shrunk to one entry: loaded anyway (the object is one), they would
 * otherwise hold their full size of kernel memory (http_conns alone is ~45 MB). Ring buffers keep their
 * size: theirs must be a multiple of the page size, which differs between kernels.
 */
const IDLE_MAPS: Record<PacketProbeName, readonly string[]> = {
  flows: ['pf_flows'],
  dns: ['dns_sightings'],
  http: ['http_conns', 'http_answered_seq'],
};

export interface PacketObjectsOptions {
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  readonly interfaces: readonly string[];
  /** The probes that will use the object: only these run in it. */
  readonly setups: readonly PacketProbeSetup[];
  /** dns and http read the client socket's original destination from this svc map in the kernel. */
  readonly originalDestinations?: OriginalDestinationMap;
}

/** The loaded object of one hook mode and the interfaces it is attached to. */
export class PacketObject {
  readonly object: BpfObject;
  readonly attacher: InterfaceAttacher;
  readonly #release: () => void;
  #users = 0;

  constructor(object: BpfObject, attacher: InterfaceAttacher, release: () => void) {
    this.object = object;
    this.attacher = attacher;
    this.#release = release;
  }

  /** Some probe uses the object. */
  get inUse(): boolean {
    return this.#users > 0;
  }

  /** A probe starts using the object. */
  retain(): this {
    this.#users++;
    return this;
  }

  /**
   * Detaches the programs from every interface. Any probe closing does this: the probes of one object stop
   * together, and a probe draining its maps after it must know that nothing counts into them any more.
   */
  detach(): void {
    this.attacher.close();
  }

  /** A probe is done with the object; the last one closes it. */
  release(): void {
    if (--this.#users > 0) return;
    this.attacher.close();
    this.object.close();
    this.#release();
  }

  /** The kernel-side losses of one probe (its row of pf_losses). */
  losses(probe: PacketProbeName): LossCount[] {
    return kernelLosses(this.object, probe, LOSS_ROW[probe]);
  }
}

/** The packet object of each hook mode, loaded on first use and shared by the probes that use it. */
export class PacketObjects {
  readonly #opts: PacketObjectsOptions;
  readonly #loaded = new Map<PacketHookMode, PacketObject>();
  /** The objects preload() loaded, until settle(). */
  readonly #preloaded = new Map<PacketHookMode, PacketObject>();
  /**
   * The first load failure and the mode it was for, until settle(). Both modes load the same object with the
   * same configuration (the mode only decides where it is attached), so the other mode would verify seconds
   * long to fail the same way, and the operator would read one failure as two.
   */
  #failed: { mode: PacketHookMode; error: Error } | undefined;

  constructor(opts: PacketObjectsOptions) {
    this.#opts = opts;
  }

  /**
   * The object for this mode, loaded from objectDir (the built objects, ProbeContext.objectDir) unless a
   * probe uses it already; not attached. The caller releases it. After a load failure (either mode), throws
   * instead of loading again until settle() (see #failed).
   */
  acquire(objectDir: string, mode: PacketHookMode): PacketObject {
    const loaded = this.#loaded.get(mode);
    if (loaded) return loaded.retain();
    this.#throwFailure(mode);
    let obj: BpfObject | undefined;
    try {
      obj = BpfObject.open(join(objectDir, 'packet.bpf.o'));
      this.#configure(obj);
      obj.load();
      return this.#adopt(obj, mode).retain();
    } catch (err) {
      obj?.close();
      throw this.#fail(mode, err);
    }
  }

  /**
   * Loads the object of `mode` off the JS thread, for the acquire() calls that follow (the probes' plans
   * are synchronous): its verification takes seconds (3.7 s with the three probes on the 2-core VM), which
   * /healthz, /metrics and `podflow status` would otherwise wait out. A failure is kept, and acquire()
   * throws it instead of loading again (see #failed), until settle(); it never rejects.
   */
  async preload(objectDir: string, mode: PacketHookMode): Promise<void> {
    if (this.#loaded.has(mode) || this.#failed) return;
    let obj: BpfObject | undefined;
    try {
      obj = BpfObject.open(join(objectDir, 'packet.bpf.o'));
      this.#configure(obj);
      await obj.loadAsync();
      this.#preloaded.set(mode, this.#adopt(obj, mode));
    } catch (err) {
      obj?.close();
      this.#fail(mode, err);
    }
  }

  /** After the probes' start: closes a preloaded object no probe took, and forgets load failures (the next start tries again). */
  settle(): void {
    for (const preloaded of this.#preloaded.values()) if (!preloaded.inUse) preloaded.retain().release();
    this.#preloaded.clear();
    this.#failed = undefined;
  }

  #fail(mode: PacketHookMode, err: unknown): Error {
    const error = err instanceof Error ? err : new Error(String(err));
    this.#failed ??= { mode, error };
    return error;
  }

  /** The kept load failure: as it was for its own mode; for the other, that it is the same object failing, not this hook. */
  #throwFailure(mode: PacketHookMode): void {
    const failed = this.#failed;
    if (!failed) return;
    if (failed.mode === mode) throw failed.error;
    throw new Error(`not loaded again: ${mode} uses the same packet object (packet.bpf.o) as ${failed.mode}, which failed to load (see ${failed.mode}); the two differ only in where it is attached`);
  }

  #adopt(obj: BpfObject, mode: PacketHookMode): PacketObject {
    const program = (kind: string) => obj.program(`packet_${kind}`);
    const attacher = new InterfaceAttacher({ tcIngress: program('tc_ingress'), tcEgress: program('tc_egress'), socket: program('socket') }, this.#opts.interfaces, mode);
    const packet = new PacketObject(obj, attacher, () => this.#loaded.delete(mode));
    this.#loaded.set(mode, packet);
    return packet;
  }

  #configure(obj: BpfObject): void {
    const enabled = new Set(this.#opts.setups.map((s) => s.probe));
    for (const probe of ['flows', 'dns', 'http'] as const) {
      obj.setGlobal(`packet_${probe}`, enabled.has(probe) ? 1 : 0);
      if (!enabled.has(probe)) for (const m of IDLE_MAPS[probe]) obj.map(m).resize(1);
    }
    // http's sweep of its waiting requests (src/probes/http/pending.ts) is loaded with http only.
    obj.program('http_sweep').setAutoload(enabled.has('http'));
    for (const s of this.#opts.setups) s.configure?.(obj);
    const svc = this.#opts.originalDestinations?.map;
    const readsSvc = enabled.has('dns') || enabled.has('http');
    if (svc && readsSvc) obj.map('svc_orig_dst').resize(svc.maxEntries).reuse(svc);
    else if (!readsSvc) obj.map('svc_orig_dst').resize(1);
  }
}
