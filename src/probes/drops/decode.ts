// Decodes struct pf_drop_event into DROP records, naming the reason from the
// running kernel's enum skb_drop_reason.
import { podflow } from '../../proto/gen/flow.js';
import { newEndpoint, newRecord, Observations, transportOf } from '../../pipeline/record-factory.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from '../shared/clock.js';
import type { ProbeContext } from '../shared/context.js';
import { conversationId } from '../shared/conversation.js';
import { formatIp } from '../shared/ip.js';
import { DropEvent as L } from '../shared/layouts.js';

const observations = new Observations('drops');

/** The record of the event at batch[off..]; tsNs overrides its time (a rate-limiter entry has none). */
export function decodeDropEvent(batch: Buffer, off: number, ctx: ProbeContext, reasons: ReadonlyMap<number, string>, hook: string, tsNs?: number): FlowRecord {
  const code = batch.readUInt32LE(off + L.reason);
  const ifindex = batch.readUInt32LE(off + L.ifindex);
  const ipVersion = batch[off + L.ip_version] ?? 0;
  const record = newRecord(podflow.v1.RecordType.DROP, ctx.nodeName);
  record.time = ctx.clock.toTimestamp(tsNs ?? readU64(batch, off + L.ts_ns));
  if (ipVersion === 4 || ipVersion === 6) {
    const protocol = batch[off + L.protocol] ?? 0;
    const sport = batch.readUInt16LE(off + L.sport);
    const dport = batch.readUInt16LE(off + L.dport);
    record.conversationId = conversationId(ipVersion, protocol, batch, off + L.saddr, sport, batch, off + L.daddr, dport);
    record.source = newEndpoint(formatIp(batch, off + L.saddr, ipVersion), sport);
    record.destination = newEndpoint(formatIp(batch, off + L.daddr, ipVersion), dport);
    record.transport = transportOf(protocol, ipVersion);
  }
  if (ifindex) record.interface = ctx.interfaces.message(ifindex);
  record.drop = { reason: reasons.get(code) ?? `UNKNOWN_${code}`, code, count: batch.readUInt32LE(off + L.count) };
  record.observation = observations.of(hook);
  return record;
}
