// Decodes struct pf_drop_event into DROP records, naming the reason from the
// running kernel's enum skb_drop_reason.
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { DropEvent as L } from '../shared/layouts.js';

/** The record of the event at batch[off..]; tsNs overrides its time (a rate-limiter entry has none). */
export function decodeDropEvent(batch: Buffer, off: number, ctx: ProbeContext, reasons: ReadonlyMap<number, string>, hook: string, tsNs?: number): FlowRecord {
  const code = batch.readUInt32LE(off + L.reason);
  const ifindex = batch.readUInt32LE(off + L.ifindex);
  const ipVersion = batch[off + L.ip_version] ?? 0;
  const record: FlowRecord = {
    type: podflow.v1.RecordType.DROP,
    time: ctx.clock.toTimestamp(tsNs ?? readU64(batch, off + L.ts_ns)),
    nodeName: ctx.nodeName,
    drop: { reason: reasons.get(code) ?? `UNKNOWN_${code}`, code, count: batch.readUInt32LE(off + L.count) },
    observation: { probe: 'drops', hook, side: podflow.v1.Side.UNKNOWN },
  };
  if (ifindex) record.interface = { index: ifindex, name: ctx.interfaces.name(ifindex) ?? '' };
  if (ipVersion === 4 || ipVersion === 6) {
    const protocol = batch[off + L.protocol] ?? 0;
    const sport = batch.readUInt16LE(off + L.sport);
    const dport = batch.readUInt16LE(off + L.dport);
    record.source = { ip: formatIp(batch, off + L.saddr, ipVersion), port: sport };
    record.destination = { ip: formatIp(batch, off + L.daddr, ipVersion), port: dport };
    record.transport = { protocol: protocol as podflow.v1.Protocol, ipVersion };
    record.conversationId = conversationId(ipVersion, protocol, batch, off + L.saddr, sport, batch, off + L.daddr, dport);
  }
  return record;
}
