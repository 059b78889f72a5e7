// dns: DNS queries and responses parsed in the kernel (TC clsact, else the
// AF_PACKET socket filter) on the configured ports, over UDP and TCP; paired
// in user space into one DNS record per query (rcode TIMEOUT without answer).
import type { FlowRecord, LossCount } from '../../pipeline/types.js';
import type { ProbeContext } from '../shared/context.js';
import type { ProbePlan } from '../shared/probe.js';
import type { OriginalDestinationMap } from '../svc/original-destinations.js';
import { decodeDnsEvent } from './decode.js';
import { DnsEvent } from '../shared/layouts.js';
import { DnsMatcher } from './matcher.js';
import { packetCandidate, type PacketHookMode } from '../shared/interface-attacher.js';
import { L7PacketProbe, type L7Handler } from '../shared/l7-packet-probe.js';
import { PacketObjects, type PacketProbeSetup } from '../shared/packet-object.js';

/** Ports the kernel side can match at once (PF_DNS_PORTS_MAX). */
export const DNS_PORTS_MAX = 4;

export interface DnsOptions {
  /** Interface names or prefix patterns ending in '*'; empty = every interface but loopback. */
  interfaces: readonly string[];
  /** UDP and TCP ports DNS is recognised on; default [53]. */
  ports?: readonly number[];
  /** A query without response for this long is reported with rcode TIMEOUT; default 5000. */
  timeoutMs?: number;
  /** Queries waiting for a response at most; default 65536. */
  maxPending?: number;
  /**
   * Service translation: the dns program reads a query's socket destination from this svc object's map in
   * the kernel (the object shares it); without it records carry what the packets showed. With `packet`,
   * the PacketObjects' own is used.
   */
  originalDestinations?: OriginalDestinationMap;
  /** The packet objects shared with flows and http; default: one of dns's own. */
  packet?: PacketObjects;
}

/** The dns_ports global: each port as u16, unused slots 0. Throws naming the bad value. */
export function encodeDnsPorts(ports: readonly number[]): Buffer {
  if (ports.length < 1 || ports.length > DNS_PORTS_MAX) {
    throw new Error(`dns ports: expected 1 to ${DNS_PORTS_MAX} ports, got ${ports.length} (${ports.join(', ')})`);
  }
  const buf = Buffer.alloc(DNS_PORTS_MAX * 2);
  ports.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`dns ports: '${p}' is not a port; expected an integer in 1..65535`);
    buf.writeUInt16LE(p, i * 2);
  });
  return buf;
}

class DnsHandler implements L7Handler {
  readonly matcher: DnsMatcher;
  #undecodable = 0;

  constructor(ctx: ProbeContext, opts: DnsOptions) {
    this.matcher = new DnsMatcher(ctx, { timeoutMs: opts.timeoutMs ?? 5000, maxPending: opts.maxPending ?? 65536 });
  }

  decode(batch: Buffer, off: number, out: FlowRecord[]): void {
    const m = decodeDnsEvent(batch, off);
    if (m) this.matcher.add(m, out);
    else this.#undecodable++;
  }

  tick(nowNs: number, out: FlowRecord[]): void {
    this.matcher.expire(nowNs, out);
  }

  stop(): void {
    this.matcher.stop();
  }

  losses(): LossCount[] {
    return [{ stage: 'decode', reason: 'dns:undecodable_event', count: this.#undecodable }, ...this.matcher.losses()];
  }

  counters(): Record<string, number> {
    return this.matcher.counters();
  }
}

/** dns's part of the packet object: the ports it recognises. Throws naming a bad port. */
export function dnsSetup(opts: DnsOptions): PacketProbeSetup {
  const ports = encodeDnsPorts(opts.ports ?? [53]);
  return { probe: 'dns', configure: (obj) => obj.setGlobal('dns_ports', ports) };
}

/** Loads the packet object (unless another probe has) with dns in it; the probe is not attached to any interface yet. */
export function createDnsProbe(ctx: ProbeContext, opts: DnsOptions, mode: PacketHookMode): L7PacketProbe {
  const packet = opts.packet ?? new PacketObjects({ interfaces: opts.interfaces, setups: [dnsSetup(opts)], originalDestinations: opts.originalDestinations });
  return new L7PacketProbe(ctx, { probe: 'dns', recordSize: DnsEvent.size, packet }, mode, new DnsHandler(ctx, opts));
}

export function dnsPlan(opts: DnsOptions): ProbePlan {
  dnsSetup(opts); // bad configuration fails here, not at attach time
  const make = (ctx: ProbeContext, mode: PacketHookMode) => createDnsProbe(ctx, opts, mode);
  return { probe: 'dns', candidates: [packetCandidate('tc', make), packetCandidate('socket_filter', make)] };
}
