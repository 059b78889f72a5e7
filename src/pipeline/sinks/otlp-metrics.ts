// Metrics derived from the record stream: traffic by workload pair, TCP RTT,
// DNS and HTTP latency histograms, failed connections and retransmits.
//
// Cardinality stays bounded three ways: metric attributes are workload-level
// (namespace + workload, never pod names or IPs), only attributes on the
// allow-list are kept, and the reader limits series per instrument (overflow
// goes to the SDK's otel.metric.overflow series). With delta temporality
// (the default) a series that stops changing is not exported again, so idle
// series expire after one interval.
//
// The SDK hashes the attributes of every add() and record() (sorted keys,
// JSON); counter increments are therefore summed per series over one write()
// and handed to the SDK once per series by flush().
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { podflow } from '../../proto/gen/flow.js';
import type { FlowRecord } from '../types.js';
import { seconds } from './otlp-attributes.js';

const T = podflow.v1.RecordType;
const PROTOCOL_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp', 132: 'sctp' };

/** Every attribute a podflow metric can carry; the allow-list picks from these. */
export const METRIC_ATTRIBUTES = [
  'source.k8s.namespace.name', 'source.k8s.workload.name',
  'destination.k8s.namespace.name', 'destination.k8s.workload.name',
  'network.transport', 'http.request.method', 'http.response.status_code', 'error.type',
  'podflow.dns.rcode', 'podflow.dns.qtype', 'podflow.tcp.failure',
] as const;
export type MetricAttribute = (typeof METRIC_ATTRIBUTES)[number];

// Seconds: every boundary the semantic conventions advise for http.*.request.duration and dns.lookup.duration
// (5 ms to 10 s, so thresholds compare with the applications' own histograms), and below them down to
// 100 µs, where in-cluster RTTs, DNS answers and HTTP responses are.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

type Endpoint = podflow.v1.IEndpoint | null | undefined;

/** The workload an endpoint belongs to: its controller, else its pod, else its named network, else "external". */
function workloadOf(e: Endpoint): string {
  return e?.pod?.workload?.name || e?.pod?.name || e?.network || (e?.hostNetwork ? 'host' : 'external');
}

function namespaceOf(e: Endpoint): string {
  return e?.pod?.namespace || e?.service?.namespace || '';
}

/**
 * As http.server.request.duration: the status code when one came, and error.type for a 5xx (the code as a
 * string) or for a request without response (why: TIMEOUT, RESET, ...), which is in the histogram too.
 */
function httpOutcome(h: podflow.v1.IHttp): Attributes {
  const outcome: Attributes = { 'http.request.method': h.method ?? '' };
  const status = h.status ?? 0;
  if (status) outcome['http.response.status_code'] = status;
  const error = h.noResponse || (status >= 500 ? String(status) : '');
  if (error) outcome['error.type'] = error;
  return outcome;
}

export class FlowMetrics {
  private readonly bytes: Counter;
  private readonly packets: Counter;
  private readonly rtt: Histogram;
  private readonly dnsDuration: Histogram;
  private readonly httpDuration: Histogram;
  private readonly failedConnections: Counter;
  private readonly retransmits: Counter;
  private readonly allowed: Set<string>;
  private readonly counterIds: Map<Counter, number>;
  /** Counter increments since the last flush(), per instrument and series. */
  private readonly pending = new Map<string, { counter: Counter; attributes: Attributes; value: number }>();

  constructor(meter: Meter, allowList: readonly string[] = METRIC_ATTRIBUTES) {
    for (const a of allowList) {
      if (!(METRIC_ATTRIBUTES as readonly string[]).includes(a)) {
        throw new Error(`otlp sink: unknown metric attribute "${a}" in the allow-list (expected some of ${METRIC_ATTRIBUTES.join(', ')})`);
      }
    }
    this.allowed = new Set(allowList);
    this.bytes = meter.createCounter('podflow.flow.bytes', { unit: 'By', description: 'Bytes seen on flows, source to destination workload' });
    this.packets = meter.createCounter('podflow.flow.packets', { unit: '{packet}', description: 'Packets seen on flows, source to destination workload' });
    this.rtt = meter.createHistogram('podflow.tcp.rtt', {
      unit: 's', description: 'Smoothed TCP round-trip time at connection close', advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    });
    this.dnsDuration = meter.createHistogram('podflow.dns.duration', {
      unit: 's', description: 'DNS query to response time', advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    });
    this.httpDuration = meter.createHistogram('podflow.http.duration', {
      unit: 's', description: 'HTTP/1.x request to first response byte, seen on the network', advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
    });
    this.failedConnections = meter.createCounter('podflow.tcp.failed_connections', { unit: '{connection}', description: 'connect() attempts that never established' });
    this.retransmits = meter.createCounter('podflow.tcp.retransmits', { unit: '{segment}', description: 'Retransmitted TCP segments' });
    this.counterIds = new Map([this.bytes, this.packets, this.failedConnections, this.retransmits].map((c, i) => [c, i]));
  }

  record(r: FlowRecord): void {
    switch (r.type) {
      case T.FLOW: {
        const tr = r.traffic;
        if (!tr) return;
        if (tr.bytes) this.add(this.bytes, Number(tr.bytes), r);
        if (tr.packets) this.add(this.packets, Number(tr.packets), r);
        // The reverse direction of a bidirectional flow counts for the reverse pair.
        if (tr.bytesReceived) this.add(this.bytes, Number(tr.bytesReceived), r, true);
        if (tr.packetsReceived) this.add(this.packets, Number(tr.packetsReceived), r, true);
        return;
      }
      case T.TCP_CLOSE:
        if (r.tcp?.srtt) this.rtt.record(seconds(r.tcp.srtt), this.pair(r));
        if (r.tcp?.retransmits) this.add(this.retransmits, r.tcp.retransmits, r);
        return;
      case T.TCP_FAILED:
        this.add(this.failedConnections, 1, r, false, r.tcp?.failure || 'UNKNOWN');
        return;
      case T.RETRANSMIT:
        // A burst record carries the segments of its interval (at least one).
        this.add(this.retransmits, r.tcp?.retransmits || 1, r);
        return;
      case T.DNS:
        if (r.dns?.latency) {
          // As dns.lookup.duration: a failed query (NXDOMAIN, SERVFAIL, TIMEOUT, ...) has error.type.
          const rcode = r.dns.rcode ?? '';
          const outcome: Attributes = { 'podflow.dns.rcode': rcode, 'podflow.dns.qtype': r.dns.qtype ?? '' };
          if (rcode && rcode !== 'NOERROR') outcome['error.type'] = rcode;
          this.dnsDuration.record(seconds(r.dns.latency), this.pair(r, false, outcome));
        }
        return;
      case T.HTTP:
        if (r.http?.latency) this.httpDuration.record(seconds(r.http.latency), this.pair(r, false, httpOutcome(r.http)));
        return;
      default:
    }
  }

  /** Hands the summed counter increments to the SDK (the sink calls it at the end of each write()). */
  flush(): void {
    for (const { counter, attributes, value } of this.pending.values()) counter.add(value, attributes);
    this.pending.clear();
  }

  /** A counter increment for the record's workload pair (and `podflow.tcp.failure` when given), summed until flush(). */
  private add(counter: Counter, value: number, r: FlowRecord, reverse = false, failure?: string): void {
    const from = reverse ? r.destination : r.source;
    const to = reverse ? r.source : r.destination;
    const key = `${this.counterIds.get(counter)}\0${namespaceOf(from)}\0${workloadOf(from)}\0${namespaceOf(to)}\0${workloadOf(to)}\0${r.transport?.protocol ?? 0}\0${failure ?? ''}`;
    const entry = this.pending.get(key);
    if (entry) {
      entry.value += value;
      return;
    }
    const attributes = this.pair(r, reverse, failure === undefined ? undefined : { 'podflow.tcp.failure': failure });
    this.pending.set(key, { counter, attributes, value });
  }

  private pair(r: FlowRecord, reverse = false, extra?: Attributes): Attributes {
    const from = reverse ? r.destination : r.source;
    const to = reverse ? r.source : r.destination;
    const all: Attributes = {
      'source.k8s.namespace.name': namespaceOf(from),
      'source.k8s.workload.name': workloadOf(from),
      'destination.k8s.namespace.name': namespaceOf(to),
      'destination.k8s.workload.name': workloadOf(to),
      'network.transport': PROTOCOL_NAMES[r.transport?.protocol ?? 0] ?? 'unknown',
      ...extra,
    };
    if (this.allowed.size === METRIC_ATTRIBUTES.length) return all;
    const kept: Attributes = {};
    for (const key of Object.keys(all)) if (this.allowed.has(key)) kept[key] = all[key];
    return kept;
  }
}
