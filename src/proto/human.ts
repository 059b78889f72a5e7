// The human line format of `podflow run` and `podflow observe`, one line per
// record, in the spirit of `hubble observe`:
//   12:00:01.123 default/frontend-7d9 -> default/backend-5c2 HTTP GET /api/users 200 325ms
// Endpoints show as namespace/pod where known, else namespace/service (a
// ClusterIP), else IP:port. Times are UTC.
// Socket-level records (TCP open/close/failed/reset, retransmits) say which
// socket saw them, [client] or [server]: two local pods give one record per
// side, and without it the two lines would look the same.
// The parts (time, endpoint, detail) are exported for `podflow observe -o table`.
import { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';
import { hostPort, humanBytes, humanDuration, tcpFlagNames, toMillis, trafficFromDestination } from './format-util.js';

const T = podflow.v1.RecordType;
const PROTOCOL_NAMES = podflow.v1.Protocol as unknown as Record<number, string>;

/** HH:MM:SS.mmm of the record's time, UTC. */
export function formatTime(record: FlowRecord): string {
  const ms = toMillis(record.time);
  // Clamp to the Date range so a wild timestamp still prints.
  return new Date(Math.max(-8.64e15, Math.min(8.64e15, ms))).toISOString().slice(11, 23);
}

/**
 * namespace/pod, else namespace/service (a Service's ClusterIP: what a client
 * socket is connected to), with :port when asked and known, as `hubble observe`
 * names endpoints; IP:port otherwise; "?" when absent.
 */
export function formatEndpoint(e: podflow.v1.IEndpoint | null | undefined, withPort: boolean): string {
  if (!e) return '?';
  const named = e.pod?.name ? e.pod : e.service?.name ? e.service : undefined;
  if (named) {
    const name = named.namespace ? `${named.namespace}/${named.name}` : named.name!;
    return withPort && e.port ? `${name}:${e.port}` : name;
  }
  return hostPort(e.ip, e.port);
}

function protocol(record: FlowRecord): string {
  const p = record.transport?.protocol;
  return p ? (PROTOCOL_NAMES[p] ?? `PROTO${p}`) : '';
}

function join(...parts: (string | undefined | null | false)[]): string {
  let out = '';
  for (const part of parts) if (part) out = out ? `${out} ${part}` : part;
  return out;
}

/** "<source to destination> / <destination to source>", whichever socket counted them. */
function traffic(record: FlowRecord): string {
  const t = record.traffic;
  if (!t) return '';
  const sent = `${humanBytes(t.bytes)} ${t.packets ?? 0}pkt`;
  const received = `${humanBytes(t.bytesReceived)} ${t.packetsReceived ?? 0}pkt`;
  if (trafficFromDestination(record)) return `${received} / ${sent}`;
  return t.bytesReceived || t.packetsReceived ? `${sent} / ${received}` : sent;
}

/** "[client]" or "[server]" for records of one socket; "" when the side is unknown. */
function side(record: FlowRecord): string {
  const s = record.observation?.side;
  return s === podflow.v1.Side.CLIENT ? '[client]' : s === podflow.v1.Side.SERVER ? '[server]' : '';
}

function flags(record: FlowRecord): string {
  const names = tcpFlagNames(record.tcp?.flags);
  return names.length ? `[${names.join(',')}]` : '';
}

/** L4 records show the endpoints' ports; HTTP and DNS records name the pods only (the port is the protocol's). */
export function endpointsShowPorts(record: FlowRecord): boolean {
  return record.type !== T.HTTP && record.type !== T.DNS;
}

/** What happened, after the endpoints: "TCP open [client] srtt 1ms", "HTTP GET /api 200 3ms", "LOSS ingest queue_full: 3 dropped". */
export function formatDetail(record: FlowRecord): string {
  const tcp = record.tcp;
  switch (record.type) {
    case T.LOSS: {
      const l = record.loss;
      return `LOSS ${l?.stage ?? '?'} ${l?.reason ?? '?'}: ${l?.count ?? 0} dropped`;
    }
    case T.FLOW:
      return join('FLOW', protocol(record), traffic(record), flags(record));
    case T.TCP_OPEN:
      return join('TCP open', side(record), tcp?.srtt && `srtt ${humanDuration(tcp.srtt)}`);
    case T.TCP_CLOSE:
      return join('TCP close', side(record), traffic(record), tcp?.duration && humanDuration(tcp.duration), tcp?.srtt && `srtt ${humanDuration(tcp.srtt)}`, tcp?.retransmits ? `${tcp.retransmits} retrans` : '');
    case T.TCP_FAILED:
      return join('TCP failed', side(record), tcp?.failure || tcp?.state);
    case T.TCP_RESET:
      return join('TCP reset', side(record), tcp?.state);
    case T.RETRANSMIT:
      return join('TCP retransmit', side(record), `${tcp?.retransmits ?? 0} segments`, tcp?.state);
    case T.DROP:
      return join('DROP', protocol(record), record.drop?.reason || `code ${record.drop?.code ?? 0}`, record.drop?.count ? `${record.drop.count}pkt` : '');
    case T.DNS: {
      const d = record.dns;
      return join('DNS', d?.qtype, d?.query || '?', d?.rcode, d?.answers?.length ? d.answers.join(',') : '', d?.latency && humanDuration(d.latency));
    }
    case T.HTTP: {
      const h = record.http;
      const outcome = h?.noResponse ? `no response (${h.noResponse})` : h?.status ? String(h.status) : '';
      return join('HTTP', h?.method, h?.path, outcome, h?.latency && humanDuration(h.latency));
    }
    default:
      return join(podflow.v1.RecordType[record.type ?? 0] ?? `TYPE${record.type}`, protocol(record));
  }
}

/** One human-readable line (no newline) for any record, LOSS included. */
export function formatHuman(record: FlowRecord): string {
  if (record.type === T.LOSS) return `${formatTime(record)} ${formatDetail(record)}`;
  const ports = endpointsShowPorts(record);
  return `${formatTime(record)} ${formatEndpoint(record.source, ports)} -> ${formatEndpoint(record.destination, ports)} ${formatDetail(record)}`;
}
