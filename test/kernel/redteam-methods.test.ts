// Red team, round 3: a request whose method is none of the nine of RFC 9110
// section 9 (GET, POST, ...) opened no exchange in the kernel: no HTTP record,
// only http:unmatched_response counted for its answer. Servers serve such
// methods: Node (llhttp) PROPFIND, PURGE, MKCOL, SEARCH, REPORT, QUERY,
// UNSUBSCRIBE, ...; nginx any of A-Z, '-', '_'; Go's net/http any token, lowercase
// ("get") too, to a handler without a method pattern. So any pod hid its requests
// from the http probe by their method (WebDAV "PROPFIND /admin"). The server's
// own log and the client's answers are the ground truth. A protocol of its own
// that merely starts like a request line ("HELLO /x") and gets no status line
// back makes no record.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podflow } from '../../src/proto/gen/flow.js';
import { httpPlan } from '../../src/probes/http/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { testContext, waitFor } from './l7-net.js';
import { PodNet } from './pod-net.js';

const { RecordType } = podflow.v1;
const SUBNET = '10.251.30';
const SERVER = `${SUBNET}.80`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let probe: L7PacketProbe | undefined;
let ticker: NodeJS.Timeout | undefined;
const served: string[] = [];

/**
 * Node's HTTP server on 8080 (207 to PROPFIND, 200 else); on 8081 a server that answers any request
 * line as nginx or Go would ("HTTP/1.1 200"), on 9000 a protocol of its own ("HELLO" in, "WELCOME" out).
 * Prints "METHOD path" per request served.
 */
const SERVER_JS = `
const net = require('node:net');
require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    console.log(req.method + ' ' + req.url);
    res.writeHead(req.method === 'PROPFIND' ? 207 : 200).end('ok\\n');
  });
}).listen(8080, () => {
  net.createServer((s) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (!got.includes('\\r\\n\\r\\n')) return;
      console.log(got.split(' HTTP/')[0]);
      s.end('HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n');
    });
  }).listen(8081, () => {
    net.createServer((s) => s.once('data', () => s.end('WELCOME 1\\r\\n'))).listen(9000, () => console.log('ready'));
  });
});
`;

/**
 * Writes its argument (a JSON array of strings) on one connection, one write each 30 ms apart (TCP_NODELAY:
 * one segment each), waits for the server to close it, prints the local port.
 */
const RAW_CLIENT = `
const [host, port, payload] = process.argv.slice(1);
const parts = JSON.parse(payload);
const c = require('node:net').connect(Number(port), host, () => {
  c.setNoDelay(true);
  parts.forEach((p, i) => setTimeout(() => c.write(p), 30 * i));
});
let got = '';
c.on('data', (d) => { got += d; });
c.on('end', () => { console.log(c.localPort); c.end(); });
setTimeout(() => { console.error('no answer: ' + JSON.stringify(got)); process.exit(1); }, 30000).unref();
`;

async function send(port: number, ...payload: string[]): Promise<number> {
  return Number((await net.run('cli', process.execPath, ['-e', RAW_CLIENT, SERVER, String(port), JSON.stringify(payload)])).trim());
}

/** HTTP records of this client port since `from` (an index into ctx.records: a port can come again in a later test). */
const httpOf = (port: number, from: number) => ctx.records.slice(from).filter((r) => r.type === RecordType.HTTP && r.source?.port === port);
const counters = () => JSON.stringify(probe?.counters() ?? {});

before(async () => {
  net = new PodNet('rt3', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  ctx = testContext();
  const server = net.spawn('srv', process.execPath, ['-e', SERVER_JS]);
  await PodNet.ready(server, 'the servers');
  server.stdout?.on('data', (d: Buffer) => served.push(...d.toString().split('\n')));
  const candidate = httpPlan({ interfaces: ['rt3*'], timeoutMs: 2000 }).candidates.find((c) => c.hook === 'tc');
  assert.ok(candidate, 'a tc candidate');
  probe = candidate.attach(ctx) as L7PacketProbe;
  ticker = setInterval(() => probe?.tick?.(MonotonicClock.nowNs()), 50);
});

after(() => {
  if (ticker) clearInterval(ticker);
  probe?.close();
  net?.destroy();
});

for (const [method, path, port, status, cut] of [
  ['PROPFIND', '/admin/webdav', 8080, 207, 0],
  ['PURGE', '/cache/all', 8080, 200, 0],
  ['UNSUBSCRIBE', '/events/admin', 8080, 200, 0],
  ['UPDATEREDIRECTREF', '/admin/long-method', 8081, 200, 0],
  ['get', '/admin/lowercase', 8081, 200, 0],
  // Written in parts: the first shorter than the 8 bytes tested, then one ending in the method, then at its space.
  ['PROPFIND', '/admin/split-short', 8080, 207, 5],
  ['UPDATEREDIRECTREF', '/admin/split-long', 8081, 200, 12],
  ['PROPFIND', '/admin/split-space', 8080, 207, 9],
] as const) {
  test(`a ${method} request the server serves${cut ? `, written in parts cut after ${cut} bytes` : ''}: recorded with its method and path`, async () => {
    const from = ctx.records.length;
    const line = `${method} ${path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n`;
    const client = await send(port, ...(cut ? [line.slice(0, cut), line.slice(cut)] : [line]));
    await waitFor('the server to log the request', () => served.includes(`${method} ${path}`));
    await waitFor('an HTTP record', () => httpOf(client, from).length > 0, 30_000).catch(() => undefined);
    const http = httpOf(client, from).map((r) => r.http);
    assert.ok(
      http.length === 1 && http[0]?.method === method && http[0]?.path === path && http[0]?.status === status && http[0]?.host === 'backend',
      `the server served ${method} ${path} (${status}) to port ${client}; http records: ${JSON.stringify(http)}; counters ${counters()}`,
    );
  });
}

test('a request body segment that starts like a request line of another method ("Note /x"): the request keeps its record', async () => {
  const from = ctx.records.length;
  const body = 'Note /etc/hosts was read\n';
  const head = `POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const client = await send(8080, head, body);
  await waitFor('the server to log the request', () => served.includes('POST /upload'));
  await waitFor('an HTTP record', () => httpOf(client, from).length > 0, 30_000).catch(() => undefined);
  await sleep(200);
  const http = httpOf(client, from).map((r) => r.http);
  assert.ok(
    http.length === 1 && http[0]?.method === 'POST' && http[0]?.path === '/upload' && http[0]?.status === 200,
    `the server served POST /upload to port ${client}; http records: ${JSON.stringify(http)}; counters ${counters()}`,
  );
});

test('a protocol of its own starting like a request line ("HELLO /x v1"), answered otherwise: no HTTP record, counted malformed', async () => {
  const from = ctx.records.length;
  const malformed = () => probe?.losses().find((l) => l.reason === 'http:malformed_exchange')?.count ?? 0;
  const before = malformed();
  const client = await send(9000, 'HELLO /x v1\r\n');
  // The server's FIN (after its answer) ends the exchange the kernel opened: user space finds no request line in it.
  await waitFor('the exchange counted malformed', () => malformed() > before, 30_000).catch(() => undefined);
  assert.deepEqual(httpOf(client, from).map((r) => r.http), [], `counters ${counters()}`);
  assert.equal(malformed(), before + 1);
});

test('a request of another method the server closes on without an answer: recorded with noResponse CLOSED', async () => {
  const from = ctx.records.length;
  const client = await send(9000, 'PROPFIND /admin/crash HTTP/1.1\r\nHost: backend\r\n\r\n');
  await waitFor('an HTTP record', () => httpOf(client, from).length > 0, 30_000).catch(() => undefined);
  const http = httpOf(client, from).map((r) => r.http);
  assert.ok(
    http.length === 1 && http[0]?.method === 'PROPFIND' && http[0]?.path === '/admin/crash' && http[0]?.noResponse === 'CLOSED',
    `port ${client}: http records ${JSON.stringify(http)}; counters ${counters()}`,
  );
});
