// Red team: an HTTP/1.1 request a server accepts and answers that the http
// probe does not see, without counting anything. RFC 9112 2.2: "a server that
// is expecting to receive and parse a request-line SHOULD ignore at least one
// empty line (CRLF) received prior to the request-line"; Node's parser (llhttp),
// nginx and Go's net/http do. A request preceded by CRLF is served, and the
// kernel side (bpf/include/http.h: http_packet) tests only the payload's first
// bytes for a method, so it opens no exchange; the response is then only the
// counter http:unmatched_response (not a loss). The server's own log is the
// ground truth.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import { createHttpProbe } from '../../src/probes/http/plan.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { testContext, waitFor } from './l7-net.js';
import { PodNet } from './pod-net.js';

const SUBNET = '10.251.9';
const SERVER = `${SUBNET}.80`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let probe: L7PacketProbe | undefined;
const served: string[] = [];

/** Prints "ready", then each request it serves as "METHOD path". */
const SERVER_JS = `
const [host, port] = process.argv.slice(1);
require('node:http').createServer((req, res) => { console.log(req.method + ' ' + req.url); res.end('ok\\n'); })
  .listen(Number(port), host, () => console.log('ready'));
`;

/** Writes its argument (JSON-encoded string) on one connection, waits for one response, prints the local port. */
const RAW_CLIENT = `
const [host, port, payload] = process.argv.slice(1);
const c = require('node:net').connect(Number(port), host, () => { c.setNoDelay(true); c.write(JSON.parse(payload)); });
let got = '';
c.on('data', (d) => { got += d; if (got.includes('\\r\\n\\r\\n')) { console.log(c.localPort); c.end(); } });
setTimeout(() => { console.error('no response: ' + JSON.stringify(got)); process.exit(1); }, 30000).unref();
`;

before(async () => {
  net = new PodNet('pfrth', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  ctx = testContext();
  const server = net.spawn('srv', process.execPath, ['-e', SERVER_JS, SERVER, '8080']);
  await PodNet.ready(server, 'the HTTP server');
  server.stdout?.on('data', (d: Buffer) => served.push(...d.toString().split('\n').filter((l) => l.startsWith('GET '))));
  probe = createHttpProbe(ctx, { interfaces: [] }, 'tc');
  probe.attachInitial(net.hostInterfaces());
});

after(() => {
  probe?.close();
  net?.destroy();
});

test('a request after an empty line (RFC 9112 2.2), which the server serves, is recorded or its miss counted', async () => {
  const lossesBefore = (probe?.losses() ?? []).reduce((n, l) => n + l.count, 0);
  const out = await net.run('cli', process.execPath, ['-e', RAW_CLIENT, SERVER, '8080', JSON.stringify('\r\nGET /admin/export HTTP/1.1\r\nHost: backend\r\n\r\n')]);
  const port = Number(out.trim());
  await waitFor('the server to log the request', () => served.includes('GET /admin/export'));
  const ours = () => ctx.records.filter((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === port);
  // The exchange's record is in the ring buffer within ~10 ms of the response; its connection's FIN came after.
  const losses = () => (probe?.losses() ?? []).reduce((n, l) => n + l.count, 0);
  await waitFor('an HTTP record of the request, or a loss', () => ours().length > 0 || losses() > lossesBefore, 30_000).catch(() => undefined);
  const lossesAfter = losses();
  assert.ok(
    ours().some((r) => r.http?.path === '/admin/export' && r.http?.status === 200) || lossesAfter > lossesBefore,
    `the server served GET /admin/export; http records of port ${port}: ${JSON.stringify(ours().map((r) => r.http))}, ` +
      `losses ${lossesAfter - lossesBefore}, counters ${JSON.stringify(probe?.counters())}`,
  );
});
