// tcp: TCP_OPEN/CLOSE/FAILED/RESET per socket, with process context. Preferred
// hooks in order: fentry (cheapest), kprobe, the tracepoints as BTF raw
// tracepoints, then as classic tracepoints, which work on every kernel with tracefs. All variants share bpf/include/tcp_lifecycle.h.
import { NotSupportedError, features, type BpfMap, type BpfObject, type FeatureResult, type Link } from 'libbpf-ts';
import type { ProbeContext } from '../shared/context.js';
import { SockEvent } from '../shared/layouts.js';
import { RingBufferProbe, attachAll, openProbe, type HookCandidate, type ProbePlan } from '../shared/probe.js';
import { decodeSockEvent } from '../shared/sock-event.js';

/**
 * The per-socket info (bpf/include/sock_info.h): socket storage where the hook gives a BTF-typed socket
 * (fentry, tp_btf), else the hash keyed by the socket's address, which the direct variants leave unused.
 */
const SOCKET_STORAGE = 'pf_sock_storage';
const SOCKET_HASH = 'pf_socks';

/** The tcp probe, handing its per-socket map (side, process) to the retransmit object. */
class TcpProbe extends RingBufferProbe {
  readonly sockets: BpfMap;

  constructor(ctx: ProbeContext, hook: string, obj: BpfObject, links: Link[], direct: boolean) {
    super(ctx, 'tcp', hook, obj, links, SockEvent.size, (b, off) => decodeSockEvent(b, off, ctx, 'tcp', hook));
    this.sockets = obj.map(direct ? SOCKET_STORAGE : SOCKET_HASH);
  }
}

/** direct: the programs read a BTF-typed socket and keep their info in socket storage. */
function candidate(hook: string, file: string, programs: readonly string[], direct: boolean): HookCandidate {
  const shrinkUnusedHash = direct ? (obj: BpfObject) => void obj.map(SOCKET_HASH).resize(1) : undefined;
  return {
    hook,
    attach: (ctx: ProbeContext) =>
      openProbe(ctx, file, programs, (obj) => new TcpProbe(ctx, hook, obj, attachAll(obj, programs), direct), shrinkUnusedHash),
  };
}

export const TCP_FENTRY = candidate('fentry/tcp_set_state', 'tcp_fentry.bpf.o', ['tcp_set_state_fentry', 'tcp_reset_fentry', 'tcp_send_active_reset_fentry'], true);
export const TCP_KPROBE = candidate('kprobe/tcp_set_state', 'tcp_kprobe.bpf.o', ['tcp_set_state_kprobe', 'tcp_reset_kprobe', 'tcp_send_active_reset_kprobe', 'tcp_destroy_kprobe'], false);
/** The same tracepoints as BTF raw tracepoints: no trace record formatted per hit. */
export const TCP_TP_BTF = candidate('tp_btf/inet_sock_set_state', 'tcp.bpf.o', ['tcp_state_btf', 'tcp_send_reset_btf', 'tcp_receive_reset_btf'], true);
export const TCP_TRACEPOINT = candidate('tracepoint/sock/inet_sock_set_state', 'tcp.bpf.o', ['tcp_state_tp', 'tcp_send_reset_tp', 'tcp_receive_reset_tp', 'tcp_destroy_tp'], false);

/**
 * Tries a function-hook variant only where the kernel has the hook kind: the (cached) check loads one
 * tiny program, where the variant would load and verify its whole object before its attach fails.
 */
function whereSupported(c: HookCandidate, kind: string, check: () => FeatureResult): HookCandidate {
  return {
    hook: c.hook,
    attach(ctx: ProbeContext) {
      const result = check();
      if (!result.supported) throw new NotSupportedError(kind, result.reason);
      return c.attach(ctx);
    },
  };
}

export const tcpPlan: ProbePlan = {
  probe: 'tcp',
  candidates: [whereSupported(TCP_FENTRY, 'fentry', () => features.canAttachFentry()), whereSupported(TCP_KPROBE, 'kprobe', () => features.canAttachKprobe()), TCP_TP_BTF, TCP_TRACEPOINT],
};
