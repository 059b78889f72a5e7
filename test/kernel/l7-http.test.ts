// The http probe on real traffic: a node:http server in one namespace answering
// after known delays, a keep-alive client in another, the probe on the
// host-side veths of both (one record per exchange, not one per veth).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { createHttpProbe } from '../../src/probes/http/plan.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { HTTP_CLIENT, HTTP_SERVER, ms, parseClientOutput, testContext, waitFor, type ClientResult } from './l7-net.js';
import { PodNet } from './pod-net.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const SUBNET = '10.237.2';
const SERVER = `${SUBNET}.80`;
const SERVER_B = `${SUBNET}.81`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let probe: L7PacketProbe | undefined;
/** What the server printed: per request, how long it held it. */
const held: { port: number; path: string; ms: number }[] = [];

before(async () => {
  net = new PodNet('pflh', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'srvb', host: 81 },
    { name: 'cli', host: 2 },
  ]);
  ctx = testContext();
  const server = net.spawn('srv', process.execPath, ['-e', HTTP_SERVER, SERVER, '8080']);
  await PodNet.ready(server, 'the HTTP server');
  await PodNet.ready(net.spawn('srvb', process.execPath, ['-e', HTTP_SERVER, SERVER_B, '8080']), 'the second HTTP server');
  let partial = '';
  server.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('{')) held.push(JSON.parse(l) as { port: number; path: string; ms: number });
  });
  probe = createHttpProbe(ctx, { interfaces: [] }, 'tc');
  probe.attachInitial(net.hostInterfaces());
});

after(() => {
  probe?.close();
  net?.destroy();
});

/**
 * The record's latency (request's first byte to response's first byte, seen
 * on the node) lies between the server's and the client's own measurements of
 * the same exchange: the server held the request at least the delay (it starts
 * after the request arrived and stops before the response is written), the
 * client waited at least as long as the wire (from before its write to after
 * its read). On this shared VM timers fire up to ~20 ms late, so the delay
 * alone is no exact reference; the two clocks around it are.
 */
function assertLatency(rec: FlowRecord, res: ClientResult, nth: number): void {
  const latency = ms(rec.http?.latency);
  const delay = Number(/delay=(\d+)/.exec(res.path)?.[1] ?? 0);
  // The server's nth report on this connection is this exchange's.
  const h = held.filter((x) => x.port === res.localPort)[nth];
  assert.equal(h?.path, res.path, `the server's report of exchange ${nth} on port ${res.localPort}`);
  assert.ok(h);
  const slack = 0.5; // the 'request' event fires after the first byte is in; timestamps of different CPUs
  // Node's timers have whole-millisecond resolution: they may fire a fraction of a ms early.
  assert.ok(h.ms >= delay - 1, `the server held ${res.path} ${h.ms} ms, less than its ${delay} ms delay`);
  assert.ok(latency >= delay - 1, `${res.path}: latency ${latency} ms, less than the ${delay} ms delay`);
  assert.ok(latency + slack >= h.ms, `${res.path}: latency ${latency} ms, but the server alone held it ${h.ms} ms`);
  assert.ok(latency <= res.ms + slack, `${res.path}: latency ${latency} ms, but the client waited only ${res.ms} ms`);
}

async function exchanges(results: ClientResult[]): Promise<FlowRecord[]> {
  const ours = (r: FlowRecord) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === results[0]?.localPort;
  await waitFor(`${results.length} HTTP records`, () => ctx.records.filter(ours).length >= results.length);
  await new Promise((r) => setTimeout(r, 150)); // a second record per exchange (the other veth) would arrive by now
  return ctx.records.filter(ours);
}

test('keep-alive exchanges: method, raw path, status, host and latency of each, in order', async () => {
  const requests = ['GET /api/users?delay=200&token=secret', 'POST /api/users?delay=50', 'GET /missing', 'DELETE /boom?delay=120', 'GET /api/users/7'];
  const results = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, SERVER, '8080', ...requests]));
  assert.equal(new Set(results.map((r) => r.localPort)).size, 1, 'all requests went over one connection');
  const records = await exchanges(results);
  assert.equal(records.length, requests.length, 'one record per exchange');
  records.forEach((rec, i) => {
    const res = results[i] as ClientResult;
    assert.deepEqual(
      [rec.http?.method, rec.http?.path, rec.http?.status, rec.http?.host, rec.http?.version],
      [res.method, res.path, res.status, 'backend.pfl.test', 'HTTP/1.1'],
    );
    assertLatency(rec, res, i);
    assert.deepEqual(rec.source, newEndpoint(`${SUBNET}.2`, res.localPort));
    assert.deepEqual(rec.destination, newEndpoint(SERVER, 8080));
    assert.equal(rec.transport?.protocol, podflow.v1.Protocol.TCP);
    assert.deepEqual(rec.observation, { probe: 'http', hook: 'tc', side: podflow.v1.Side.UNKNOWN });
    assert.ok(rec.conversationId);
  });
  assert.deepEqual(records.map((r) => r.http?.status), [200, 200, 404, 500, 200]);
});

test('several connections at once are kept apart', async () => {
  const runs = await Promise.all(
    [30, 60, 90].map((d) => net.run('cli', process.execPath, ['-e', HTTP_CLIENT, SERVER, '8080', `GET /c?delay=${d}`, `GET /c?delay=${d}`])),
  );
  for (const out of runs) {
    const results = parseClientOutput(out);
    const records = await exchanges(results);
    assert.equal(records.length, 2);
    for (const [i, rec] of records.entries()) assertLatency(rec, results[i] as ClientResult, i);
  }
});

/**
 * Two connections from one client port to two servers (ports are unique per 4-tuple, so a client may reuse
 * one for another server): "GET /a?delay=300" to the first, 50 ms later "GET /b?delay=600" to the second.
 * Prints the local port.
 */
const SHARED_PORT_CLIENT = `
const net = require('node:net');
const [a, b, local] = process.argv.slice(1);
const port = 20000 + Math.floor(Math.random() * 20000);
const get = (host, path) => new Promise((resolve, reject) => {
  const s = net.connect({ host, port: 8080, localAddress: local, localPort: port }, () => s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));
  s.on('data', () => {});
  s.on('end', resolve);
  s.on('error', reject);
});
(async () => {
  const first = get(a, '/a?delay=300');
  await new Promise((r) => setTimeout(r, 50));
  await Promise.all([first, get(b, '/b?delay=600')]);
  console.log(port);
})();
`;

test('an answer from another server to the same client port is not paired with the waiting request', async () => {
  const port = Number((await net.run('cli', process.execPath, ['-e', SHARED_PORT_CLIENT, SERVER, SERVER_B, net.pod('cli').ip])).trim());
  const ours = (r: FlowRecord) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === port;
  await waitFor('the HTTP record of the second server', () => ctx.records.some(ours));
  await new Promise((r) => setTimeout(r, 150));
  // The first request was replaced while it waited (counted as unanswered); its answer matches nothing.
  const records = ctx.records.filter(ours);
  assert.equal(records.length, 1, JSON.stringify(records.map((r) => [r.http?.path, r.destination?.ip])));
  assert.equal(records[0]?.http?.path, '/b?delay=600');
  assert.equal(records[0]?.destination?.ip, SERVER_B);
  assert.ok(ms(records[0]?.http?.latency) >= 599, `latency ${ms(records[0]?.http?.latency)} ms: the second server's own answer`);
});

test('interfaces that go away and come back are detached and attached again', async () => {
  const ifs = net.hostInterfaces();
  probe?.interfacesChanged([], ifs);
  assert.deepEqual(probe?.attachedInterfaces(), []);
  const [unseen] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, SERVER, '8080', 'GET /unseen']));
  probe?.interfacesChanged([net.pod('cli').hostIf], []);
  assert.deepEqual(probe?.attachedInterfaces(), [net.pod('cli').hostIf.index]);
  const [seen] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, SERVER, '8080', 'GET /seen']));
  const records = await exchanges([seen as ClientResult]);
  assert.deepEqual(records.map((r) => [r.http?.path, r.interface?.index]), [['/seen', net.pod('cli').hostIf.index]]);
  assert.equal(ctx.records.filter((r) => r.source?.port === unseen?.localPort).length, 0);
  assert.ok((probe?.eventsSeen() ?? 0) > 0);
  assert.equal(probe?.losses().find((l) => l.reason === 'http:ringbuf_full')?.count, 0);
});
