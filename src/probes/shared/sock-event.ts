// Decodes struct pf_sock_event (tcp and retransmit probes) into FlowRecords.
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { durationFromNs, readU64 } from './clock.js';
import type { ProbeContext } from './context.js';
import { conversationId } from './conversation.js';
import { formatIp } from './ip.js';
import { SockEvent as L } from './layouts.js';
import { connectFailure, tcpStateName } from './names.js';

const { RecordType, Side, Protocol } = podflow.v1;
const IPPROTO_TCP = 6;

/** The record of the event at batch[off..off+SockEvent.size); tsNs overrides its time. */
export function decodeSockEvent(batch: Buffer, off: number, ctx: ProbeContext, probe: string, hook: string, tsNs = readU64(batch, off + L.ts_ns)): FlowRecord {
  const kind = batch[off + L.kind] ?? 0;
  const ipVersion = batch[off + L.ip_version] ?? 4;
  const side = batch[off + L.side] ?? 0;
  const startNs = readU64(batch, off + L.start_ns);
  const lport = batch.readUInt16LE(off + L.lport);
  const rport = batch.readUInt16LE(off + L.rport);
  const local = { ip: formatIp(batch, off + L.laddr, ipVersion), port: lport };
  const remote = { ip: formatIp(batch, off + L.raddr, ipVersion), port: rport };
  const serverView = side === Side.SERVER;

  const record: FlowRecord = {
    type: kind as podflow.v1.RecordType,
    time: ctx.clock.toTimestamp(tsNs),
    conversationId: conversationId(ipVersion, IPPROTO_TCP, batch, off + L.laddr, lport, batch, off + L.raddr, rport),
    nodeName: ctx.nodeName,
    // The initiator is the source: the peer when this socket is the server's.
    source: serverView ? remote : local,
    destination: serverView ? local : remote,
    transport: { protocol: Protocol.TCP, ipVersion },
    observation: { probe, hook, side: side as podflow.v1.Side },
  };

  const srttUs = batch.readUInt32LE(off + L.srtt_us);
  const state = tcpStateName(batch[off + L.state] ?? 0);
  switch (kind) {
    case RecordType.TCP_OPEN:
      record.tcp = { state, srtt: durationFromNs(srttUs * 1000) };
      break;
    case RecordType.TCP_CLOSE:
      record.traffic = {
        bytes: readU64(batch, off + L.bytes_sent),
        packets: batch.readUInt32LE(off + L.segs_out),
        bytesReceived: readU64(batch, off + L.bytes_received),
        packetsReceived: batch.readUInt32LE(off + L.segs_in),
      };
      record.tcp = { state, srtt: durationFromNs(srttUs * 1000), retransmits: batch.readUInt32LE(off + L.retransmits) };
      if (startNs > 0) {
        record.startTime = ctx.clock.toTimestamp(startNs);
        record.tcp.duration = durationFromNs(tsNs - startNs);
      }
      break;
    case RecordType.TCP_FAILED:
      record.tcp = { state, failure: connectFailure(batch.readInt32LE(off + L.error)) };
      break;
    case RecordType.RETRANSMIT:
      record.tcp = { state, srtt: durationFromNs(srttUs * 1000), retransmits: batch.readUInt32LE(off + L.retransmits) };
      break;
    default:
      record.tcp = { state };
  }

  const pid = batch.readUInt32LE(off + L.pid);
  const cgroupId = readU64(batch, off + L.cgroup_id);
  if (pid !== 0 || cgroupId !== 0) {
    const commEnd = batch.indexOf(0, off + L.comm);
    const command = batch.toString('utf8', off + L.comm, commEnd < 0 || commEnd > off + L.comm + 16 ? off + L.comm + 16 : commEnd);
    // The container is the enricher's to resolve from cgroupId: once per record, with its miss counting.
    record.process = { pid, command, cgroupId, containerId: '' };
  }
  return record;
}
