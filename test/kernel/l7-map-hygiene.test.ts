// The per-connection maps of the L7 programs hold live connections only: with
// http_conns and svc_orig_dst loaded at 256 entries, thousands of short
// connections (to a virtual IP, DNAT'ed to the backend) keep both near the
// number of connections open at once, leave them empty afterwards, and every
// exchange still arrives complete with its original destination. Before, every
// client port stayed in both maps until an LRU eviction, which could also take
// the entry of an exchange still waiting for its response. The kernel's own
// sockets (an MPTCP subflow here), which sock_release never sees, publish
// nothing. Crafted packets (BPF_PROG_TEST_RUN) check the orders real traffic
// does not show reliably: another connection of the same client port ending,
// a request retransmitted after its response.
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { BpfMap } from 'libbpf-ts';
import { podflow } from '../../src/proto/gen/flow.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { createHttpProbe } from '../../src/probes/http/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { OriginalDestinations, SVC_PROGRAMS } from '../../src/probes/svc/original-destinations.js';
import { testContext, waitFor } from './l7-net.js';
import { ip, tcp } from './l7-packets.js';
import { PodNet, sh } from './pod-net.js';

const SUBNET = '10.254.7';
const BACKEND = `${SUBNET}.80`;
const VIP = '10.254.200.10';
const CGROUP = `/sys/fs/cgroup/unified/pfb3-${process.pid}`;
const MAP_SIZE = 256;
const CONNECTIONS = 3000;
const CONCURRENCY = 8;

/** Answers 200 with a body; /close ends the connection without a response (FIN), /reset with a RST; /hang never answers. */
const SERVER = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((req, res) => {
  if (req.url === '/close') return void req.socket.end();
  if (req.url === '/reset') return void req.socket.resetAndDestroy();
  if (req.url === '/hang' || req.url.startsWith('/gaveup')) return;
  res.end('ok\\n');
}).listen(Number(port), host, 1024, () => console.log('ready'));
`;

/** n connections, c at a time, one request each (Connection: close) to GET /hyg/<i>; prints the statuses seen. */
const CLIENT = `
const http = require('node:http');
const [host, port, n, c, ...paths] = process.argv.slice(1);
const get = (path) => new Promise((resolve) => {
  const req = http.get({ host, port: Number(port), path, agent: false, headers: { connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode));
  });
  req.on('error', (e) => resolve(e.code));
});
(async () => {
  const seen = {};
  const count = (s) => void (seen[s] = (seen[s] ?? 0) + 1);
  for (const p of paths) count(await get(p));
  let next = 0;
  await Promise.all(Array.from({ length: Number(c) }, async () => {
    while (next < Number(n)) count(await get('/hyg/' + next++));
  }));
  console.log(JSON.stringify(seen));
})();
`;

let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let svc: OriginalDestinations | undefined;
let http: L7PacketProbe | undefined;

/**
 * Distinct keys seen in one pass. Under churn a pass restarts from the table's start when its current key is
 * deleted, and counts entries that lived at different moments of it: an upper bound of those live at once.
 */
const entries = (map: BpfMap): number => new Set([...map.keys()].map((k) => k.toString('hex'))).size;

before(async () => {
  net = new PodNet('pfb3', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  net.exec('cli', 'ip', ['route', 'add', '10.254.200.0/24', 'dev', 'eth0']);
  sh('sh', ['-c', `printf '%s\\n' "$1" | ip netns exec ${net.pod('cli').netns} nft -f -`, 'sh', `table ip pfb3_svc {
  chain out {
    type nat hook output priority -100;
    ip daddr ${VIP} tcp dport 80 dnat to ${BACKEND}:8080
  }
}`]);
  // No TIME_WAIT: the client's ports come back quickly, as under real churn.
  net.exec('cli', 'sysctl', ['-qw', 'net.ipv4.tcp_max_tw_buckets=0']);
  ctx = testContext();
  mkdirSync(CGROUP);
  svc = new OriginalDestinations(ctx.objectDir, CGROUP, MAP_SIZE);
  await PodNet.ready(net.spawn('srv', process.execPath, ['-e', SERVER, BACKEND, '8080']), 'the HTTP server');
  http = createHttpProbe(ctx, { interfaces: [], originalDestinations: svc, maxPendingExchanges: MAP_SIZE }, 'tc');
  http.attachInitial(net.hostInterfaces());
});

after(() => {
  http?.close();
  svc?.close();
  net?.destroy();
  try {
    rmdirSync(CGROUP);
  } catch {
    // Still has a process (killed by destroy, may take a moment) or never made.
  }
});

test(`${CONNECTIONS} connections through maps of ${MAP_SIZE}: entries stay near the open connections, records complete`, async (t) => {
  assert.ok(http && svc);
  const conns = http.object.map('http_conns');
  assert.equal(conns.maxEntries, MAP_SIZE);
  assert.equal(svc.map.maxEntries, MAP_SIZE);
  let most = { http: 0, svc: 0 };
  const sampler = setInterval(() => {
    most = { http: Math.max(most.http, entries(conns)), svc: Math.max(most.svc, entries(svc!.map)) };
  }, 10);
  let out: string;
  try {
    out = await net.run('cli', process.execPath, ['-e', CLIENT, VIP, '80', String(CONNECTIONS), String(CONCURRENCY)], CGROUP);
  } finally {
    clearInterval(sampler);
  }
  assert.deepEqual(JSON.parse(out), { 200: CONNECTIONS });
  t.diagnostic(`most entries at once: http_conns ${most.http}, svc_orig_dst ${most.svc}`);
  // An exchange is held from request to response; a socket from its SYN until Node closes its fd, a few event-loop
  // turns after the response, while the worker's next connection is already open: a few per worker (and a pass
  // of entries() may see a worker's entry and the next one).
  assert.ok(most.http > 0 && most.http <= CONCURRENCY * 2, `http_conns held up to ${most.http} entries`);
  assert.ok(most.svc > 0 && most.svc <= CONCURRENCY * 4, `svc_orig_dst held up to ${most.svc} entries`);

  const ours = () => ctx.records.filter((r) => r.type === podflow.v1.RecordType.HTTP && r.http?.path?.startsWith('/hyg/'));
  await waitFor(`${CONNECTIONS} HTTP records`, () => ours().length >= CONNECTIONS);
  assert.equal(new Set(ours().map((r) => r.http?.path)).size, CONNECTIONS);
  for (const r of ours()) {
    assert.equal(r.http?.status, 200);
    assert.equal(r.http?.method, 'GET');
    assert.deepEqual(r.destination, newEndpoint(BACKEND, 8080));
    assert.deepEqual(r.originalDestination, newEndpoint(VIP, 80));
  }
  assert.equal(entries(conns), 0);
  await waitFor('svc_orig_dst to empty', () => entries(svc!.map) === 0);
  assert.deepEqual(svc.losses().filter((l) => l.count > 0), []);
  assert.equal(http.counters()['http:unanswered_request'], 0);
});

test('a connection ended by the server without a response (FIN, RST) leaves no entry, and each request is a record saying so', async () => {
  assert.ok(http);
  const unansweredBefore = http.counters()['http:unanswered_request'] ?? 0;
  const out = await net.run('cli', process.execPath, ['-e', CLIENT, VIP, '80', '0', '1', '/close', '/reset'], CGROUP);
  assert.deepEqual(JSON.parse(out), { ECONNRESET: 2 });
  const ended = () => ctx.records.filter((r) => r.http?.path === '/close' || r.http?.path === '/reset');
  await waitFor('both requests reported', () => ended().length === 2);
  assert.deepEqual(ended().map((r) => [r.http?.path, r.http?.noResponse, r.http?.status]).sort(), [['/close', 'CLOSED', 0], ['/reset', 'RESET', 0]]);
  for (const r of ended()) {
    assert.deepEqual(r.destination, newEndpoint(BACKEND, 8080));
    assert.deepEqual(r.originalDestination, newEndpoint(VIP, 80));
    assert.ok(r.http?.latency);
  }
  assert.equal(entries(http.object.map('http_conns')), 0);
  assert.equal(http.counters()['http:unanswered_request'] ?? 0, unansweredBefore, 'reported, not lost');
});

test('a request the server never answers, on a connection that stays open, is reported once as TIMEOUT', async () => {
  const ctx = testContext();
  const probe = createHttpProbe(ctx, { interfaces: [], originalDestinations: svc, timeoutMs: 1000 }, 'tc');
  try {
    probe.attachInitial(net.hostInterfaces());
    // The client sends the request and keeps its connection open for 2 s, then exits.
    const client = net.run('cli', process.execPath, ['-e', `
      const s = require('node:net').connect(80, '${VIP}', () => s.write('GET /hang HTTP/1.1\\r\\nHost: backend\\r\\n\\r\\n'));
      setTimeout(() => process.exit(0), 2000);`], CGROUP);
    await waitFor('the request waiting in http_conns', () => entries(probe.object.map('http_conns')) === 1);
    const sentNs = MonotonicClock.nowNs();
    probe.tick(sentNs);
    // A sweep's report comes through the ring buffer: had that one reported, it would be here after the wait.
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(ctx.records.length, 0, 'not before the timeout');
    probe.tick(MonotonicClock.nowNs());
    await waitFor('the TIMEOUT record', () => ctx.records.length > 0);
    assert.deepEqual(ctx.records.map((r) => [r.http?.path, r.http?.noResponse, r.http?.host]), [['/hang', 'TIMEOUT', 'backend']]);
    const [hang] = ctx.records;
    assert.deepEqual(hang?.destination, newEndpoint(BACKEND, 8080));
    assert.deepEqual(hang?.originalDestination, newEndpoint(VIP, 80));
    assert.ok(Number(hang?.http?.latency?.seconds ?? 0) >= 1);
    // The connection's end after the sweep gives no second record, and takes the reported request's entry.
    await client;
    await new Promise((r) => setTimeout(r, 300));
    probe.tick(MonotonicClock.nowNs());
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(ctx.records.length, 1);
    // Its FIN crosses the veths in softirq, which a loaded machine runs late.
    await waitFor('the connection\'s end to take its entry', () => entries(probe.object.map('http_conns')) === 0);
  } finally {
    probe.close();
  }
});

test('a client that gives up (its FIN after 300 ms), the server closing after it: CLIENT_CLOSED, with the client\'s wait', async () => {
  assert.ok(http);
  // The 300 ms count from the request's write: counted from the start, a connect late on a loaded machine shortened them.
  await net.run('cli', process.execPath, ['-e', `
    const s = require('node:net').connect(80, '${VIP}', () => {
      s.write('GET /gaveup HTTP/1.1\\r\\nHost: backend\\r\\n\\r\\n');
      setTimeout(() => s.end(), 300);
    });
    s.on('close', () => process.exit(0));`], CGROUP);
  await waitFor('the record of the abandoned request', () => ctx.records.some((r) => r.http?.path === '/gaveup'));
  const r = ctx.records.find((x) => x.http?.path === '/gaveup')!;
  assert.equal(r.http?.noResponse, 'CLIENT_CLOSED');
  const waited = Number(r.http?.latency?.seconds ?? 0) + (r.http?.latency?.nanos ?? 0) / 1e9;
  assert.ok(waited >= 0.25 && waited < 2, `waited ${waited}s (the client's timeout was 300 ms)`);
  assert.deepEqual(r.originalDestination, newEndpoint(VIP, 80));
});

/** One GET over MPTCP (its subflows are kernel sockets); prints the status line. */
const MPTCP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)  # IPPROTO_MPTCP
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET /mptcp HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
data = b''
while chunk := s.recv(4096):
    data += chunk
s.close()
print(data.split(b'\\r\\n')[0].decode())
`;

test('a kernel socket (an MPTCP subflow: no sock_release) leaves no entry in svc_orig_dst', async () => {
  assert.ok(svc && http);
  // Debian's interpreter: scripts/setup installs it.
  const out = await net.run('cli', '/usr/bin/python3', ['-c', MPTCP_CLIENT, VIP, '80'], CGROUP);
  assert.equal(out.trim(), 'HTTP/1.1 200 OK');
  await waitFor('the /mptcp record', () => ctx.records.some((r) => r.http?.path === '/mptcp'));
  // The user's MPTCP socket is released at close (its entry, if any, goes); the subflow never is.
  await waitFor('svc_orig_dst to empty', () => entries(svc!.map) === 0);
  assert.deepEqual(svc.losses().filter((l) => l.count > 0), []);
});

test('closing svc detaches every one of its programs from the cgroup', () => {
  assert.ok(svc);
  const attached = () => (JSON.parse(sh('bpftool', ['cgroup', 'show', CGROUP, '-j']).trim() || '[]') as { name: string }[]).map((p) => p.name).sort();
  // bpftool shows at most 15 characters of a name.
  assert.deepEqual(attached(), [...SVC_PROGRAMS].map((n) => n.slice(0, 15)).sort());
  svc.close();
  svc = undefined;
  assert.deepEqual(attached(), []);
});

let replays = 0;

/**
 * Runs the packet object's TC ingress program (http enabled) on crafted packets in the order given; returns
 * once their records arrived. The ring buffer's consumer delivers asynchronously, and in order: an exchange
 * of a connection of its own run last gives a record after all of theirs, taken out of `records` again.
 * (Waiting for a quiet spell instead, 100 ms without a record, returned early on a loaded machine.)
 */
async function replay(probe: L7PacketProbe, records: FlowRecord[], packets: Buffer[]): Promise<void> {
  const n = replays++;
  const marker = `/replayed-${n}`;
  for (const data of [...packets, request(60000 + n, 1, marker), response(60000 + n, 1, '204 No Content')]) {
    probe.object.program('packet_tc_ingress').testRun({ data });
  }
  await waitFor(`the record of ${marker}`, () => records.some((r) => r.http?.path === marker));
  records.splice(records.findIndex((r) => r.http?.path === marker), 1);
}

const C = '10.254.9.2';
const S = '10.254.9.3';
const request = (port: number, seq: number, path: string) => ip(C, S, 6, tcp(port, 80, seq, Buffer.from(`GET ${path} HTTP/1.1\r\n\r\n`)));
const response = (port: number, seq: number, status: string) => ip(S, C, 6, tcp(80, port, seq, Buffer.from(`HTTP/1.1 ${status}\r\n`)));
const serverFin = (port: number, seq: number) => ip(S, C, 6, tcp(80, port, seq, Buffer.alloc(0), 0x11));

test('keep-alive exchanges, each packet seen twice: one record each, the entry gone once answered', async () => {
  const ctx = testContext();
  const probe = createHttpProbe(ctx, { interfaces: [] }, 'tc');
  try {
    const port = 41001;
    const [q1, r1, q2, r2] = [request(port, 1, '/k1'), response(port, 1, '200 OK'), request(port, 40, '/k2'), response(port, 30, '404 Not Found')];
    await replay(probe, ctx.records, [q1, q1, r1]);
    assert.equal(entries(probe.object.map('http_conns')), 0);
    await replay(probe, ctx.records, [r1, q2, q2, r2, r2]);
    assert.deepEqual(ctx.records.map((r) => [r.http?.path, r.http?.status]), [['/k1', 200], ['/k2', 404]]);
    assert.equal(entries(probe.object.map('http_conns')), 0);
    assert.equal(probe.counters()['http:unanswered_request'], 0);
  } finally {
    probe.close();
  }
});

test('pipelined requests: no duplicate record when the second request is seen again after the first response', async () => {
  const ctx = testContext();
  const probe = createHttpProbe(ctx, { interfaces: [] }, 'tc');
  try {
    const port = 41002;
    const [q1, q2, r1, r2] = [request(port, 1, '/p1'), request(port, 40, '/p2'), response(port, 1, '200 OK'), response(port, 30, '200 OK')];
    // The second request passes the first interface before the first response, the second after it.
    await replay(probe, ctx.records, [q1, q1, q2, r1, q2, r1, r2, r2]);
    assert.equal(ctx.records.length, 1, 'pipelining is not paired, but gives no duplicate');
    assert.equal(probe.counters()['http:unanswered_request'], 1);
    assert.equal(entries(probe.object.map('http_conns')), 1, 'a pipelining connection keeps its entry until it ends');
    await replay(probe, ctx.records, [serverFin(port, 60)]);
    assert.equal(entries(probe.object.map('http_conns')), 0);
    assert.equal(probe.counters()['http:unanswered_request'], 1, 'an answered exchange ending is no loss');
  } finally {
    probe.close();
  }
});

/** Runs `run` with a fresh http probe (no interfaces: crafted packets only) and the records it gives. */
async function withProbe(run: (probe: L7PacketProbe, records: FlowRecord[]) => Promise<void>): Promise<void> {
  const ctx = testContext();
  const probe = createHttpProbe(ctx, { interfaces: [] }, 'tc');
  try {
    await run(probe, ctx.records);
  } finally {
    probe.close();
  }
}

const counter = (probe: L7PacketProbe, name: string) => probe.counters()[name] ?? 0;

test('a FIN or RST of another connection of the same client port leaves the waiting exchange alone', async () => {
  const other = '10.254.9.4';
  const port = 41003;
  const finFrom = (server: string) => ip(server, C, 6, tcp(80, port, 900, Buffer.alloc(0), 0x11));
  const rstTo = (server: string) => ip(C, server, 6, tcp(port, 80, 900, Buffer.alloc(0), 0x14));
  await withProbe(async (probe, records) => {
    await replay(probe, records, [request(port, 1, '/f1'), finFrom(other), rstTo(other), response(port, 1, '200 OK')]);
    assert.deepEqual(records.map((r) => [r.http?.path, r.http?.status]), [['/f1', 200]]);
    assert.equal(counter(probe, 'http:unanswered_request'), 0);
    assert.equal(counter(probe, 'http:unmatched_response'), 0);
    assert.equal(entries(probe.object.map('http_conns')), 0);
  });
});

test('a FIN from the server as seen on either side of a DNAT ends the waiting exchange', async () => {
  const vip = '10.254.200.20';
  const port = 41004;
  const toVip = ip(C, vip, 6, tcp(port, 80, 1, Buffer.from('GET /d HTTP/1.1\r\n\r\n')));
  for (const finSource of [vip, S]) {
    await withProbe(async (probe, records) => {
      // The request passes the client's interface to the virtual IP, then the server's translated.
      await replay(probe, records, [toVip, request(port, 1, '/d'), ip(finSource, C, 6, tcp(80, port, 900, Buffer.alloc(0), 0x11))]);
      assert.equal(counter(probe, 'http:unanswered_request'), 0, `FIN from ${finSource}`);
      assert.equal(entries(probe.object.map('http_conns')), 0);
      assert.deepEqual(records.map((r) => [r.http?.path, r.http?.noResponse]), [['/d', 'CLOSED']]);
      // The server as the request was last seen going (after the DNAT), the virtual IP as asked for.
      assert.deepEqual(records[0]?.destination, newEndpoint(S, 80));
      assert.deepEqual(records[0]?.originalDestination, newEndpoint(vip, 80));
    });
  }
});

test('a request retransmitted after its response: no phantom exchange, nothing counted unanswered', async () => {
  const port = 41005;
  await withProbe(async (probe, records) => {
    const q1 = request(port, 1, '/r1');
    await replay(probe, records, [q1, response(port, 1, '200 OK'), q1, request(port, 40, '/r2'), response(port, 30, '200 OK'), request(port, 80, '/r3'), response(port, 60, '200 OK')]);
    assert.deepEqual(records.map((r) => r.http?.path), ['/r1', '/r2', '/r3']);
    assert.equal(counter(probe, 'http:unanswered_request'), 0);
    assert.equal(entries(probe.object.map('http_conns')), 0);
  });
});
