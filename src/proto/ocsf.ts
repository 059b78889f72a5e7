// OCSF (schema 1.3.0) JSON for SIEM ingestion: Network Activity (4001) for
// FLOW, TCP_*, RETRANSMIT and DROP; HTTP Activity (4002); DNS Activity (4003).
// LOSS records are podflow's own health events and map to the Base Event
// (class 0, category 0), activity Other. type_uid = class_uid * 100 + activity_id.
// Validated against the schema's own export (test/unit/ocsf-schema.test.ts):
// strict consumers reject attributes a class or its declared profiles lack.
import { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';
import { toMillis, trafficFromDestination } from './format-util.js';
import { splitRequestTarget } from './request-target.js';

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
// 1.3.0 has no Patch activity (it came in 1.6.0): PATCH is Other, named Patch.
const HTTP_METHODS: Record<string, number> = { CONNECT: 1, DELETE: 2, GET: 3, HEAD: 4, OPTIONS: 5, POST: 6, PUT: 7, TRACE: 8 };
// The record's rcode names to OCSF's rcode_id and its caption (the rcode attribute).
const DNS_RCODES: Record<string, { id: number; caption: string }> = {
  NOERROR: { id: 0, caption: 'NoError' }, FORMERR: { id: 1, caption: 'FormError' }, SERVFAIL: { id: 2, caption: 'ServError' },
  NXDOMAIN: { id: 3, caption: 'NXDomain' }, NOTIMP: { id: 4, caption: 'NotImp' }, REFUSED: { id: 5, caption: 'Refused' },
  YXDOMAIN: { id: 6, caption: 'YXDomain' }, YXRRSET: { id: 7, caption: 'YXRRSet' }, NXRRSET: { id: 8, caption: 'NXRRSet' },
  NOTAUTH: { id: 9, caption: 'NotAuth' }, NOTZONE: { id: 10, caption: 'NotZone' }, RCODE11: { id: 11, caption: 'DSOTYPENI' },
};
/** The dns probe's rcode for a query that got no response: not an rcode at all. */
const DNS_TIMEOUT = 'TIMEOUT';
const DIRECTIONS = ['Unknown', 'Inbound', 'Outbound', 'Lateral'];
const PROTOCOL_VERSIONS: Record<number, string> = { 4: 'Internet Protocol version 4 (IPv4)', 6: 'Internet Protocol version 6 (IPv6)' };

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
      // Other (99) carries the source's word in activity_name.
      const method = (record.http?.method ?? '').toUpperCase();
      return method ? { id: HTTP_METHODS[method] ?? 99, name: method[0] + method.slice(1).toLowerCase() } : { id: 99, name: 'Other' };
    }
    case T.DNS: return record.dns?.rcode && record.dns.rcode !== DNS_TIMEOUT ? { id: 6, name: 'Traffic' } : { id: 1, name: 'Query' };
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

function endpoint(e: podflow.v1.IEndpoint | null | undefined): Obj | undefined {
  if (!e) return undefined;
  const pod = e.pod;
  return compact({
    ip: e.ip,
    port: e.port || undefined,
    name: pod?.name ? (pod.namespace ? `${pod.namespace}/${pod.name}` : pod.name) : e.service?.name || e.network || undefined,
    uid: pod?.uid,
    // The endpoint's own host name: a pod is not its node, a host-network endpoint is.
    hostname: e.hostNetwork ? e.node : undefined,
    svc_name: e.service?.name,
    container: pod?.container ? { name: pod.container } : undefined,
  });
}

/** What OCSF 1.3.0 has no attribute for (no Kubernetes object, no endpoint node): for unmapped. */
function k8s(e: podflow.v1.IEndpoint | null | undefined): Obj | undefined {
  if (!e) return undefined;
  const pod = e.pod;
  return compact({
    namespace: pod?.namespace,
    pod: pod?.name,
    workload: pod?.workload?.name ? `${pod.workload.kind ?? ''}/${pod.workload.name}` : undefined,
    service: e.service?.name ? `${e.service.namespace ?? ''}/${e.service.name}` : undefined,
    labels: pod?.labels && Object.keys(pod.labels).length ? pod.labels : undefined,
    node: e.node,
  });
}

/** Known to enrichment: a pod, a Service or a node; a configured network's IPs are outside the cluster. */
function inCluster(e: podflow.v1.IEndpoint): boolean {
  return !!(e.pod || e.service || e.node || e.hostNetwork);
}

/**
 * OCSF's direction_id is the connection's, across the network's boundary (Inbound: initiated outside),
 * not the packets' at an interface (those stay in unmapped.direction).
 */
function direction(record: FlowRecord): number {
  const s = record.source, d = record.destination;
  if (!s || !d) return 0;
  return inCluster(s) ? (inCluster(d) ? 3 : 2) : inCluster(d) ? 1 : 0;
}

/**
 * OCSF's url: hostname without the port (a separate attribute), an absolute-form target as url_string,
 * a query string (kept when redaction.httpQueryStrings is off) as query_string.
 */
function url(method: string | null | undefined, target: string | null | undefined, host: string | null | undefined): Obj {
  const t = splitRequestTarget(method, target, host);
  return compact({ url_string: t.full, scheme: t.scheme, path: t.path, query_string: t.query, hostname: t.host, port: t.port });
}

/** An observable type of 1.3.0: its type_id (objects.observable) and caption (the type attribute). */
type ObservableType = readonly [id: number, caption: string];
const HOSTNAME: ObservableType = [1, 'Hostname'];
const IP_ADDRESS: ObservableType = [2, 'IP Address'];
const URL_STRING: ObservableType = [6, 'URL String'];
const PROCESS_NAME: ObservableType = [9, 'Process Name'];
const PORT: ObservableType = [11, 'Port'];

function observe(list: Obj[], name: string, type: ObservableType, value: unknown): void {
  if (value !== undefined) list.push({ name, type: type[1], type_id: type[0], value: String(value) });
}

/** The paths of an endpoint's observables (constants: no string built per event); without port: not observed. */
interface EndpointPaths { ip: string; port?: string; hostname: string }
const SRC_PATHS: EndpointPaths = { ip: 'src_endpoint.ip', hostname: 'src_endpoint.hostname' };
const DST_PATHS: EndpointPaths = { ip: 'dst_endpoint.ip', port: 'dst_endpoint.port', hostname: 'dst_endpoint.hostname' };
const NAT_PATHS: EndpointPaths = {
  ip: 'dst_endpoint.proxy_endpoint.ip', port: 'dst_endpoint.proxy_endpoint.port', hostname: 'dst_endpoint.proxy_endpoint.hostname',
};

function observeEndpoint(list: Obj[], paths: EndpointPaths, e: Obj | undefined): void {
  if (!e) return;
  observe(list, paths.ip, IP_ADDRESS, e.ip);
  if (paths.port) observe(list, paths.port, PORT, e.port);
  observe(list, paths.hostname, HOSTNAME, e.hostname);
}

/**
 * observables, the values SIEMs index for pivoting, each named by its attribute's path: every attribute
 * the event has whose 1.3.0 type is an observable (ip_t, hostname_t, port_t, process_name_t, url_t), read
 * back from the event so names and values cannot disagree. Except the source's port (the client's
 * ephemeral port) and the pid: they identify nothing beyond one connection on one host.
 */
function observables(event: Obj): Obj[] {
  const list: Obj[] = [];
  const dst = event.dst_endpoint as Obj | undefined;
  observeEndpoint(list, SRC_PATHS, event.src_endpoint as Obj);
  observeEndpoint(list, DST_PATHS, dst);
  observeEndpoint(list, NAT_PATHS, dst?.proxy_endpoint as Obj | undefined);
  observe(list, 'device.hostname', HOSTNAME, (event.device as Obj | undefined)?.hostname);
  observe(list, 'actor.process.name', PROCESS_NAME, ((event.actor as Obj | undefined)?.process as Obj | undefined)?.name);
  const url = (event.http_request as Obj | undefined)?.url as Obj | undefined;
  if (url) {
    observe(list, 'http_request.url.url_string', URL_STRING, url.url_string);
    observe(list, 'http_request.url.hostname', HOSTNAME, url.hostname);
    observe(list, 'http_request.url.port', PORT, url.port);
  }
  observe(list, 'query.hostname', HOSTNAME, (event.query as Obj | undefined)?.hostname);
  return list;
}

/** metadata.profiles: the profiles whose attributes the event uses (strict consumers reject them otherwise). */
function profiles(event: Obj, containers: boolean): string[] | undefined {
  const used: string[] = [];
  if (event.device || event.actor) used.push('host');
  if (containers) used.push('container');
  if (event.action_id !== undefined) used.push('security_control');
  return used.length ? used : undefined;
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
      type_name: `${cls.className}: ${act.id === 99 ? 'Other' : act.name}`,
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
    };
    const metadata = event.metadata as Obj;
    if (cls === BASE_EVENT) {
      // The Base Event has no device (the host profile does not apply to it).
      const l = record.loss;
      event.message = `podflow dropped ${l?.count ?? 0} records at ${l?.stage ?? '?'}: ${l?.reason ?? '?'}`;
      event.unmapped = compact({ loss: { stage: l?.stage ?? '', reason: l?.reason ?? '', count: Number(l?.count ?? 0) }, node: record.nodeName });
      return event;
    }
    // The interface the packets were seen on is the reporting node's (a pod's host-side veth, the uplink),
    // not either endpoint's own, which is what an endpoint's interface_name means; its uid is the ifindex.
    const iface = record.interface;
    if (record.nodeName || iface?.name) {
      event.device = compact({
        hostname: record.nodeName,
        type_id: 1,
        type: 'Server',
        interface_name: iface?.name,
        interface_uid: iface?.index ? String(iface.index) : undefined,
      });
    }
    const src = endpoint(record.source);
    const dst = endpoint(record.destination);
    // The Service ClusterIP:port the client asked for before kube-proxy's DNAT. In 1.3.0 an endpoint's
    // proxy_endpoint is "the network proxy information pertaining to a specific endpoint. This can be used
    // to describe information pertaining to network address translation (NAT)": the responder's, the
    // address it was reached through. Not the class's proxy_endpoint (a proxy server in the connection,
    // network_proxy profile), nor load_balancer (no port; its ip is a node that handled the request).
    const nat = dst && endpoint(record.originalDestination);
    if (nat) dst.proxy_endpoint = nat;
    // Network classes need at least one endpoint.
    event.src_endpoint = src ?? {};
    if (dst) event.dst_endpoint = dst;
    const protocolNum = record.transport?.protocol ?? 0;
    const ipVersion = record.transport?.ipVersion ?? 0;
    const directionId = direction(record);
    event.connection_info = compact({
      uid: record.conversationId,
      protocol_num: protocolNum || undefined,
      protocol_name: protocolNum ? (podflow.v1.Protocol[protocolNum] ?? '').toLowerCase() : undefined,
      protocol_ver_id: PROTOCOL_VERSIONS[ipVersion] ? ipVersion : undefined,
      protocol_ver: PROTOCOL_VERSIONS[ipVersion],
      direction_id: directionId,
      direction: DIRECTIONS[directionId],
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
    // The process behind the socket (connect's caller). OCSF's process needs its pid: an accepted
    // socket's context is its cgroup only, whose container id is then unmapped.
    const p = record.process;
    if (p?.pid) event.actor = { process: compact({ pid: p.pid, name: p.command || undefined, container: p.containerId ? { uid: p.containerId } : undefined }) };
    // What OCSF has no attribute for: Kubernetes, the socket's side, the packets' direction at the
    // interface and TCP's state, RTT and retransmissions.
    const tcp = record.tcp;
    const side = record.observation?.side;
    event.unmapped = compact({
      src_k8s: k8s(record.source),
      dst_k8s: k8s(record.destination),
      side: side === podflow.v1.Side.CLIENT ? 'CLIENT' : side === podflow.v1.Side.SERVER ? 'SERVER' : undefined,
      direction: record.direction === podflow.v1.Direction.INGRESS ? 'INGRESS' : record.direction === podflow.v1.Direction.EGRESS ? 'EGRESS' : undefined,
      tcp: tcp ? compact({ state: tcp.state, srtt_us: tcp.srtt ? Math.round(Number(tcp.srtt.seconds ?? 0) * 1e6 + (tcp.srtt.nanos ?? 0) / 1e3) : undefined, retransmits: tcp.retransmits || undefined }) : undefined,
      cgroup_id: p?.cgroupId ? Number(p.cgroupId) : undefined,
      container_uid: p?.containerId && !p.pid ? p.containerId : undefined,
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
    const used = profiles(event, !!(src?.container || dst?.container || (p?.pid && p.containerId)));
    if (used) metadata.profiles = used;
    const pivots = observables(event);
    if (pivots.length) event.observables = pivots;
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
      url: url(h?.method, h?.path, h?.host),
    });
    if (h?.status) {
      event.http_response = compact({ code: h.status, latency: h.latency ? toMillis(h.latency) : undefined });
      event.http_status = h.status;
    } else {
      // 1.3.0 requires http_response and its code: code 0 is no response (status_detail says why).
      event.http_response = { code: 0 };
      if (h?.noResponse) {
        event.status_id = 2;
        event.status = 'Failure';
        event.status_detail = `no response: ${h.noResponse}`;
        if (h.latency) event.duration = toMillis(h.latency);
      }
    }
  }

  private dns(record: FlowRecord, event: Obj): void {
    const d = record.dns;
    // query.hostname is required: the root's name is ".".
    event.query = compact({ hostname: d?.query || '.', type: d?.qtype, packet_uid: d?.id ?? undefined });
    const answered = !!d?.rcode && d.rcode !== DNS_TIMEOUT;
    if (answered) {
      const rcode = DNS_RCODES[d.rcode!];
      event.rcode_id = rcode?.id ?? 99;
      event.rcode = rcode?.caption ?? d.rcode;
    } else if (d?.rcode === DNS_TIMEOUT) {
      event.status_id = 2;
      event.status = 'Failure';
      event.status_detail = DNS_TIMEOUT;
    }
    if (d?.answers?.length) event.answers = d.answers.map((rdata) => ({ rdata }));
    if (d?.latency) {
      if (answered) event.response_time = toMillis(record.time);
      event.query_time = toMillis(record.time) - toMillis(d.latency);
    }
  }
}
