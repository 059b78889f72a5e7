// The original destination of an HTTP exchange whose client socket is released before the exchange
// ends: svc deletes the socket's published destination at cgroup/sock_release, so it must be taken
// while the request is seen (bpf/include/http.h, http_request), not when the response or the
// connection's end comes. A client that sends its request to a virtual IP (nft DNAT to a backend, as
// kube-proxy does) and closes its socket at once; the backend answers later, to the orphaned socket.
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import { createHttpProbe } from '../../src/probes/http/plan.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { OriginalDestinations } from '../../src/probes/svc/original-destinations.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';
import { HTTP_SERVER, testContext, waitFor } from './l7-net.js';
import { PodNet, sh } from './pod-net.js';

const SUBNET = '10.237.13';
const BACKEND = `${SUBNET}.80`;
const VIP = '10.238.13.10';
const CGROUP = `/sys/fs/cgroup/unified/pflr-${process.pid}`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let svc: OriginalDestinations | undefined;
let http: L7PacketProbe | undefined;

/** Writes one request to host:port, then closes the socket without waiting for the answer; prints its local port. */
const SEND_AND_CLOSE = `
const net = require('node:net');
const [host, port, path] = process.argv.slice(1);
const s = net.connect(Number(port), host, () => {
  s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: backend.pfl.test\\r\\n\\r\\n', () => {
    console.log(s.localPort);
    s.destroy();
  });
});
`;

before(async () => {
  net = new PodNet('pflr', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  net.exec('cli', 'ip', ['route', 'add', '10.238.13.0/24', 'dev', 'eth0']);
  const rules = `table ip pflr_svc {
  chain out {
    type nat hook output priority -100;
    ip daddr ${VIP} tcp dport 80 dnat to ${BACKEND}:8080
  }
}`;
  sh('sh', ['-c', `printf '%s\\n' "$1" | ip netns exec ${net.pod('cli').netns} nft -f -`, 'sh', rules]);
  ctx = testContext();
  mkdirSync(CGROUP);
  svc = new OriginalDestinations(ctx.objectDir, CGROUP);
  await PodNet.ready(net.spawn('srv', process.execPath, ['-e', HTTP_SERVER, BACKEND, '8080']), 'the HTTP server');
  http = createHttpProbe(ctx, { interfaces: [], originalDestinations: svc }, 'tc');
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

test('a client that closed its socket before the answer: the record still carries the virtual IP', async () => {
  const port = Number((await net.run('cli', process.execPath, ['-e', SEND_AND_CLOSE, VIP, '80', '/gone?delay=300'], CGROUP)).trim());
  assert.ok(port > 0, 'the client printed its port');
  const ours = () => ctx.records.find((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === port);
  await waitFor('the HTTP record', () => !!ours());
  const r = ours();
  assert.deepEqual(r?.destination, newEndpoint(BACKEND, 8080));
  assert.deepEqual(r?.originalDestination, newEndpoint(VIP, 80), 'the destination the socket asked for, though the socket is gone');
});
