// FlowRecord -> OTLP log attributes. OpenTelemetry semantic-convention names
// where one exists (source.address, network.transport, k8s.pod.name under a
// source./destination. prefix, http.request.method, dns.question.name, ...);
// podflow.* for what has no convention. Only fields that are set appear.
//
// The attributes are produced as a stream of (key, value) calls rather than
// an object: the sink's log encoder (otlp-log-encoder.ts) writes each one
// straight into protobuf, so no per-record attribute object exists. Every key
// appears at most once per record (label keys live under their own
// `.k8s.pod.label.` prefix), which the streaming encoder relies on.
import { SeverityNumber } from '@opentelemetry/api-logs';
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord } from '../types.js';
import { splitRequestTarget } from '../../proto/request-target.js';

const T = podflow.v1.RecordType;
const TYPE_NAMES = podflow.v1.RecordType as unknown as Record<number, string>;
const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp', 132: 'sctp' };
const SIDE_NAMES: Record<number, string> = { 1: 'client', 2: 'server' };
const DIRECTION_NAMES: Record<number, string> = { 1: 'receive', 2: 'transmit' };
// Workload kind -> the semantic-convention attribute naming it.
const WORKLOAD_ATTRIBUTES: Record<string, string> = {
  Deployment: 'k8s.deployment.name',
  StatefulSet: 'k8s.statefulset.name',
  DaemonSet: 'k8s.daemonset.name',
  ReplicaSet: 'k8s.replicaset.name',
  Job: 'k8s.job.name',
  CronJob: 'k8s.cronjob.name',
};

type Endpoint = podflow.v1.IEndpoint;
type Pod = podflow.v1.IPod;
type TimeLike = { seconds?: number | Long | null; nanos?: number | null } | null | undefined;
type Long = { toNumber(): number };

/** An int64 field (a number, or a protobufjs Long) as a number. */
export function toNumber(v: number | Long | null | undefined): number {
  return typeof v === 'number' ? v : v ? v.toNumber() : 0;
}

/** Seconds of a Timestamp/Duration as a double. */
export function seconds(t: TimeLike): number {
  return t ? toNumber(t.seconds) + (t.nanos ?? 0) / 1e9 : 0;
}

/** A log attribute value as podflow produces them. */
export type LogAttributeValue = string | number | boolean | string[];

/** Receives one record's attributes, in order. */
export interface LogAttributeSink {
  attribute(key: string, value: LogAttributeValue): void;
  /** Takes an endpoint's pod attributes as a whole (else they arrive one by one through attribute()). */
  pod?(side: EndpointSide, pod: Pod): void;
}

function put(attrs: LogAttributeSink, key: string, value: string | number | boolean | null | undefined | Long): void {
  if (value === null || value === undefined || value === '' || value === 0 || value === false) return;
  attrs.attribute(key, typeof value === 'object' ? value.toNumber() : value);
}

/** The per-endpoint attribute names under one prefix, built once rather than per record. */
function endpointKeys(prefix: 'source' | 'destination') {
  const k = (name: string) => `${prefix}.${name}`;
  return {
    side: prefix,
    address: k('address'), port: k('port'), podName: k('k8s.pod.name'), namespace: k('k8s.namespace.name'),
    podUid: k('k8s.pod.uid'), container: k('k8s.container.name'), workloadKind: k('k8s.workload.kind'),
    workload: new Map(Object.entries(WORKLOAD_ATTRIBUTES).map(([kind, attr]) => [kind, k(attr)])),
    workloadName: k('k8s.workload.name'),
    label: k('k8s.pod.label.'), serviceName: k('k8s.service.name'), serviceNamespace: k('k8s.service.namespace'),
    node: k('k8s.node.name'), hostNetwork: k('host_network'), network: k('network.name'),
  };
}
const SOURCE = endpointKeys('source');
const DESTINATION = endpointKeys('destination');
export type EndpointSide = typeof SOURCE.side;

/** The attributes of an endpoint's pod, in order: they depend only on the pod and the side. */
export function writePodAttributes(attrs: LogAttributeSink, side: EndpointSide, pod: Pod): void {
  const keys = side === 'source' ? SOURCE : DESTINATION;
  put(attrs, keys.podName, pod.name);
  put(attrs, keys.namespace, pod.namespace);
  put(attrs, keys.podUid, pod.uid);
  put(attrs, keys.container, pod.container);
  const kind = pod.workload?.kind;
  if (kind && pod.workload?.name) {
    put(attrs, keys.workload.get(kind) ?? keys.workloadName, pod.workload.name);
    put(attrs, keys.workloadKind, kind);
  }
  if (pod.labels) for (const [k, v] of Object.entries(pod.labels)) put(attrs, keys.label + k, v);
}

function endpoint(attrs: LogAttributeSink, keys: typeof SOURCE, e: Endpoint | null | undefined): void {
  if (!e) return;
  put(attrs, keys.address, e.ip);
  put(attrs, keys.port, e.port);
  if (e.pod) {
    if (attrs.pod) attrs.pod(keys.side, e.pod);
    else writePodAttributes(attrs, keys.side, e.pod);
  }
  if (e.service) {
    put(attrs, keys.serviceName, e.service.name);
    put(attrs, keys.serviceNamespace, e.service.namespace);
  }
  put(attrs, keys.node, e.node);
  put(attrs, keys.hostNetwork, e.hostNetwork);
  put(attrs, keys.network, e.network);
}

/** Streams the record's log attributes into `attrs`, only those set. */
export function writeLogAttributes(r: FlowRecord, attrs: LogAttributeSink): void {
  put(attrs, 'podflow.record.id', r.id);
  put(attrs, 'podflow.record.type', TYPE_NAMES[r.type ?? 0]);
  put(attrs, 'podflow.conversation.id', r.conversationId);
  endpoint(attrs, SOURCE, r.source);
  endpoint(attrs, DESTINATION, r.destination);
  if (r.originalDestination) {
    put(attrs, 'podflow.original_destination.address', r.originalDestination.ip);
    put(attrs, 'podflow.original_destination.port', r.originalDestination.port);
    put(attrs, 'podflow.original_destination.k8s.service.name', r.originalDestination.service?.name);
  }
  if (r.transport) {
    put(attrs, 'network.transport', PROTOCOL_NAMES[r.transport.protocol ?? 0]);
    put(attrs, 'network.type', r.transport.ipVersion ? `ipv${r.transport.ipVersion}` : undefined);
  }
  put(attrs, 'network.interface.name', r.interface?.name);
  put(attrs, 'network.io.direction', DIRECTION_NAMES[r.direction ?? 0]);
  if (r.startTime) attrs.attribute('podflow.start_time', seconds(r.startTime));
  const tr = r.traffic;
  if (tr) {
    put(attrs, 'podflow.traffic.bytes', tr.bytes);
    put(attrs, 'podflow.traffic.packets', tr.packets);
    put(attrs, 'podflow.traffic.bytes_received', tr.bytesReceived);
    put(attrs, 'podflow.traffic.packets_received', tr.packetsReceived);
  }
  const tcp = r.tcp;
  if (tcp) {
    put(attrs, 'podflow.tcp.flags', tcp.flags);
    if (tcp.srtt) attrs.attribute('podflow.tcp.srtt', seconds(tcp.srtt));
    put(attrs, 'podflow.tcp.retransmits', tcp.retransmits);
    if (tcp.duration) attrs.attribute('podflow.tcp.duration', seconds(tcp.duration));
    put(attrs, 'podflow.tcp.state', tcp.state);
    put(attrs, 'podflow.tcp.failure', tcp.failure);
  }
  const p = r.process;
  if (p) {
    put(attrs, 'process.pid', p.pid);
    // comm is the thread's name, cut at 15 bytes: not process.executable.name (the executable's base name).
    put(attrs, 'podflow.process.comm', p.command);
    put(attrs, 'podflow.process.cgroup_id', p.cgroupId);
    put(attrs, 'container.id', p.containerId);
  }
  if (r.drop) {
    put(attrs, 'podflow.drop.reason', r.drop.reason);
    put(attrs, 'podflow.drop.code', r.drop.code);
    put(attrs, 'podflow.drop.count', r.drop.count);
  }
  const dns = r.dns;
  if (dns) {
    put(attrs, 'dns.question.name', dns.query);
    put(attrs, 'podflow.dns.id', dns.id);
    put(attrs, 'podflow.dns.qtype', dns.qtype);
    put(attrs, 'podflow.dns.rcode', dns.rcode);
    if (dns.answers && dns.answers.length > 0) attrs.attribute('dns.answers', dns.answers);
    if (dns.latency) attrs.attribute('podflow.dns.latency', seconds(dns.latency));
    put(attrs, 'podflow.dns.truncated', dns.truncated);
  }
  const http = r.http;
  if (http) {
    put(attrs, 'http.request.method', http.method);
    writeTarget(attrs, http.method, http.path, http.host);
    put(attrs, 'http.response.status_code', http.status);
    put(attrs, 'network.protocol.version', http.version?.replace(/^HTTP\//, ''));
    if (http.latency) attrs.attribute('podflow.http.latency', seconds(http.latency));
    put(attrs, 'podflow.http.no_response', http.noResponse);
  }
  if (r.loss) {
    put(attrs, 'podflow.loss.stage', r.loss.stage);
    put(attrs, 'podflow.loss.reason', r.loss.reason);
    put(attrs, 'podflow.loss.count', r.loss.count);
  }
  const o = r.observation;
  if (o) {
    put(attrs, 'podflow.probe', o.probe);
    put(attrs, 'podflow.hook', o.hook);
    put(attrs, 'podflow.side', SIDE_NAMES[o.side ?? 0]);
  }
}

/** The request target and Host as the conventions split them (url.*, server.address without the port, server.port). */
function writeTarget(attrs: LogAttributeSink, method: string | null | undefined, target: string | null | undefined, host: string | null | undefined): void {
  const t = splitRequestTarget(method, target, host);
  put(attrs, 'url.full', t.full);
  put(attrs, 'url.scheme', t.scheme);
  put(attrs, 'url.path', t.path);
  put(attrs, 'url.query', t.query);
  put(attrs, 'url.fragment', t.fragment);
  put(attrs, 'server.address', t.host);
  put(attrs, 'server.port', t.port);
}

/**
 * Plain traffic and completed exchanges are INFO; what an operator should look
 * at (drops, failed connects, resets, retransmits, DNS errors, HTTP 5xx or
 * no response) is
 * WARN; podflow's own data loss is ERROR.
 */
export function severityOf(r: FlowRecord): { number: SeverityNumber; text: string } {
  switch (r.type) {
    case T.LOSS:
      return ERROR;
    case T.DROP:
    case T.TCP_FAILED:
    case T.TCP_RESET:
    case T.RETRANSMIT:
      return WARN;
    case T.DNS:
      return r.dns?.rcode && r.dns.rcode !== 'NOERROR' ? WARN : INFO;
    case T.HTTP:
      return (r.http?.status ?? 0) >= 500 || r.http?.noResponse ? WARN : INFO;
    default:
      return INFO;
  }
}

const INFO = { number: SeverityNumber.INFO, text: 'INFO' };
const WARN = { number: SeverityNumber.WARN, text: 'WARN' };
const ERROR = { number: SeverityNumber.ERROR, text: 'ERROR' };

/** The log record's event name, e.g. "podflow.tcp_close". */
export function eventNameOf(r: FlowRecord): string {
  return EVENT_NAMES[r.type ?? 0] ?? 'podflow.record';
}

const EVENT_NAMES: Record<number, string> = Object.fromEntries(
  (Object.entries(podflow.v1.RecordType) as [string, number][]).filter(([, n]) => n > 0).map(([name, n]) => [n, `podflow.${name.toLowerCase()}`]),
);
