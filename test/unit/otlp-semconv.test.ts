// podflow's OTLP attributes and metrics against the OpenTelemetry semantic
// conventions, as the installed @opentelemetry/semantic-conventions package
// (its incubating entry: every attribute, stable or not) defines them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import * as semconv from '@opentelemetry/semantic-conventions/incubating';
import { writeLogAttributes, type LogAttributeValue } from '../../src/pipeline/sinks/otlp-attributes.js';
import { FlowMetrics } from '../../src/pipeline/sinks/otlp-metrics.js';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { httpRecord, knownRecords } from '../peers/flow-fixtures.js';
import { sampleRecords } from './pipeline-fixtures.js';

const T = podflow.v1.RecordType;

function attributesOf(r: FlowRecord): Record<string, LogAttributeValue> {
  const out: Record<string, LogAttributeValue> = {};
  writeLogAttributes(r, { attribute: (key, value) => { out[key] = value; } });
  return out;
}

function withHttp(http: podflow.v1.IHttp): FlowRecord {
  const r = httpRecord('node-a');
  r.http = { ...r.http, ...http };
  return r;
}

/** The HTTP attributes of a record (url.*, server.*), the rest left out. */
function httpAttributes(http: podflow.v1.IHttp): Record<string, LogAttributeValue> {
  return Object.fromEntries(Object.entries(attributesOf(withHttp(http))).filter(([k]) => /^(url|server)\./.test(k)));
}

const DEFINED = new Set(Object.entries(semconv).filter(([k, v]) => k.startsWith('ATTR_') && typeof v === 'string').map(([, v]) => v as string));
const TEMPLATES = Object.entries(semconv).filter(([k, v]) => k.startsWith('ATTR_') && typeof v === 'function')
  .map(([, v]) => (v as (key: string) => string)(''));

test('every attribute outside podflow.* is one the semantic conventions define (source./destination. prefixing one)', () => {
  const records = [httpRecord('node-a'), ...knownRecords('node-a', 40), ...Object.values(sampleRecords())];
  const keys = new Set(records.flatMap((r) => Object.keys(attributesOf(r))));
  // podflow's own per-endpoint additions: the endpoint's workload whatever its kind, its Service's namespace,
  // host networking, the named network of an address outside the cluster. Under source./destination., which
  // the conventions do not prefix anything with, they cannot collide with a defined attribute.
  const endpointOwn = new Set(['k8s.workload.name', 'k8s.workload.kind', 'k8s.service.namespace', 'host_network', 'network.name']);
  const undefinedNames = [...keys].filter((key) => {
    if (key.startsWith('podflow.')) return false;
    const endpoint = /^(source|destination)\.(k8s\..*|host_network|network\.name)$/.exec(key);
    const name = endpoint ? endpoint[2]! : key;
    if (endpoint && endpointOwn.has(name)) return false;
    return !DEFINED.has(name) && !TEMPLATES.some((t) => name.startsWith(t));
  });
  assert.deepEqual(undefinedNames, []);
});

test('server.address is the Host header without its port, which is server.port', () => {
  assert.deepEqual(httpAttributes({ host: 'backend:8080' }), { 'url.path': '/api/users', 'server.address': 'backend', 'server.port': 8080 });
  assert.deepEqual(httpAttributes({ host: '[fd00::1]:8443' }), { 'url.path': '/api/users', 'server.address': 'fd00::1', 'server.port': 8443 });
  assert.deepEqual(httpAttributes({ host: 'backend' }), { 'url.path': '/api/users', 'server.address': 'backend' });
  assert.deepEqual(httpAttributes({ host: '' }), { 'url.path': '/api/users' });
  // Not a port: the value is kept whole.
  assert.deepEqual(httpAttributes({ host: 'backend:http' }), { 'url.path': '/api/users', 'server.address': 'backend:http' });
});

test('url.path is the path alone: a query string kept by the redaction is url.query, a fragment url.fragment', () => {
  assert.deepEqual(httpAttributes({ path: '/search?q=otel&page=2', host: '' }), { 'url.path': '/search', 'url.query': 'q=otel&page=2' });
  assert.deepEqual(httpAttributes({ path: '/a#top', host: '' }), { 'url.path': '/a', 'url.fragment': 'top' });
  assert.deepEqual(httpAttributes({ path: '/a?b#c', host: '' }), { 'url.path': '/a', 'url.query': 'b', 'url.fragment': 'c' });
});

test('request targets other than a path: absolute-form (to a proxy) is url.full, CONNECT names the server, "*" has no path', () => {
  assert.deepEqual(httpAttributes({ path: 'http://example.com:8080/x?y=1', host: 'example.com:8080' }), {
    'url.full': 'http://example.com:8080/x?y=1', 'url.scheme': 'http', 'url.path': '/x', 'url.query': 'y=1',
    'server.address': 'example.com', 'server.port': 8080,
  });
  // The target's authority wins over the Host header (RFC 9112 3.2.2).
  assert.deepEqual(httpAttributes({ path: 'http://example.com', host: 'other' }), {
    'url.full': 'http://example.com', 'url.scheme': 'http', 'server.address': 'example.com',
  });
  assert.deepEqual(httpAttributes({ method: 'CONNECT', path: 'example.com:443', host: '' }), { 'server.address': 'example.com', 'server.port': 443 });
  assert.deepEqual(httpAttributes({ method: 'OPTIONS', path: '*', host: 'backend' }), { 'server.address': 'backend' });
});

test('the task comm is podflow.process.comm, not process.executable.name (the executable\'s base name, not truncated to 15 bytes)', () => {
  const r = httpRecord('node-a');
  r.process = { pid: 4242, command: 'kube-controller', containerId: 'c0ffee' };
  const a = attributesOf(r);
  assert.equal(a['process.pid'], 4242);
  assert.equal(a['podflow.process.comm'], 'kube-controller');
  assert.equal(a['process.executable.name'], undefined);
});

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function histogram(records: FlowRecord[], name: string): Promise<HistogramMetricData> {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const metrics = new FlowMetrics(provider.getMeter('podflow'));
  for (const r of records) metrics.record(r);
  metrics.flush();
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  assert.ok(metric && metric.dataPointType === DataPointType.HISTOGRAM, name);
  return metric;
}

const PAIR = new Set(['source.k8s.namespace.name', 'source.k8s.workload.name', 'destination.k8s.namespace.name', 'destination.k8s.workload.name']);

/** Attribute sets without the workload pair, as sorted JSON. */
function canonical(attributes: Attributes): string {
  return JSON.stringify(Object.entries(attributes).filter(([k]) => !PAIR.has(k)).sort(([a], [b]) => a.localeCompare(b)));
}

function attributeSets(metric: HistogramMetricData): string[] {
  return metric.dataPoints.map((p) => canonical(p.attributes)).sort();
}

test('HTTP duration: error.type is the status code for 5xx, as http.server.request.duration has it', async () => {
  const ok = withHttp({ status: 200 });
  const failed = withHttp({ status: 503 });
  const unanswered = withHttp({ status: 0, noResponse: 'TIMEOUT' });
  const points = attributeSets(await histogram([ok, failed, unanswered], 'podflow.http.duration'));
  assert.deepEqual(points, [
    { 'network.transport': 'tcp', 'http.request.method': 'GET', 'http.response.status_code': 200 },
    { 'network.transport': 'tcp', 'http.request.method': 'GET', 'http.response.status_code': 503, 'error.type': '503' },
    { 'network.transport': 'tcp', 'http.request.method': 'GET', 'error.type': 'TIMEOUT' },
  ].map(canonical).sort());
});

test('DNS duration: error.type is the response code when it is not NOERROR, as dns.lookup.duration has it', async () => {
  const dns = (rcode: string): FlowRecord => ({
    ...httpRecord('node-a'), type: T.DNS, http: undefined, transport: { protocol: podflow.v1.Protocol.UDP, ipVersion: 4 },
    dns: { id: 1, query: 'backend.shop.svc.cluster.local', qtype: 'A', rcode, latency: { seconds: 0, nanos: 400000 } },
  });
  const points = attributeSets(await histogram([dns('NOERROR'), dns('NXDOMAIN')], 'podflow.dns.duration'));
  assert.deepEqual(points, [
    { 'network.transport': 'udp', 'podflow.dns.rcode': 'NOERROR', 'podflow.dns.qtype': 'A' },
    { 'network.transport': 'udp', 'podflow.dns.rcode': 'NXDOMAIN', 'podflow.dns.qtype': 'A', 'error.type': 'NXDOMAIN' },
  ].map(canonical).sort());
});

test('duration histograms: every bucket boundary the conventions advise for request and lookup durations is one of podflow\'s', async () => {
  // http.server.request.duration, http.client.request.duration and dns.lookup.duration advise these.
  const advised = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
  const boundaries = (await histogram([httpRecord('node-a')], 'podflow.http.duration')).dataPoints[0]!.value.buckets.boundaries;
  assert.deepEqual(advised.filter((b) => !boundaries.includes(b)), []);
  // In-cluster latencies are well below the conventions' first boundary (5 ms): podflow's go further down.
  assert.ok(boundaries[0]! <= 0.0001);
});
