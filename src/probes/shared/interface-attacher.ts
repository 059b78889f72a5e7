// Per-interface attachment of the packet object (flows, dns, http): TC
// clsact ingress + egress on each selected interface (TCX links where the
// kernel has them), the AF_PACKET socket filter where TC does not attach, and
// interfaces that appear or go away while running.
import { features, type Link, type Program, type TcOptions } from 'libbpf-ts';
import type { ProbeContext } from './context.js';
import type { NetInterface } from './interfaces.js';
import { describeError } from './errors.js';
import type { AttachedProbe, HookCandidate } from './probe.js';

export type PacketHookMode = 'tc' | 'socket_filter';

/**
 * A classic TC filter (kernels without TCX) outlives an agent that is killed (OOM, SIGKILL) and would keep
 * running beside the next agent's, counting into maps nobody reads: the next agent removes those of the
 * packet programs whose owner is gone. TCX links die with their process.
 */
const TC_OPTIONS: TcOptions = { removeStale: true };

/** The three programs of the packet object. */
export interface PacketPrograms {
  tcIngress: Program;
  tcEgress: Program;
  socket: Program;
}

/** Patterns are interface names or prefixes ending in '*'; none = every interface but loopback. */
export function interfaceSelected(name: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return name !== 'lo';
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/**
 * What the interface patterns miss among the interfaces present, for the operator: a name no
 * interface has (a typo, or a pod not there yet) or patterns that match nothing at all; undefined
 * when every pattern matches. The probes still attach to such interfaces when they appear.
 */
export function unmatchedInterfaces(patterns: readonly string[], present: readonly NetInterface[]): string | undefined {
  const absent = patterns.filter((p) => !present.some((i) => interfaceSelected(i.name, [p])));
  if (absent.length === 0) return undefined;
  const names = present.map((i) => i.name).sort();
  const which = absent.length === patterns.length ? 'no interface matches' : 'nothing matches';
  return `${which} ${absent.map((p) => `"${p}"`).join(', ')} of interfaces (present: ${names.join(', ') || 'none'}; a trailing '*' matches a prefix): ` +
    'no traffic is observed there until a matching interface appears';
}

/**
 * The hook TC mode will use on an interface that appears: a TCX link where the kernel has TCX (libbpf-ts's
 * cached feature probe) unless LIBBPF_TS_TCX=0 makes libbpf-ts attach classic filters, else a clsact filter.
 */
function tcHookHere(): string {
  return process.env.LIBBPF_TS_TCX !== '0' && features.canAttachTcx().supported ? 'tcx' : 'tc';
}

const noDevice = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'ENODEV';

export class InterfaceAttacher {
  readonly #programs: PacketPrograms;
  readonly #patterns: readonly string[];
  readonly #mode: PacketHookMode;
  readonly #links = new Map<number, Link[]>();
  /** The hook each attached interface got ('tc', 'tcx' or 'socket_filter'). */
  readonly #hooks = new Map<number, string>();
  /** Why each selected interface that appeared could not be attached, until it goes away. */
  readonly #failures = new Map<number, string>();
  /** The hook while nothing is attached (see hook), found once. */
  #idleHook: string | undefined;

  constructor(programs: PacketPrograms, patterns: readonly string[], mode: PacketHookMode) {
    this.#programs = programs;
    this.#patterns = patterns;
    this.#mode = mode;
  }

  /**
   * The hooks in use, e.g. "tcx" or "socket_filter+tcx"; while nothing is attached (no interface matches
   * yet), the one this mode will use: "tcx" or "tc" as the kernel has TCX, or "socket_filter".
   */
  get hook(): string {
    const hooks = new Set(this.#hooks.values());
    if (hooks.size > 0) return [...hooks].sort().join('+');
    return (this.#idleHook ??= this.#mode === 'tc' ? tcHookHere() : this.#mode);
  }

  /**
   * Attaches to the selected interfaces not attached yet (the probes sharing the packet object each ask);
   * throws when there were some and none attached (the plan's next mode runs). Where only some failed,
   * those fall back as interfaces that appear later do.
   */
  attachInitial(interfaces: readonly NetInterface[]): void {
    const selected = interfaces.filter((i) => interfaceSelected(i.name, this.#patterns));
    const failed: { iface: NetInterface; err: unknown }[] = [];
    for (const iface of selected) {
      if (this.#links.has(iface.index)) continue;
      try {
        this.#attach(iface, this.#mode);
      } catch (err) {
        failed.push({ iface, err });
      }
    }
    if (selected.length > 0 && this.#links.size === 0) throw failed[0]!.err;
    for (const { iface, err } of failed) this.#fallBack(iface, err);
  }

  /**
   * Attaches to the selected interfaces that appeared, once for the probes sharing the object (each
   * tells it); one that attaches neither TC nor the socket filter is in failures() until it goes away.
   * Not a record loss: nothing was counted there; an interface that comes back is tried again.
   */
  interfacesChanged(added: readonly NetInterface[], removed: readonly NetInterface[]): void {
    for (const iface of removed) {
      this.#detach(iface.index);
      this.#failures.delete(iface.index);
    }
    for (const iface of added) {
      if (!interfaceSelected(iface.name, this.#patterns) || this.#links.has(iface.index) || this.#failures.has(iface.index)) continue;
      try {
        this.#attach(iface, this.#mode);
      } catch (first) {
        this.#fallBack(iface, first);
      }
    }
  }

  /** The socket filter on an interface this mode failed on; when that fails too, the interface is in failures(). */
  #fallBack(iface: NetInterface, first: unknown): void {
    try {
      this.#attach(iface, 'socket_filter');
    } catch (err) {
      // Gone again before we attached (a short-lived veth), or not attachable at all.
      this.#failures.set(iface.index, noDevice(first) && noDevice(err)
        ? `interface ${iface.name} (ifindex ${iface.index}) went away before it could be attached (ENODEV)`
        : `interface ${iface.name} (ifindex ${iface.index}) not attached: ${describeError(first)}; socket filter: ${describeError(err)}`);
    }
  }

  /** Why each selected interface present could not be attached (see interfacesChanged). */
  failures(): string[] {
    return [...this.#failures.values()];
  }

  attachedInterfaces(): number[] {
    return [...this.#links.keys()];
  }

  close(): void {
    for (const ifindex of [...this.#links.keys()]) this.#detach(ifindex);
  }

  #attach(iface: NetInterface, mode: PacketHookMode): void {
    if (mode === 'socket_filter') {
      this.#links.set(iface.index, [this.#programs.socket.attachPacketSocket(iface.index)]);
      this.#hooks.set(iface.index, 'socket_filter');
      return;
    }
    const ingress = this.#programs.tcIngress.attachTc(iface.index, 'ingress', TC_OPTIONS);
    let egress: Link;
    try {
      egress = this.#programs.tcEgress.attachTc(iface.index, 'egress', TC_OPTIONS);
    } catch (err) {
      ingress.destroy();
      throw err;
    }
    this.#links.set(iface.index, [ingress, egress]);
    this.#hooks.set(iface.index, ingress.hook);
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
}

/** A probe attached per interface: the manager's and the plan's calls, answered by its attacher. */
export abstract class InterfaceProbe {
  protected abstract readonly attacher: InterfaceAttacher;

  get hook(): string {
    return this.attacher.hook;
  }

  attachInitial(interfaces: readonly NetInterface[]): void {
    this.attacher.attachInitial(interfaces);
  }

  interfacesChanged(added: readonly NetInterface[], removed: readonly NetInterface[]): void {
    this.attacher.interfacesChanged(added, removed);
  }

  interfaceFailures(): string[] {
    return this.attacher.failures();
  }

  attachedInterfaces(): number[] {
    return this.attacher.attachedInterfaces();
  }
}

/** A plan candidate for one mode: loads the probe, then attaches it to the interfaces known now. */
export function packetCandidate(
  mode: PacketHookMode,
  make: (ctx: ProbeContext, mode: PacketHookMode) => AttachedProbe & InterfaceProbe,
): HookCandidate {
  return {
    hook: mode,
    attach(ctx: ProbeContext) {
      const probe = make(ctx, mode);
      try {
        probe.attachInitial(ctx.interfaces.list());
        return probe;
      } catch (err) {
        // Attached nowhere, it has no records to deliver; the attach error is why this mode is skipped.
        void Promise.resolve(probe.close()).catch(() => {});
        throw err;
      }
    },
  };
}
