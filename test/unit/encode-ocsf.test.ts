// OCSF 1.3.0: every class podflow emits carries its required attributes, and
// type_uid = class_uid * 100 + activity_id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcsfEncoder } from '../../src/proto/ocsf.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { outside, sampleRecords, serverViewOfClose } from './pipeline-fixtures.js';

type Obj = Record<string, unknown>;

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

const IP = { type: 'IP Address', type_id: 2 };
const HOSTNAME = { type: 'Hostname', type_id: 1 };
const PORT = { type: 'Port', type_id: 11 };

test('observables: the endpoints\' IPs and hostnames, the responder\'s port, the node, the process, the names asked for', () => {
  const r = sampleRecords();
  const observables = (record: FlowRecord) => encoder.toOcsf(record).observables;
  const endpoints = [
    { name: 'src_endpoint.ip', ...IP, value: '10.236.1.10' },
    { name: 'dst_endpoint.ip', ...IP, value: '10.236.2.20' },
    { name: 'dst_endpoint.port', ...PORT, value: '8080' },
  ];
  const node = { name: 'device.hostname', ...HOSTNAME, value: 'node-a' };
  assert.deepEqual(observables(r.FLOW), [...endpoints, node]);
  assert.deepEqual(observables(r.TCP_CLOSE), [...endpoints, node, { name: 'actor.process.name', type: 'Process Name', type_id: 9, value: 'curl' }]);
  assert.deepEqual(observables(r.HTTP), [...endpoints, node, { name: 'http_request.url.hostname', ...HOSTNAME, value: 'backend' }]);
  assert.deepEqual(observables(r.DNS), [
    endpoints[0], { name: 'dst_endpoint.ip', ...IP, value: 'fd00::53' }, { name: 'dst_endpoint.port', ...PORT, value: '53' }, node,
    { name: 'query.hostname', ...HOSTNAME, value: 'backend.default.svc.cluster.local' },
  ]);
  // A host-network endpoint's hostname is its node's name.
  const host = observables({ ...r.FLOW, source: { ip: '10.0.0.1', port: 22, node: 'node-a', hostNetwork: true } });
  assert.deepEqual(host, [{ name: 'src_endpoint.ip', ...IP, value: '10.0.0.1' }, { name: 'src_endpoint.hostname', ...HOSTNAME, value: 'node-a' }, ...endpoints.slice(1), node]);
  // podflow's own health events name nothing to pivot on.
  assert.equal(observables(r.LOSS), undefined);
});

test('originalDestination (the Service ClusterIP:port before DNAT) is the responder\'s proxy_endpoint, and an observable', () => {
  const r = sampleRecords();
  const viaService = encoder.toOcsf({ ...r.HTTP, originalDestination: { ip: '10.96.0.20', port: 80, service: { name: 'backend', namespace: 'default' } } }) as Obj & { dst_endpoint: Obj };
  assert.deepEqual(viaService.dst_endpoint.proxy_endpoint, { ip: '10.96.0.20', port: 80, name: 'backend', svc_name: 'backend' });
  assert.equal(viaService.dst_endpoint.ip, '10.236.2.20');
  const nat = (viaService.observables as Obj[]).filter((o) => String(o.name).startsWith('dst_endpoint.proxy_endpoint.'));
  assert.deepEqual(nat, [{ name: 'dst_endpoint.proxy_endpoint.ip', ...IP, value: '10.96.0.20' }, { name: 'dst_endpoint.proxy_endpoint.port', ...PORT, value: '80' }]);
  // Not enriched (no Service cached for that ClusterIP): the address alone.
  const bare = encoder.toOcsf({ ...r.TCP_OPEN, originalDestination: { ip: '10.96.0.99', port: 443 } }) as Obj & { dst_endpoint: Obj };
  assert.deepEqual(bare.dst_endpoint.proxy_endpoint, { ip: '10.96.0.99', port: 443 });
  assert.equal((encoder.toOcsf(r.HTTP).dst_endpoint as Obj).proxy_endpoint, undefined);
});

test('the interface the packets were seen on is the node\'s (device), not an endpoint\'s', () => {
  const r = sampleRecords();
  const flow = encoder.toOcsf(r.FLOW) as Obj & { src_endpoint: Obj; dst_endpoint: Obj };
  assert.equal(flow.src_endpoint.interface_name, undefined);
  assert.equal(flow.dst_endpoint.interface_name, undefined);
  assert.deepEqual(flow.device, { hostname: 'node-a', type_id: 1, type: 'Server', interface_name: 'eth0', interface_uid: '2' });
  assert.deepEqual(encoder.toOcsf(r.DROP).device, { hostname: 'node-a', type_id: 1, type: 'Server', interface_name: 'veth1', interface_uid: '7' });
  // Socket records have no interface; a record without a node name still says where it was seen.
  assert.deepEqual(encoder.toOcsf(r.TCP_OPEN).device, { hostname: 'node-a', type_id: 1, type: 'Server' });
  const nameless = encoder.toOcsf({ ...r.FLOW, nodeName: '' });
  assert.deepEqual(nameless.device, { type_id: 1, type: 'Server', interface_name: 'eth0', interface_uid: '2' });
  assert.deepEqual((nameless.metadata as Obj).profiles, ['host']);
});
