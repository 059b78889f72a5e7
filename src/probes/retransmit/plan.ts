// retransmit: one record per connection and second with the count of
// retransmitted segments (rate-limited in the kernel; the tail of a burst is
// reported from the rate limiter's map). tp_btf first (typed arguments, no
// tracefs), the classic tracepoint as fallback. The records carry the socket's
// side and process from the tcp probe's per-socket map, which the object reuses.
import type { BpfMap, BpfObject, Link } from 'libbpf-ts';
import type { ProbeContext } from '../shared/context.js';
import { RetransmitWindow, SockEvent } from '../shared/layouts.js';
import { RingBufferProbe, attachAll, openProbe, type HookCandidate, type ProbePlan } from '../shared/probe.js';
import { decodeSockEvent } from '../shared/sock-event.js';
import { QuietWindows } from '../shared/windows.js';

/** As RETRANSMIT_INTERVAL_NS in bpf/retransmit.bpf.c. */
const INTERVAL_NS = 1e9;

class RetransmitProbe extends RingBufferProbe {
  readonly #ctx: ProbeContext;
  readonly #windows: QuietWindows;
  #tails = 0;

  constructor(ctx: ProbeContext, hook: string, obj: BpfObject, links: Link[]) {
    super(ctx, 'retransmit', hook, obj, links, SockEvent.size, (b, off) => decodeSockEvent(b, off, ctx, 'retransmit', hook));
    this.#ctx = ctx;
    this.#windows = new QuietWindows(obj.map('pf_retransmit_windows'), INTERVAL_NS, { lastEmitNs: RetransmitWindow.last_emit_ns, pending: RetransmitWindow.pending });
  }

  tick(nowNs: number): void {
    const out = this.#windows.flush(nowNs, (_key, value, pending) => {
      value.writeUInt32LE(pending, RetransmitWindow.event + SockEvent.retransmits);
      return decodeSockEvent(value, RetransmitWindow.event, this.#ctx, 'retransmit', this.hook, nowNs);
    });
    if (out.length > 0) {
      this.#tails += out.length;
      this.#ctx.ingress.ingest(out);
    }
  }

  override eventsSeen(): number {
    return super.eventsSeen() + this.#tails;
  }
}

/** The tcp probe's per-socket map, when it runs (attached before this probe): its socket storage or its hash. */
export interface SocketInfoSource {
  readonly map: BpfMap | undefined;
}

/** This object's hash of per-socket info (bpf/include/sock_info.h); its socket storage costs nothing unused. */
const SOCKET_HASH = 'pf_socks';

function candidate(hook: string, program: string, sockets: SocketInfoSource): HookCandidate {
  // The object declares both of the tcp probe's maps and reuses the one of that name; its hash, unless
  // reused, stays empty: one entry is enough.
  const shareSockets = (obj: BpfObject) => {
    const tcp = sockets.map;
    const hash = obj.map(SOCKET_HASH);
    if (tcp?.name === SOCKET_HASH) {
      hash.resize(tcp.maxEntries).reuse(tcp);
      return;
    }
    hash.resize(1);
    if (tcp) obj.map(tcp.name).reuse(tcp);
  };
  return {
    hook,
    attach: (ctx: ProbeContext) => openProbe(ctx, 'retransmit.bpf.o', [program], (obj) => new RetransmitProbe(ctx, hook, obj, attachAll(obj, [program])), shareSockets),
  };
}

export function retransmitPlan(sockets: SocketInfoSource): ProbePlan {
  return {
    probe: 'retransmit',
    candidates: [candidate('tp_btf/tcp_retransmit_skb', 'retransmit_btf', sockets), candidate('tracepoint/tcp/tcp_retransmit_skb', 'retransmit_tp', sockets)],
  };
}
