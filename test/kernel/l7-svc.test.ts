// Service translation on real traffic: the client asks for a virtual IP, nft
// DNAT (as kube-proxy does) sends it to a backend, and the L7 records carry the
// backend as destination and the virtual IP as originalDestination, found by
// the svc cgroup programs (connect4 for TCP, connected and unconnected UDP).
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podflow } from '../../src/proto/gen/flow.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { createDnsProbe } from '../../src/probes/dns/plan.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { createHttpProbe } from '../../src/probes/http/plan.js';
import { OriginalDestinations } from '../../src/probes/svc/original-destinations.js';
import { HTTP_CLIENT, HTTP_SERVER, parseClientOutput, testContext, waitFor } from './l7-net.js';
import { PodNet, sh } from './pod-net.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const SUBNET = '10.237.3';
const BACKEND = `${SUBNET}.80`;
const VIP = '10.238.0.10';
const CGROUP = `/sys/fs/cgroup/unified/pfls-${process.pid}`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let svc: OriginalDestinations | undefined;
let probes: L7PacketProbe[] = [];
let ticker: NodeJS.Timeout | undefined;

/** One DNS query from an unconnected UDP socket (the sendmsg4 path); prints the source port. */
const UDP_QUERY = `
const dgram = require('node:dgram');
const [server, name] = process.argv.slice(1);
const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
const q = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
const s = dgram.createSocket('udp4');
s.on('message', () => { console.log(s.address().port); s.close(); });
s.send(q, 53, server);
`;

before(async () => {
  net = new PodNet('pfls', SUBNET, [
    { name: 'srv', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  // The virtual IP is not on any interface: only DNAT in the client's namespace makes it reachable.
  net.exec('cli', 'ip', ['route', 'add', '10.238.0.0/16', 'dev', 'eth0']);
  ctx = testContext();
  mkdirSync(CGROUP);
  svc = new OriginalDestinations(ctx.objectDir, CGROUP);
  await PodNet.ready(net.spawn('srv', process.execPath, ['-e', HTTP_SERVER, BACKEND, '8080']), 'the HTTP server');
  net.spawn('srv', 'dnsmasq', [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--user=root',
    '--bind-interfaces', `--listen-address=${BACKEND}`, '--local=/pfl.test/', `--host-record=web.pfl.test,${SUBNET}.81`,
  ]);
  const http = createHttpProbe(ctx, { interfaces: [], originalDestinations: svc }, 'tc');
  probes.push(http);
  const dns = createDnsProbe(ctx, { interfaces: [], originalDestinations: svc }, 'tc');
  probes.push(dns);
  for (const p of probes) p.attachInitial(net.hostInterfaces());
  ticker = setInterval(() => dns.tick(MonotonicClock.nowNs()), 50);
});

after(() => {
  if (ticker) clearInterval(ticker);
  for (const p of probes) p.close();
  probes = [];
  svc?.close();
  net?.destroy();
  try {
    rmdirSync(CGROUP);
  } catch {
    // Still has a process (killed by destroy, may take a moment) or never made.
  }
});

test('nft DNAT is in place', () => {
  // Written here rather than in before() so a missing nf_nat shows as this test's failure.
  const rules = `table ip pfl_svc {
  chain out {
    type nat hook output priority -100;
    ip daddr ${VIP} tcp dport 80 dnat to ${BACKEND}:8080
    ip daddr ${VIP} udp dport 53 dnat to ${BACKEND}:53
    ip daddr ${VIP} tcp dport 53 dnat to ${BACKEND}:53
  }
}`;
  sh('sh', ['-c', `printf '%s\\n' "$1" | ip netns exec ${net.pod('cli').netns} nft -f -`, 'sh', rules]);
  assert.match(net.exec('cli', 'nft', ['list', 'table', 'ip', 'pfl_svc']), /dnat to/);
});

test('HTTP to a virtual IP: the backend as destination, the virtual IP as original destination', async () => {
  const [res] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, VIP, '80', 'GET /svc'], CGROUP));
  assert.equal(res?.status, 200);
  const ours = () => ctx.records.filter((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === res?.localPort);
  await waitFor('the HTTP record', () => ours().length > 0);
  const r = ours()[0];
  assert.deepEqual(r?.destination, newEndpoint(BACKEND, 8080));
  assert.deepEqual(r?.originalDestination, newEndpoint(VIP, 80));
  assert.deepEqual(r?.source, newEndpoint(`${SUBNET}.2`, res?.localPort ?? -1));
});

test('DNS to a virtual IP over connected UDP (dig) and unconnected UDP (sendmsg)', async () => {
  const digOut = await net.run('cli', 'dig', [`@${VIP}`, '+tries=1', '+time=2', 'web.pfl.test'], CGROUP);
  const id = Number(/id: (\d+)/.exec(digOut)?.[1]);
  assert.match(digOut, /status: NOERROR/, digOut);
  await waitFor(`the dig record (id ${id})`, () => ctx.records.some((r) => r.dns?.id === id && r.dns.query === 'web.pfl.test'));
  const d = ctx.records.find((r) => r.dns?.id === id && r.dns.query === 'web.pfl.test');
  assert.deepEqual(d?.destination, newEndpoint(BACKEND, 53));
  assert.deepEqual(d?.originalDestination, newEndpoint(VIP, 53));
  assert.equal(d?.dns?.rcode, 'NOERROR');

  const port = Number((await net.run('cli', process.execPath, ['-e', UDP_QUERY, VIP, 'web.pfl.test'], CGROUP)).trim());
  await waitFor('the sendmsg record', () => ctx.records.some((r) => r.type === podflow.v1.RecordType.DNS && r.source?.port === port));
  const u = ctx.records.find((r) => r.type === podflow.v1.RecordType.DNS && r.source?.port === port);
  assert.deepEqual(u?.destination, newEndpoint(BACKEND, 53));
  assert.deepEqual(u?.originalDestination, newEndpoint(VIP, 53));
});

test('a client outside the watched cgroup, or talking to the backend directly, gets no original destination', async () => {
  const [direct] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, BACKEND, '8080', 'GET /direct'], CGROUP));
  const [outside] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, VIP, '80', 'GET /outside']));
  const find = (port: number | undefined) => ctx.records.find((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === port);
  await waitFor('both records', () => !!find(direct?.localPort) && !!find(outside?.localPort));
  await sleep(50);
  assert.deepEqual(find(direct?.localPort)?.destination, newEndpoint(BACKEND, 8080));
  assert.equal(find(direct?.localPort)?.originalDestination, undefined);
  assert.deepEqual(find(outside?.localPort)?.destination, newEndpoint(BACKEND, 8080));
  assert.equal(find(outside?.localPort)?.originalDestination, undefined);
});
