// OCSF 1.3.0: every class podflow emits carries its required attributes, and
// type_uid = class_uid * 100 + activity_id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcsfEncoder } from '../../src/proto/ocsf.js';
import { outside, sampleRecords, serverViewOfClose } from './pipeline-fixtures.js';

// From the OCSF 1.3.0 schema (schema.ocsf.io): the base event's required
// attributes, metadata's and product's, and each class's "at least one" constraint
// (HTTP Activity requires both; ocsf-schema.test.ts checks the whole schema).
const BASE_REQUIRED = ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid'];
const METADATA_REQUIRED = ['product', 'version'];
const PRODUCT_REQUIRED = ['vendor_name'];
const CLASS_AT_LEAST_ONE: Record<number, string[]> = {
  4001: ['src_endpoint', 'dst_endpoint'],
  4002: ['http_request'],
  4003: ['query', 'answers'],
  0: [],
};
const EXPECTED_CLASS: Record<string, number> = {
  FLOW: 4001, TCP_OPEN: 4001, TCP_CLOSE: 4001, TCP_FAILED: 4001, TCP_RESET: 4001, RETRANSMIT: 4001, DROP: 4001, HTTP: 4002, DNS: 4003, LOSS: 0,
};

const encoder = new OcsfEncoder({ productVersion: '0.1.0' });

for (const [name, record] of Object.entries(sampleRecords())) {
  test(`${name} maps to OCSF class ${EXPECTED_CLASS[name]} with its required attributes`, () => {
    const event = JSON.parse(encoder.encode(record)) as Record<string, unknown>;
    for (const key of BASE_REQUIRED) assert.ok(event[key] !== undefined, `${name}: missing ${key}`);
    const metadata = event.metadata as Record<string, unknown>;
    for (const key of METADATA_REQUIRED) assert.ok(metadata[key] !== undefined, `${name}: missing metadata.${key}`);
    const product = metadata.product as Record<string, unknown>;
    for (const key of PRODUCT_REQUIRED) assert.ok(product[key], `${name}: missing metadata.product.${key}`);
    assert.equal(product.name, 'podflow');
    assert.equal(event.class_uid, EXPECTED_CLASS[name]);
    assert.equal(event.type_uid, (event.class_uid as number) * 100 + (event.activity_id as number));
    assert.equal(typeof event.time, 'number');
    const oneOf = CLASS_AT_LEAST_ONE[event.class_uid as number];
    if (oneOf.length) assert.ok(oneOf.some((k) => event[k] !== undefined), `${name}: needs one of ${oneOf.join(', ')}`);
    assert.equal(event.category_uid, event.class_uid === 0 ? 0 : 4);
  });
}

test('activities follow the record: open, close, refuse, GET, DNS traffic', () => {
  const r = sampleRecords();
  const activity = (name: string) => (encoder.toOcsf(r[name]).activity_id as number);
  assert.equal(activity('TCP_OPEN'), 1);
  assert.equal(activity('TCP_CLOSE'), 2);
  assert.equal(activity('TCP_RESET'), 3);
  assert.equal(activity('TCP_FAILED'), 5);
  assert.equal(activity('FLOW'), 6);
  assert.equal(activity('HTTP'), 3);
  assert.equal(activity('DNS'), 6);
  const http = encoder.toOcsf(r.HTTP) as { http_request: { url: { path: string } }; http_response: { code: number } };
  assert.equal(http.http_request.url.path, '/api/users');
  assert.equal(http.http_response.code, 200);
  const dns = encoder.toOcsf(r.DNS) as { query: { hostname: string }; rcode_id: number; answers: { rdata: string }[] };
  assert.equal(dns.query.hostname, 'backend.default.svc.cluster.local');
  assert.equal(dns.rcode_id, 0);
  assert.deepEqual(dns.answers.map((a) => a.rdata), ['10.236.2.20', '10.236.2.21']);
  const drop = encoder.toOcsf(r.DROP);
  assert.equal(drop.action_id, 2);
  assert.equal(drop.status_detail, 'TCP_LISTEN_OVERFLOW');
});

test('traffic out and in are source to destination and back on both sockets\' TCP_CLOSE', () => {
  const client = sampleRecords().TCP_CLOSE;
  const server = serverViewOfClose(client);
  const expected = { bytes_out: 4000, packets_out: 10, bytes_in: 8000, packets_in: 12, bytes: 12000, packets: 22 };
  assert.deepEqual(encoder.toOcsf(client).traffic, expected);
  assert.deepEqual(encoder.toOcsf(server).traffic, expected);
});

test('an HTTP request without response is a failed HTTP Activity with response code 0', () => {
  const r = sampleRecords().HTTP;
  const timedOut = encoder.toOcsf({ ...r, http: { ...r.http, status: 0, noResponse: 'TIMEOUT', latency: { seconds: 30, nanos: 500000000 } } });
  assert.equal(timedOut.class_uid, 4002);
  assert.equal(timedOut.status_id, 2);
  assert.equal(timedOut.status, 'Failure');
  assert.equal(timedOut.status_detail, 'no response: TIMEOUT');
  assert.equal(timedOut.duration, 30500);
  assert.equal(timedOut.severity_id, 2);
  assert.deepEqual(timedOut.http_response, { code: 0 });
  assert.equal(timedOut.http_status, undefined);
});

test('the process behind a socket is the actor; side, TCP state, RTT and retransmissions are unmapped', () => {
  const close = encoder.toOcsf({ ...sampleRecords().TCP_CLOSE, source: outside, destination: outside, observation: { probe: 'tcp', hook: 'tp_btf', side: 1 } });
  assert.deepEqual(close.actor, { process: { pid: 4242, name: 'curl', container: { uid: 'abc123' } } });
  assert.deepEqual(close.unmapped, { side: 'CLIENT', tcp: { state: 'CLOSE', srtt_us: 1500, retransmits: 2 }, cgroup_id: 123456789012 });
  // Nothing to say: no actor, no unmapped.
  const flow = encoder.toOcsf({ ...sampleRecords().FLOW, source: outside, destination: outside, direction: undefined, tcp: undefined });
  assert.equal(flow.actor, undefined);
  assert.equal(flow.unmapped, undefined);
});
