// OCSF (schema 1.3.0) JSON for SIEM ingestion: Network Activity (4001) for
// FLOW, TCP_*, RETRANSMIT and DROP; HTTP Activity (4002); DNS Activity (4003).
// LOSS records are podflow's own health events and map to the Base Event
// (class 0, category 0), activity Other. type_uid = class_uid * 100 + activity_id.
import { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';
import { toMillis, trafficFromDestination } from './format-util.js';

const T = podflow.v1.RecordType;
export const OCSF_SCHEMA_VERSION = '1.3.0';

interface OcsfClass {
  classUid: number;
  className: string;
  categoryUid: number;
  categoryName: string;
}

const NETWORK_ACTIVITY: OcsfClass = { classUid: 4001, className: 'Network Activity', categoryUid: 4, categoryName: 'Network Activity' };
const HTTP_ACTIVITY: OcsfClass = { classUid: 4002, className: 'HTTP Activity', categoryUid: 4, categoryName: 'Network Activity' };
const DNS_ACTIVITY: OcsfClass = { classUid: 4003, className: 'DNS Activity', categoryUid: 4, categoryName: 'Network Activity' };
const BASE_EVENT: OcsfClass = { classUid: 0, className: 'Base Event', categoryUid: 0, categoryName: 'Uncategorized' };

const NETWORK_ACTIVITY_NAMES: Record<number, string> = { 1: 'Open', 2: 'Close', 3: 'Reset', 4: 'Fail', 5: 'Refuse', 6: 'Traffic', 99: 'Other' };
const HTTP_METHODS: Record<string, number> = { CONNECT: 1, DELETE: 2, GET: 3, HEAD: 4, OPTIONS: 5, POST: 6, PUT: 7, TRACE: 8, PATCH: 9 };
const DNS_RCODES: Record<string, number> = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, YXDOMAIN: 6, YXRRSET: 7, NXRRSET: 8, NOTAUTH: 9, NOTZONE: 10,
};

function classOf(type: number): OcsfClass {
  if (type === T.HTTP) return HTTP_ACTIVITY;
  if (type === T.DNS) return DNS_ACTIVITY;
  if (type === T.LOSS || type === T.RECORD_TYPE_UNSPECIFIED) return BASE_EVENT;
  return NETWORK_ACTIVITY;
}

function activity(record: FlowRecord): { id: number; name: string } {
  switch (record.type) {
    case T.TCP_OPEN: return { id: 1, name: 'Open' };
    case T.TCP_CLOSE: return { id: 2, name: 'Close' };
    case T.TCP_RESET: return { id: 3, name: 'Reset' };
    case T.TCP_FAILED: return record.tcp?.failure === 'REFUSED' ? { id: 5, name: 'Refuse' } : { id: 4, name: 'Fail' };
    case T.FLOW:
    case T.DROP:
    case T.RETRANSMIT: return { id: 6, name: NETWORK_ACTIVITY_NAMES[6] };
    case T.HTTP: {
      const method = (record.http?.method ?? '').toUpperCase();
      const id = HTTP_METHODS[method];
      return id ? { id, name: method[0] + method.slice(1).toLowerCase() } : { id: 99, name: 'Other' };
    }
    case T.DNS: return record.dns?.rcode ? { id: 6, name: 'Traffic' } : { id: 1, name: 'Query' };
    default: return { id: 99, name: 'Other' };
  }
}

type Obj = Record<string, unknown>;

/** Drops undefined, empty-string and empty-object members so the output has no noise. */
function compact(o: Obj): Obj {
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (v === undefined || v === null || v === '' || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as Obj).length === 0)) delete o[key];
  }
  return o;
}

function endpoint(e: podflow.v1.IEndpoint | null | undefined, interfaceName: string | undefined): Obj | undefined {
  if (!e) return undefined;
  const pod = e.pod;
  const k8s = compact({
    namespace: pod?.namespace,
    pod: pod?.name,
    workload: pod?.workload?.name ? `${pod.workload.kind ?? ''}/${pod.workload.name}` : undefined,
    service: e.service?.name ? `${e.service.namespace ?? ''}/${e.service.name}` : undefined,
    labels: pod?.labels && Object.keys(pod.labels).length ? pod.labels : undefined,
  });
  return compact({
    ip: e.ip,
    port: e.port || undefined,
    name: pod?.name ? (pod.namespace ? `${pod.namespace}/${pod.name}` : pod.name) : e.service?.name || e.network || undefined,
    uid: pod?.uid,
    hostname: e.node,
    interface_name: interfaceName,
    container: pod?.container ? { name: pod.container } : undefined,
    // OCSF has no Kubernetes object: keep it beside the standard attributes.
    k8s,
  });
}

function severity(record: FlowRecord): { id: number; name: string } {
  const type = record.type;
  if (type === T.DROP || type === T.TCP_FAILED || type === T.TCP_RESET || type === T.RETRANSMIT || record.http?.noResponse) return { id: 2, name: 'Low' };
  if (type === T.LOSS) return { id: 3, name: 'Medium' };
  return { id: 1, name: 'Informational' };
}

export interface OcsfOptions {
  /** metadata.product.version: the podflow version. */
  productVersion: string;
}

export class OcsfEncoder {
  constructor(private readonly options: OcsfOptions) {}

  /** The OCSF event object of a record. */
  toOcsf(record: FlowRecord): Obj {
    const type = record.type ?? 0;
    const cls = classOf(type);
    const act = activity(record);
    const sev = severity(record);
    const time = toMillis(record.time);
    const event: Obj = {
      activity_id: act.id,
      activity_name: act.name,
      category_uid: cls.categoryUid,
      category_name: cls.categoryName,
      class_uid: cls.classUid,
      class_name: cls.className,
      type_uid: cls.classUid * 100 + act.id,
      type_name: `${cls.className}: ${act.name}`,
      severity_id: sev.id,
      severity: sev.name,
      time,
      metadata: compact({
        version: OCSF_SCHEMA_VERSION,
        uid: record.id,
        correlation_uid: record.conversationId,
        log_name: podflow.v1.RecordType[type],
        product: { name: 'podflow', vendor_name: 'podflow', version: this.options.productVersion },
      }),
      device: compact({ hostname: record.nodeName, type_id: 1, type: 'Server' }),
    };
    if (cls === BASE_EVENT) {
      const l = record.loss;
      event.message = `podflow dropped ${l?.count ?? 0} records at ${l?.stage ?? '?'}: ${l?.reason ?? '?'}`;
      event.unmapped = { loss: { stage: l?.stage ?? '', reason: l?.reason ?? '', count: Number(l?.count ?? 0) } };
      return event;
    }
    const iface = record.interface?.name || undefined;
    const src = endpoint(record.source, iface);
    const dst = endpoint(record.destination, iface);
    // Network classes need at least one endpoint.
    event.src_endpoint = src ?? {};
    if (dst) event.dst_endpoint = dst;
    const protocolNum = record.transport?.protocol ?? 0;
    event.connection_info = compact({
      uid: record.conversationId,
      protocol_num: protocolNum || undefined,
      protocol_name: protocolNum ? (podflow.v1.Protocol[protocolNum] ?? '').toLowerCase() : undefined,
      protocol_ver_id: record.transport?.ipVersion || undefined,
      direction_id: record.direction === podflow.v1.Direction.INGRESS ? 1 : record.direction === podflow.v1.Direction.EGRESS ? 2 : 0,
      tcp_flags: record.tcp?.flags || undefined,
    });
    const t = record.traffic;
    if (t) {
      // OCSF's out and in are source -> destination and back.
      const swap = trafficFromDestination(record);
      const out = Number((swap ? t.bytesReceived : t.bytes) ?? 0), outPkts = Number((swap ? t.packetsReceived : t.packets) ?? 0);
      const inb = Number((swap ? t.bytes : t.bytesReceived) ?? 0), inPkts = Number((swap ? t.packets : t.packetsReceived) ?? 0);
      event.traffic = { bytes_out: out, packets_out: outPkts, bytes_in: inb, packets_in: inPkts, bytes: out + inb, packets: outPkts + inPkts };
    }
    // The process behind the socket (connect's caller; an accepted socket's cgroup only).
    const p = record.process;
    if (p) {
      const process = compact({ pid: p.pid || undefined, name: p.command || undefined, container: p.containerId ? { uid: p.containerId } : undefined });
      if (Object.keys(process).length > 0) event.actor = { process };
    }
    // What OCSF has no attribute for: the socket's side and TCP's state, RTT and retransmissions.
    const tcp = record.tcp;
    const side = record.observation?.side;
    event.unmapped = compact({
      side: side === podflow.v1.Side.CLIENT ? 'CLIENT' : side === podflow.v1.Side.SERVER ? 'SERVER' : undefined,
      tcp: tcp ? compact({ state: tcp.state, srtt_us: tcp.srtt ? Math.round(Number(tcp.srtt.seconds ?? 0) * 1e6 + (tcp.srtt.nanos ?? 0) / 1e3) : undefined, retransmits: tcp.retransmits || undefined }) : undefined,
      cgroup_id: p?.cgroupId ? Number(p.cgroupId) : undefined,
    });
    if (record.startTime) event.start_time = toMillis(record.startTime);
    if (record.tcp?.duration) event.duration = toMillis(record.tcp.duration);
    if (type === T.DROP) {
      event.action_id = 2;
      event.action = 'Denied';
      event.status_id = 2;
      event.status = 'Failure';
      event.status_code = String(record.drop?.code ?? 0);
      event.status_detail = record.drop?.reason || undefined;
    } else if (type === T.TCP_FAILED) {
      event.status_id = 2;
      event.status = 'Failure';
      event.status_detail = record.tcp?.failure || undefined;
    }
    if (type === T.HTTP) this.http(record, event);
    if (type === T.DNS) this.dns(record, event);
    return compact(event);
  }

  encode(record: FlowRecord): string {
    return JSON.stringify(this.toOcsf(record));
  }

  private http(record: FlowRecord, event: Obj): void {
    const h = record.http;
    event.http_request = compact({
      http_method: h?.method,
      version: h?.version,
      url: compact({ path: h?.path, hostname: h?.host }),
    });
    if (h?.status) {
      event.http_response = compact({ code: h.status, latency: h.latency ? toMillis(h.latency) : undefined });
      event.http_status = h.status;
    } else if (h?.noResponse) {
      event.status_id = 2;
      event.status = 'Failure';
      event.status_detail = `no response: ${h.noResponse}`;
      if (h.latency) event.duration = toMillis(h.latency);
    }
  }

  private dns(record: FlowRecord, event: Obj): void {
    const d = record.dns;
    event.query = compact({ hostname: d?.query ?? '', type: d?.qtype, packet_uid: d?.id ?? undefined });
    if (d?.rcode) {
      event.rcode = d.rcode;
      event.rcode_id = DNS_RCODES[d.rcode] ?? 99;
    }
    if (d?.answers?.length) event.answers = d.answers.map((rdata) => ({ rdata }));
    if (d?.latency) {
      event.response_time = toMillis(record.time);
      event.query_time = toMillis(record.time) - toMillis(d.latency);
    }
  }
}
