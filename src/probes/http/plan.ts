// http: HTTP/1.x exchanges seen on TCP payloads in the kernel (TC clsact, else
// the AF_PACKET socket filter), paired per connection in the kernel; one HTTP
// record per request/response exchange, keep-alive connections included, and
// one per request without response (reset, closed, or none within timeoutMs).
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from '../shared/context.js';
import type { ProbePlan } from '../shared/probe.js';
import type { OriginalDestinationMap } from '../svc/original-destinations.js';
import { HttpEvent } from '../shared/layouts.js';
import { packetCandidate, type PacketHookMode } from '../shared/interface-attacher.js';
import { L7PacketProbe, type L7Handler } from '../shared/l7-packet-probe.js';
import { PacketObjects, type PacketProbeSetup } from '../shared/packet-object.js';
import type { BpfObject } from 'libbpf-ts';
import { MonotonicClock } from '../shared/clock.js';
import { decodeHttpEvent } from './decode.js';
import { PendingExchanges } from './pending.js';

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
   * Beyond it a new request is not tracked, counted as http map_full (see bpf/include/http.h).
   */
  maxPendingExchanges?: number;
  /** A request without response for this long is reported with noResponse TIMEOUT; default 30000. */
  timeoutMs?: number;
  /** The packet objects shared with flows and dns; default: one of http's own. */
  packet?: PacketObjects;
}

class HttpHandler implements L7Handler {
  readonly #ctx: ProbeContext;
  readonly #timeoutMs: number;
  #pending: PendingExchanges | undefined;
  #malformed = 0;

  constructor(ctx: ProbeContext, timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new Error(`http timeoutMs must be > 0, got ${timeoutMs}`);
    this.#ctx = ctx;
    this.#timeoutMs = timeoutMs;
  }

  /** Sweeps the requests waiting in `object`'s http_conns from now on. */
  watch(object: BpfObject): void {
    this.#pending = new PendingExchanges(object, this.#timeoutMs);
  }

  decode(batch: Buffer, off: number, out: FlowRecord[]): void {
    const r = decodeHttpEvent(batch, off, this.#ctx);
    if (r) out.push(r);
    else this.#malformed++;
  }

  /** The sweep's TIMEOUT events come through the ring buffer. */
  tick(nowNs: number): void {
    this.#pending?.sweep(nowNs);
  }

  finish(): void {
    this.#pending?.stop(MonotonicClock.nowNs());
  }

  losses(): LossCount[] {
    return [
      { stage: 'decode', reason: 'http:malformed_exchange', count: this.#malformed },
      { stage: 'decode', reason: 'http:pending_at_stop', count: this.#pending?.pendingAtStop ?? 0 },
    ];
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
  const handler = new HttpHandler(ctx, opts.timeoutMs ?? 30_000);
  const probe = new L7PacketProbe(ctx, { probe: 'http', recordSize: HttpEvent.size, packet }, mode, handler);
  handler.watch(probe.object);
  return probe;
}

export function httpPlan(opts: HttpOptions): ProbePlan {
  const make = (ctx: ProbeContext, mode: PacketHookMode) => createHttpProbe(ctx, opts, mode);
  return { probe: 'http', candidates: [packetCandidate('tc', make), packetCandidate('socket_filter', make)] };
}
