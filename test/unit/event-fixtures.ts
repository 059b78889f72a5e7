// Kernel event structs written by hand for the decoder tests: the flow tuple
// and the svc-written original destination, laid out as bpf/include/events.h
// (offsets from src/probes/shared/layouts.ts).
import { ipBytes } from '../../src/enrich/ip.js';
import { FlowKey as T, SvcOrig as O } from '../../src/probes/shared/layouts.js';

export interface TupleFields {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  protocol: number;
}

/** A struct pf_flow_key at `at` of `ev` (IP version from the source address). */
export function writeTuple(ev: Buffer, at: number, t: TupleFields): void {
  const s = ipBytes(t.saddr)!;
  Buffer.from(s.bytes).copy(ev, at + T.saddr);
  Buffer.from(ipBytes(t.daddr)!.bytes).copy(ev, at + T.daddr);
  ev.writeUInt16LE(t.sport, at + T.sport);
  ev.writeUInt16LE(t.dport, at + T.dport);
  ev[at + T.ip_version] = s.ipVersion;
  ev[at + T.protocol] = t.protocol;
}

/** A struct pf_svc_orig at `at` of `ev`, as the kernel writes it from the svc map. */
export function writeOrig(ev: Buffer, at: number, orig: { ip: string; port: number }): void {
  const a = ipBytes(orig.ip)!;
  Buffer.from(a.bytes).copy(ev, at + O.addr);
  ev.writeUInt16LE(orig.port, at + O.port);
  ev[at + O.ip_version] = a.ipVersion;
}
