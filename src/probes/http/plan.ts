// http: HTTP/1.x exchanges seen on TCP payloads in the kernel (TC clsact, else
// the AF_PACKET socket filter), paired per connection in the kernel; one HTTP
// record per request/response exchange, keep-alive connections included.
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from '../shared/context.js';
import type { ProbePlan } from '../shared/probe.js';
import type { OriginalDestinationMap } from '../svc/original-destinations.js';
import { HttpEvent } from '../shared/layouts.js';
import { packetCandidate, type PacketHookMode } from '../shared/interface-attacher.js';
import { L7PacketProbe, type L7Handler } from '../shared/l7-packet-probe.js';
import { PacketObjects, type PacketProbeSetup } from '../shared/packet-object.js';
import { decodeHttpEvent } from './decode.js';

export interface HttpOptions {
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  interfaces: readonly string[];
  /**
   * Service translation: the http program reads the client socket's original destination from this svc
   * object's map in the kernel (the object shares it); without it records carry what the packets showed.
   * With `packet`, the PacketObjects' own is used.
   */
  originalDestinations?: OriginalDestinationMap;
  /**
   * Exchanges waiting for their response tracked at once (the kernel's http_conns map); default 65536.
   * Beyond it the oldest is evicted, uncounted (see bpf/include/http.h).
   */
  maxPendingExchanges?: number;
  /** The packet objects shared with flows and dns; default: one of http's own. */
  packet?: PacketObjects;
}

class HttpHandler implements L7Handler {
  readonly #ctx: ProbeContext;
  #malformed = 0;

  constructor(ctx: ProbeContext) {
    this.#ctx = ctx;
  }

  decode(batch: Buffer, off: number, out: FlowRecord[]): void {
    const r = decodeHttpEvent(batch, off, this.#ctx);
    if (r) out.push(r);
    else this.#malformed++;
  }

  losses(): LossCount[] {
    return [{ stage: 'decode', reason: 'http:malformed_exchange', count: this.#malformed }];
  }
}

/** http's part of the packet object. */
export function httpSetup(opts: HttpOptions): PacketProbeSetup {
  return {
    probe: 'http',
    configure: (obj) => {
      if (opts.maxPendingExchanges !== undefined) obj.map('http_conns').resize(opts.maxPendingExchanges);
    },
  };
}

/** Loads the packet object (unless another probe has) with http in it; the probe is not attached to any interface yet. */
export function createHttpProbe(ctx: ProbeContext, opts: HttpOptions, mode: PacketHookMode): L7PacketProbe {
  const packet = opts.packet ?? new PacketObjects({ interfaces: opts.interfaces, setups: [httpSetup(opts)], originalDestinations: opts.originalDestinations });
  return new L7PacketProbe(ctx, { probe: 'http', recordSize: HttpEvent.size, packet }, mode, new HttpHandler(ctx));
}

export function httpPlan(opts: HttpOptions): ProbePlan {
  const make = (ctx: ProbeContext, mode: PacketHookMode) => createHttpProbe(ctx, opts, mode);
  return { probe: 'http', candidates: [packetCandidate('tc', make), packetCandidate('socket_filter', make)] };
}
