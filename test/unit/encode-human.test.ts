import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import { formatHuman } from '../../src/proto/human.js';
import { sampleRecords, serverViewOfClose } from './pipeline-fixtures.js';

test('an HTTP record reads like the README example', () => {
  assert.equal(formatHuman(sampleRecords().HTTP), '12:00:01.123 default/frontend-7d9 -> default/backend-5c2 HTTP GET /api/users 200 325ms');
});

test('an HTTP request without response says why and how long it waited', () => {
  const r = sampleRecords().HTTP;
  const reset = { ...r, http: { ...r.http, status: 0, noResponse: 'RESET', latency: { seconds: 30, nanos: 0 } } };
  assert.equal(formatHuman(reset), '12:00:01.123 default/frontend-7d9 -> default/backend-5c2 HTTP GET /api/users no response (RESET) 30.0s');
});

test('every record type has its own readable line', () => {
  const lines = Object.fromEntries(Object.entries(sampleRecords()).map(([name, r]) => [name, formatHuman(r)]));
  assert.equal(lines.FLOW, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 FLOW TCP 123.5kB 90pkt / 9.9GB 70pkt [FIN,SYN,PSH,ACK]');
  assert.equal(lines.TCP_OPEN, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP open [client] srtt 250µs');
  assert.equal(lines.TCP_CLOSE, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP close [client] 4.0kB 10pkt / 8.0kB 12pkt 1001.1s srtt 2ms 2 retrans');
  assert.equal(lines.TCP_FAILED, '12:00:01.123 default/frontend-7d9:43512 -> 203.0.113.7:443 TCP failed [client] REFUSED');
  assert.equal(lines.TCP_RESET, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP reset [client] ESTABLISHED');
  assert.equal(lines.RETRANSMIT, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP retransmit [client] 3 segments ESTABLISHED');
  assert.equal(lines.DROP, '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 DROP TCP TCP_LISTEN_OVERFLOW 2pkt');
  assert.equal(lines.DNS, '12:00:01.123 default/frontend-7d9 -> kube-system/coredns-abc DNS A backend.default.svc.cluster.local NOERROR 10.236.2.20,10.236.2.21 2ms');
  assert.equal(lines.LOSS, '12:00:01.123 LOSS sink:kafka queue_full: 120 dropped');
});

test('TCP close reads source to destination first on either socket\'s view (the server counts what it sent as bytes)', () => {
  const client = sampleRecords().TCP_CLOSE;
  const server = serverViewOfClose(client);
  assert.match(formatHuman(client), / TCP close \[client\] 4\.0kB 10pkt \/ 8\.0kB 12pkt /);
  assert.match(formatHuman(server), / TCP close \[server\] 4\.0kB 10pkt \/ 8\.0kB 12pkt /);
});

test('the two sockets of one local connection print as two distinguishable lines', () => {
  const client = sampleRecords().TCP_OPEN;
  const server = { ...client, observation: { ...client.observation, side: podflow.v1.Side.SERVER } };
  assert.equal(formatHuman(client), '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP open [client] srtt 250µs');
  assert.equal(formatHuman(server), '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP open [server] srtt 250µs');
  const unknown = { ...client, observation: { ...client.observation, side: podflow.v1.Side.UNKNOWN } };
  assert.equal(formatHuman(unknown), '12:00:01.123 default/frontend-7d9:43512 -> default/backend-5c2:8080 TCP open srtt 250µs');
});

test('endpoints without a pod print as IP:port, IPv6 in brackets', () => {
  const r = sampleRecords().FLOW;
  r.source = { ip: '10.0.0.1', port: 1234 };
  r.destination = { ip: 'fd00::1', port: 80 };
  assert.match(formatHuman(r), / 10\.0\.0\.1:1234 -> \[fd00::1\]:80 FLOW/);
});

test('a Service ClusterIP (a client socket\'s destination) prints as namespace/service, as hubble names it; a pod wins over its service', () => {
  const r = sampleRecords().TCP_OPEN;
  r.destination = { ip: '10.96.0.10', port: 80, service: { name: 'backend', namespace: 'shop' } };
  assert.equal(formatHuman(r), '12:00:01.123 default/frontend-7d9:43512 -> shop/backend:80 TCP open [client] srtt 250µs');
  const http = sampleRecords().HTTP;
  http.destination = { ip: '10.96.0.10', port: 80, service: { name: 'backend', namespace: 'shop' } };
  assert.match(formatHuman(http), / default\/frontend-7d9 -> shop\/backend HTTP GET /);
  // sampleRecords()'s backend endpoint has both a pod and a service.
  assert.match(formatHuman(sampleRecords().TCP_OPEN), / -> default\/backend-5c2:8080 TCP open /);
});
