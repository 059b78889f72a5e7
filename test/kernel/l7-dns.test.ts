// The dns probe on real traffic: dnsmasq in one namespace, dig in another,
// the probe on the host-side veths of both (one record per query, not two).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { dnsPlan } from '../../src/probes/dns/plan.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import type { L7PacketProbe } from '../../src/probes/shared/l7-packet-probe.js';
import { DNS_CLIENT, ms, testContext, waitFor, type DnsClientResult } from './l7-net.js';
import { PodNet, sh } from './pod-net.js';
import { heldProgramIds } from './probes-held.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const SUBNET = '10.237.1';
const SERVER = `${SUBNET}.53`;
const MUTE = `${SUBNET}.54`;
const DELAYED = `${SUBNET}.55`;
let net: PodNet;
let ctx: ReturnType<typeof testContext>;
let probe: AttachedProbe | undefined;
let ticker: NodeJS.Timeout | undefined;

interface DigResult {
  id: number;
  status: string;
}

function dig(args: readonly string[], server = SERVER): DigResult {
  let out: string;
  try {
    out = net.exec('cli', 'dig', [`@${server}`, '+tries=1', '+time=1', ...args]);
  } catch (err) {
    // dig exits 9 when no server answered; its output still names the id (none) and we only need the record.
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const header = /status: (\w+), id: (\d+)/.exec(out);
  return { id: Number(header?.[2] ?? -1), status: header?.[1] ?? 'NONE' };
}

/** A lookup timed by DNS_CLIENT: the kernel's view of it lies inside the client's. */
async function timedLookup(server: string, name: string, qtype: number): Promise<{ client: DnsClientResult; record: FlowRecord }> {
  const client = JSON.parse(await net.run('cli', process.execPath, ['-e', DNS_CLIENT, server, name, String(qtype)])) as DnsClientResult;
  const record = await recordFor(client.id, name);
  const latency = ms(record.dns?.latency);
  // The client's clock runs from before send() to its response callback: it contains the wire time,
  // and on an idle machine exceeds it by a fraction of a millisecond.
  assert.ok(latency > 0 && latency <= client.ms, `latency ${latency} ms outside the client's ${client.ms} ms`);
  assert.equal(record.source?.port, client.port);
  return { client, record };
}


/** Through the plan, as the probe manager does: the interface patterns select this test's veths only. */
function startProbe(mode: 'tc' | 'socket_filter', timeoutMs = 5000): AttachedProbe {
  const candidate = dnsPlan({ interfaces: ['pfld*'], timeoutMs }).candidates.find((c) => c.hook === mode);
  assert.ok(candidate, `the dns plan has a ${mode} candidate`);
  const p = candidate.attach(ctx);
  ticker = setInterval(() => p.tick?.(MonotonicClock.nowNs()), 50);
  return p;
}

/** Ids of the loaded programs whose names start with `prefix`, from bpftool (an independent reader). */
/** Ids of the programs named <prefix>... that this process holds (other agents load the same names). */
function programIds(prefix: string): number[] {
  const held = heldProgramIds();
  const progs = JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number; name?: string }[];
  return progs.filter((p) => p.name?.startsWith(prefix) && held.has(p.id)).map((p) => p.id);
}

function stopProbe(): void {
  if (ticker) clearInterval(ticker);
  ticker = undefined;
  probe?.close();
  probe = undefined;
}

async function recordFor(id: number, query: string): Promise<FlowRecord> {
  const match = (r: FlowRecord) => r.dns?.id === id && r.dns?.query === query;
  await waitFor(`the DNS record of ${query} (id ${id})`, () => ctx.records.some(match));
  // A second sighting (the other veth) must not give a second record.
  await new Promise((r) => setTimeout(r, 150));
  const found = ctx.records.filter(match);
  assert.equal(found.length, 1, `one record for ${query} id ${id}, got ${found.length}`);
  return found[0] as FlowRecord;
}

before(async () => {
  net = new PodNet('pfld', SUBNET, [
    { name: 'srv', host: 53 },
    { name: 'cli', host: 2 },
    { name: 'mute', host: 54 },
  ]);
  ctx = testContext();
  net.spawn('srv', 'dnsmasq', [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--user=root',
    '--bind-interfaces', `--listen-address=${SERVER}`, '--local=/pfl.test/',
    `--host-record=web.pfl.test,${SUBNET}.81,fd00:237::81`,
  ]);
  await waitFor('dnsmasq to answer', () => dig(['web.pfl.test']).status === 'NOERROR');
});

after(() => {
  stopProbe();
  net?.destroy();
});

test('A, AAAA and NXDOMAIN lookups over UDP: names, types, rcodes, answers, latency inside the client\'s', async () => {
  probe = startProbe('tc');
  const a = dig(['web.pfl.test', 'A']);
  const ra = await recordFor(a.id, 'web.pfl.test');
  assert.equal(ra.type, podflow.v1.RecordType.DNS);
  assert.deepEqual({ qtype: ra.dns?.qtype, rcode: ra.dns?.rcode, answers: ra.dns?.answers, truncated: ra.dns?.truncated }, { qtype: 'A', rcode: 'NOERROR', answers: [`${SUBNET}.81`], truncated: false });
  assert.equal(ra.source?.ip, `${SUBNET}.2`);
  assert.deepEqual(ra.destination, newEndpoint(SERVER, 53));
  assert.equal(ra.transport?.protocol, podflow.v1.Protocol.UDP);
  assert.equal(ra.observation?.probe, 'dns');
  assert.equal(ra.observation?.hook, 'tc');
  // dig's "Query time" is whole ms measured around its own event loop (it strays by several ms on a
  // loaded machine): latency is compared with a tightly timed client instead.
  const timed = await timedLookup(SERVER, 'web.pfl.test', 1);
  assert.deepEqual([timed.client.rcode, timed.record.dns?.rcode, timed.record.dns?.answers], [0, 'NOERROR', [`${SUBNET}.81`]]);

  const aaaa = dig(['web.pfl.test', 'AAAA']);
  const raaaa = await recordFor(aaaa.id, 'web.pfl.test');
  assert.deepEqual([raaaa.dns?.qtype, raaaa.dns?.answers], ['AAAA', ['fd00:237::81']]);

  const nx = dig(['nope.pfl.test', 'A']);
  assert.equal(nx.status, 'NXDOMAIN');
  const rnx = await recordFor(nx.id, 'nope.pfl.test');
  assert.equal(rnx.dns?.rcode, 'NXDOMAIN');
  assert.deepEqual(rnx.dns?.answers, []);
  // Each message crossed both pods' veths: the kernel dropped the second sightings before the ring buffer.
  const counters = (probe as L7PacketProbe).counters();
  assert.ok((counters['dns:second_sighting'] ?? 0) >= 2 * 4, `second sightings dropped in the kernel: ${JSON.stringify(counters)}`);
});

test('DNS over TCP', async () => {
  const t = dig(['+tcp', 'web.pfl.test', 'A']);
  const r = await recordFor(t.id, 'web.pfl.test');
  assert.equal(r.transport?.protocol, podflow.v1.Protocol.TCP);
  assert.deepEqual(r.dns?.answers, [`${SUBNET}.81`]);
});

/**
 * Over one TCP connection: "both" writes an A and an AAAA query (ids 1111, 2222) in one segment, as
 * glibc does (RFC 7766 pipelining); "split" writes a query's 2-byte length, then 50 ms later the
 * query (id 3333). Prints the local port once every response came.
 */
const TCP_CLIENT = `
const [server, name, mode] = process.argv.slice(1);
const query = (id, qtype) => {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const m = Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, qtype, 0, 1])]);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(m.length);
  return Buffer.concat([l, m]);
};
const want = mode === 'both' ? 2 : 1;
const c = require('node:net').connect(53, server, () => {
  c.setNoDelay(true);
  if (mode === 'both') c.write(Buffer.concat([query(1111, 1), query(2222, 28)]));
  else { const q = query(3333, 1); c.write(q.subarray(0, 2)); setTimeout(() => c.write(q.subarray(2)), 50); }
});
let buf = Buffer.alloc(0), got = 0;
c.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { got++; buf = buf.subarray(2 + buf.readUInt16BE(0)); }
  if (got === want) { console.log(c.localPort); c.end(); }
});
setTimeout(() => { console.error('no response'); process.exit(1); }, 30000).unref();
`;

test('DNS over TCP: two queries in one segment, and a query whose length came in its own segment, each paired with its response', async () => {
  const both = Number(await net.run('cli', process.execPath, ['-e', TCP_CLIENT, SERVER, 'web.pfl.test', 'both']));
  const a = await recordFor(1111, 'web.pfl.test');
  const aaaa = await recordFor(2222, 'web.pfl.test');
  assert.deepEqual(
    [a, aaaa].map((r) => [r.source?.port, r.dns?.qtype, r.dns?.rcode, r.dns?.answers]),
    [
      [both, 'A', 'NOERROR', [`${SUBNET}.81`]],
      [both, 'AAAA', 'NOERROR', ['fd00:237::81']],
    ],
  );
  const split = Number(await net.run('cli', process.execPath, ['-e', TCP_CLIENT, SERVER, 'web.pfl.test', 'split']));
  const r = await recordFor(3333, 'web.pfl.test');
  assert.deepEqual([r.source?.port, r.dns?.rcode, r.dns?.answers], [split, 'NOERROR', [`${SUBNET}.81`]]);
  assert.equal((probe as L7PacketProbe).counters()['dns:tcp_unparsed'], 0);
});

// This kernel has no netem qdisc, so the delay is injected by a relay in the
// server's namespace: it holds each query 150 ms, then asks dnsmasq and relays
// the answer. It prints how long it really held each one (from the query's
// arrival to the answer's send): timers fire late on a loaded machine.
const RELAY = `
const dgram = require('node:dgram');
const [listen, upstream, delayMs] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (msg, from) => {
  const t0 = process.hrtime.bigint();
  setTimeout(() => {
    const u = dgram.createSocket('udp4');
    u.on('message', (resp) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      s.send(resp, from.port, from.address);
      console.log(JSON.stringify({ id: msg.readUInt16BE(0), ms }));
      u.close();
    });
    u.send(msg, 53, upstream);
  }, Number(delayMs));
});
s.bind(53, listen, () => console.log('ready'));
`;

test('a server answering after an injected delay shows that delay', async () => {
  net.exec('srv', 'ip', ['addr', 'add', `${DELAYED}/24`, 'dev', 'eth0']);
  const relay = net.spawn('srv', process.execPath, ['-e', RELAY, DELAYED, SERVER, '150']);
  await PodNet.ready(relay, 'the delay relay');
  let relayOut = '';
  relay.stdout?.on('data', (d: Buffer) => (relayOut += d.toString()));
  const { client, record: r } = await timedLookup(DELAYED, 'web.pfl.test', 1);
  const latency = ms(r.dns?.latency);
  const held = relayOut.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { id: number; ms: number }).find((x) => x.id === client.id);
  assert.ok(held, 'the relay reported the query');
  // The server side held it at least the delay; the wire time contains the server's time, the client's contains the wire's.
  assert.ok(held.ms >= 149, `the relay held the query ${held.ms} ms`);
  assert.ok(latency >= held.ms - 0.5, `latency ${latency} ms, but the server side alone took ${held.ms} ms`);
  assert.ok(latency >= 149, `latency ${latency} ms with a 150 ms delay`);
  assert.deepEqual(r.destination, newEndpoint(DELAYED, 53));
  relay.kill();
});

test('a query nobody answers is reported with rcode TIMEOUT', async () => {
  stopProbe();
  probe = startProbe('tc', 700);
  const before = ctx.records.length;
  dig(['lost.pfl.test', 'A'], MUTE);
  await waitFor('the TIMEOUT record', () => ctx.records.slice(before).some((r) => r.dns?.query === 'lost.pfl.test'));
  const r = ctx.records.slice(before).filter((x) => x.dns?.query === 'lost.pfl.test');
  assert.equal(r.length, 1);
  assert.equal(r[0]?.dns?.rcode, 'TIMEOUT');
  assert.equal(r[0]?.destination?.ip, MUTE);
  assert.equal(r[0]?.dns?.latency, undefined);
});

test('the socket-filter fallback sees the same lookups', async () => {
  stopProbe();
  probe = startProbe('socket_filter');
  assert.equal(probe.hook, 'socket_filter');
  const a = dig(['web.pfl.test', 'A']);
  const r = await recordFor(a.id, 'web.pfl.test');
  assert.equal(r.observation?.hook, 'socket_filter');
  assert.deepEqual([r.dns?.rcode, r.dns?.answers], ['NOERROR', [`${SUBNET}.81`]]);
  assert.ok(ms(r.dns?.latency) > 0);
  await timedLookup(SERVER, 'web.pfl.test', 1);
  assert.ok(probe.eventsSeen() >= 2);
  assert.equal(probe.losses().filter((l) => l.stage === 'kernel').reduce((n, l) => n + l.count, 0), 0);
  // Closing unloads the programs this probe loaded (compared by id: other tests load programs too).
  const ours = programIds('packet_');
  assert.ok(ours.length >= 3);
  stopProbe();
  // The kernel frees a program after an RCU grace period (seconds on a loaded machine).
  await waitFor(`programs ${ours.join(', ')} to be unloaded`, () => {
    const left = new Set((JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number }[]).map((p) => p.id));
    return ours.every((id) => !left.has(id));
  });
});
