// Decodes struct pf_sock_event (tcp and retransmit probes) into FlowRecords.
import { podflow } from '../../proto/gen/flow.js';
import { newEndpoint, newProcess, newRecord, newTcp, newTraffic, Observations, transportOf } from '../../pipeline/record-factory.js';
import type { FlowRecord } from '../../pipeline/types.js';
import { durationFromNs, readU64 } from './clock.js';
import type { ProbeContext } from './context.js';
import { conversationId } from './conversation.js';
import { formatIp, isV4Mapped } from './ip.js';
import { SockEvent as L } from './layouts.js';
import { connectFailure, tcpStateName } from './names.js';
import { TextCache } from './text-cache.js';

const { RecordType, Side } = podflow.v1;
const IPPROTO_TCP = 6;
/** Process names (task comm: up to 16 bytes, NUL-terminated unless full): a node's connections come from a few processes. */
const commands = new TextCache(256, 16, (buf, start, end) => buf.toString('utf8', start, end));

function commAt(buf: Buffer, at: number): string {
  let end = at;
  while (end < at + 16 && buf[end] !== 0) end++;
  return commands.text(buf, at, end);
}

/** The tcp and retransmit probes' observations (a probe decodes with one or two hooks). */
const observations = new Map<string, Observations>();

function observationsOf(probe: string): Observations {
  let o = observations.get(probe);
  if (o === undefined) observations.set(probe, (o = new Observations(probe)));
  return o;
}

/** 0 until the socket's first RTT sample (a SYN never answered, a socket aborted early): no srtt, not a measured 0. */
function srttOf(us: number): podflow.v1.Tcp['srtt'] {
  return us > 0 ? durationFromNs(us * 1000) : undefined;
}

/** The record of the event at batch[off..off+SockEvent.size); tsNs overrides its time. */
export function decodeSockEvent(batch: Buffer, off: number, ctx: ProbeContext, probe: string, hook: string, tsNs = readU64(batch, off + L.ts_ns)): FlowRecord {
  const kind = batch[off + L.kind] ?? 0;
  // A dual-stack (AF_INET6) socket's IPv4 connection (a server listening on [::], a client connecting to
  // ::ffff:a.b.c.d) is IPv4 on the wire: its records are IPv4 like every other record of it (addresses,
  // conversationId). Its local address is mapped too, or :: before it was bound (0.0.0.0).
  const mapped = batch[off + L.ip_version] === 6 && isV4Mapped(batch, off + L.raddr);
  const ipVersion = mapped ? 4 : (batch[off + L.ip_version] ?? 4);
  const laddr = off + L.laddr + (mapped ? 12 : 0);
  const raddr = off + L.raddr + (mapped ? 12 : 0);
  const side = batch[off + L.side] ?? 0;
  const startNs = readU64(batch, off + L.start_ns);
  const lport = batch.readUInt16LE(off + L.lport);
  const rport = batch.readUInt16LE(off + L.rport);
  const local = newEndpoint(formatIp(batch, laddr, ipVersion), lport);
  const remote = newEndpoint(formatIp(batch, raddr, ipVersion), rport);
  const serverView = side === Side.SERVER;

  const record = newRecord(kind as podflow.v1.RecordType, ctx.nodeName);
  record.time = ctx.clock.toTimestamp(tsNs);
  record.conversationId = conversationId(ipVersion, IPPROTO_TCP, batch, laddr, lport, batch, raddr, rport);
  // The initiator is the source: the peer when this socket is the server's.
  record.source = serverView ? remote : local;
  record.destination = serverView ? local : remote;
  record.transport = transportOf(IPPROTO_TCP, ipVersion);
  record.observation = observationsOf(probe).of(hook, side as podflow.v1.Side);

  const srttUs = batch.readUInt32LE(off + L.srtt_us);
  const tcp = newTcp();
  tcp.state = tcpStateName(batch[off + L.state] ?? 0);
  record.tcp = tcp;
  switch (kind) {
    case RecordType.TCP_OPEN:
      tcp.srtt = srttOf(srttUs);
      break;
    case RecordType.TCP_CLOSE:
      record.traffic = newTraffic(
        readU64(batch, off + L.bytes_sent),
        batch.readUInt32LE(off + L.segs_out),
        readU64(batch, off + L.bytes_received),
        batch.readUInt32LE(off + L.segs_in),
      );
      tcp.srtt = srttOf(srttUs);
      tcp.retransmits = batch.readUInt32LE(off + L.retransmits);
      if (startNs > 0) {
        record.startTime = ctx.clock.toTimestamp(startNs);
        tcp.duration = durationFromNs(tsNs - startNs);
      }
      break;
    case RecordType.TCP_FAILED:
      tcp.failure = connectFailure(batch.readInt32LE(off + L.error));
      break;
    case RecordType.RETRANSMIT:
      tcp.srtt = srttOf(srttUs);
      tcp.retransmits = batch.readUInt32LE(off + L.retransmits);
      break;
  }

  const pid = batch.readUInt32LE(off + L.pid);
  const cgroupId = readU64(batch, off + L.cgroup_id);
  if (pid !== 0 || cgroupId !== 0) {
    const command = commAt(batch, off + L.comm);
    // The container is the enricher's to resolve from cgroupId: once per record, with its miss counting.
    record.process = newProcess(pid, command, cgroupId);
  }
  return record;
}
