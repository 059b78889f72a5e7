// The probe manager on the real kernel with real traffic between two "pods"
// (network namespaces on the node's bridge, ./pod-net.ts):
// TCP lifecycle per side, failed connects, resets, retransmissions, drops with
// their reason, flow counters, new interfaces, hook fallbacks, clean stop.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { createProbeManager } from '../../src/probes/index.js';
import { dropsPlan } from '../../src/probes/drops/plan.js';
import { flowsPlan } from '../../src/probes/flows/plan.js';
import type { DropReasonLists } from '../../src/probes/drops/reasons.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import type { ProbeManager } from '../../src/probes/types.js';
import { CgroupResolver, findCgroup2Root } from '../../src/enrich/cgroup.js';
import { MetadataEnricher } from '../../src/enrich/enricher.js';
import { MetadataStore } from '../../src/enrich/store.js';
import { PodNet, sh, waitForCount as waitFor } from './pod-net.js';
import { heldProgramIds } from './probes-held.js';

const { RecordType, Side } = podflow.v1;

/** The node's pods on one /24 (my range: 10.243.0.0/16), a late one added while the probes run. */
const SUBNET = '10.243.1';
const A = `${SUBNET}.2`;
const B = `${SUBNET}.3`;
const IPV6 = 'fd00:243::a';
let net: PodNet;
/** Host-side veths (pfr<i>h, in order of creation); the third appears while running. */
const HOST_IFS = ['pfr0h', 'pfr1h', 'pfr2h'];

/** A cgroup v2 directory named as a container runtime names a container's cgroup. */
const CGROUP_V2 = findCgroup2Root();
const CGROUP_ROOT = `${CGROUP_V2 ?? '/nonexistent'}/pfr-test`;
const containerCgroup = (id: string): string => `${CGROUP_ROOT}/cri-containerd-${id}.scope`;
const CONTAINER_IDS = ['a'.repeat(64), 'b'.repeat(64)] as const;

const nodeArgs = (script: string, args: string[]): string[] => ['--input-type=module', '-e', script, ...args];

/** Runs a Node script inside a pod; resolves with its stdout once it exits 0. */
async function runIn(pod: string, script: string, ...args: string[]): Promise<string> {
  return net.run(pod, process.execPath, nodeArgs(script, args));
}

/** As runIn, inside a cgroup (a "container"). */
async function runInCgroup(cgroup: string, pod: string, script: string, ...args: string[]): Promise<string> {
  return net.run(pod, process.execPath, nodeArgs(script, args), cgroup);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill();
  await exited;
}

/** Starts a long-running Node script in a pod (optionally in a cgroup) and waits for its "ready" line. */
async function startIn(pod: string, script: string, ...args: string[]): Promise<ChildProcess> {
  const child = net.spawn(pod, process.execPath, nodeArgs(script, args));
  await PodNet.ready(child, `server in ${pod}`);
  return child;
}

async function startInCgroup(cgroup: string, pod: string, script: string, ...args: string[]): Promise<ChildProcess> {
  const child = net.spawn(pod, process.execPath, nodeArgs(script, args), cgroup);
  await PodNet.ready(child, `server in ${pod}`);
  return child;
}

// Reads everything the client sends, then answers with argv[1] bytes and closes (or resets when argv[2]
// is "reset"). Listens on argv[3] (default B).
const SERVER = `
import net from 'node:net';
const [reply, mode, host] = [Number(process.argv[1]), process.argv[2], process.argv[3] || '${B}'];
net.createServer((s) => {
  s.on('data', () => {});
  s.on('error', () => {});
  s.on('end', () => mode === 'reset' ? s.resetAndDestroy() : s.end(Buffer.alloc(reply, 120)));
}).listen(8080, host, () => console.log('ready'));
`;

// argv: count, bytes to send, hold ms before sending, server address (default B).
// Prints "<pid> <local port>" per connection.
const CLIENT = `
import net from 'node:net';
const [count, size, hold] = process.argv.slice(1, 4).map(Number);
const host = process.argv[4] || '${B}';
for (let i = 0; i < count; i++) {
  await new Promise((resolve, reject) => {
    const s = net.connect(8080, host);
    let got = 0;
    s.on('error', (e) => (e.code === 'ECONNRESET' ? resolve() : reject(e)));
    s.on('data', (d) => (got += d.length));
    s.on('connect', () => {
      console.log(process.pid + ' ' + s.localPort);
      setTimeout(() => s.end(Buffer.alloc(size, 97)), hold);
    });
    s.on('close', resolve);
  });
}
`;

const CONNECT_CLOSED = `
import net from 'node:net';
const s = net.connect(9, '${B}');
s.on('error', (e) => { console.log(e.code); });
s.on('connect', () => { console.log('connected?'); s.destroy(); });
`;

const UDP_SEND = `
import dgram from 'node:dgram';
const [host, port, count, size] = [process.argv[1], ...process.argv.slice(2).map(Number)];
const s = dgram.createSocket('udp4');
for (let i = 0; i < count; i++) await new Promise((r) => s.send(Buffer.alloc(size, 1), port, host, r));
s.close();
`;

const records: FlowRecord[] = [];
let manager: ProbeManager;
let cgroups: CgroupResolver | undefined;

function quiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // Cleanup of something that may not exist.
  }
}

function ours(r: FlowRecord): boolean {
  return [r.source?.ip, r.destination?.ip].some((ip) => ip?.startsWith('10.243.') || ip?.startsWith('fd00:243:'));
}


const ms = (d: { seconds?: number | null; nanos?: number | null } | null | undefined): number => Number(d?.seconds ?? 0) * 1000 + (d?.nanos ?? 0) / 1e6;

before(async () => {
  net = new PodNet('pfr', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }], { gateway: 1 });
  assert.ok(CGROUP_V2, 'a cgroup v2 mount');
  for (const id of CONTAINER_IDS) mkdirSync(containerCgroup(id), { recursive: true });
  // Container ids come from the enricher (cgroup id -> container), as in the agent: the probes carry cgroupId only.
  cgroups = new CgroupResolver({ root: CGROUP_V2, minRescanIntervalMs: 200, maxDepth: 8 });
  await cgroups.scan();
  const enricher = new MetadataEnricher({ store: new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: [] }), sources: [], cgroups });
  manager = createProbeManager({
    probes: ['flows', 'tcp', 'retransmit', 'drops', 'rtt', 'process'],
    interfaces: HOST_IFS,
    flowActiveTimeoutMs: 5000,
    flowIdleTimeoutMs: 1000,
    nodeName: 'pfr-node',
    interfacePollMs: 200,
    cgroupRoot: CGROUP_V2,
    ingress: {
      ingest: (batch) => {
        for (const r of batch) {
          if (!ours(r)) continue;
          enricher.enrich(r);
          records.push(r);
        }
      },
    },
  });
  await manager.start();
});

after(async () => {
  try {
    await manager.stop();
  } finally {
    cgroups?.stop();
    net?.destroy();
    for (const id of CONTAINER_IDS) quiet('rmdir', [containerCgroup(id)]);
    quiet('rmdir', [CGROUP_ROOT]);
  }
});

test('hook selection: tcp falls back from fentry and kprobe to the BTF raw tracepoints, with reasons', () => {
  const status = manager.status();
  const byProbe = new Map(status.map((s) => [s.probe, s]));
  const tcp = byProbe.get('tcp');
  assert.ok(tcp?.attached);
  assert.equal(tcp.hook, 'tp_btf/inet_sock_set_state');
  assert.deepEqual(tcp.skipped.map((s) => s.hook), ['fentry/tcp_set_state', 'kprobe/tcp_set_state']);
  assert.match(tcp.skipped[1]?.reason ?? '', /ENOENT|No such file/);
  assert.equal(byProbe.get('flows')?.hook, 'tcx', 'TC attach as TCX links on this kernel');
  assert.equal(byProbe.get('retransmit')?.hook, 'tp_btf/tcp_retransmit_skb');
  assert.equal(byProbe.get('drops')?.hook, 'tracepoint/skb/kfree_skb');
  assert.equal(byProbe.get('rtt')?.hook, 'sockops');
  assert.equal(byProbe.get('process')?.attached, true);
});

test('N connections between two local pods: N TCP_OPEN and N TCP_CLOSE per side, exact bytes, durations', async () => {
  const N = 5;
  const SEND = 3000;
  const REPLY = 5000;
  const HOLD = 200;
  const server = await startIn('b', SERVER, String(REPLY));
  try {
    const started = Date.now();
    const out = await runIn('a', CLIENT, String(N), String(SEND), String(HOLD));
    const elapsed = Date.now() - started;
    const conns = out.trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number]);
    assert.equal(conns.length, N);
    const ports = new Set(conns.map(([, port]) => port));
    const pick = (type: podflow.v1.RecordType, side: podflow.v1.Side) => () =>
      records.filter((r) => r.type === type && r.observation?.side === side && r.destination?.port === 8080 && ports.has(r.source?.port ?? 0));
    const opensC = await waitFor('client TCP_OPEN', pick(RecordType.TCP_OPEN, Side.CLIENT), N);
    const opensS = await waitFor('server TCP_OPEN', pick(RecordType.TCP_OPEN, Side.SERVER), N);
    const closesC = await waitFor('client TCP_CLOSE', pick(RecordType.TCP_CLOSE, Side.CLIENT), N);
    const closesS = await waitFor('server TCP_CLOSE', pick(RecordType.TCP_CLOSE, Side.SERVER), N);
    for (const r of [...opensC, ...opensS, ...closesC, ...closesS]) {
      assert.equal(r.source?.ip, A, 'the initiator is the source on both sides');
      assert.equal(r.destination?.ip, B);
      assert.equal(r.transport?.protocol, podflow.v1.Protocol.TCP);
      assert.equal(r.transport?.ipVersion, 4);
      assert.equal(r.observation?.probe, 'tcp');
      assert.equal(r.nodeName, 'pfr-node');
    }
    for (const [pid, port] of conns) {
      const c = closesC.find((r) => r.source?.port === port);
      const s = closesS.find((r) => r.source?.port === port);
      assert.ok(c && s, `both closes of port ${port}`);
      assert.deepEqual([c.traffic?.bytes, c.traffic?.bytesReceived], [SEND, REPLY], 'client: payload sent and received');
      assert.deepEqual([s.traffic?.bytes, s.traffic?.bytesReceived], [REPLY, SEND], 'server: payload sent and received');
      assert.equal(c.conversationId, s.conversationId);
      assert.equal(opensC.find((r) => r.source?.port === port)?.conversationId, c.conversationId);
      assert.equal(c.process?.pid, pid, 'the connecting process');
      assert.equal(c.process?.command, 'node');
      for (const r of [c, s]) {
        const duration = ms(r.tcp?.duration);
        assert.ok(duration >= HOLD && duration < HOLD + 1000, `duration ${duration} ms`);
        assert.ok(ms(r.tcp?.srtt) > 0, 'srtt at close');
        assert.ok(Math.abs(ms(r.time) - ms(r.startTime) - duration) < 1, 'time - startTime = duration');
        assert.ok(Math.abs(ms(r.time) - Date.now()) < elapsed + 5000, 'wall-clock time');
      }
    }
  } finally {
    await stopServer(server);
  }
});

test('IPv6: a connection inside one pod gives a client and a server view with IPv6 endpoints', async () => {
  net.exec('a', 'ip', ['addr', 'add', `${IPV6}/128`, 'dev', 'lo', 'nodad']);
  const server = await startIn('a', SERVER, '700', 'normal', IPV6);
  try {
    const [[, port]] = (await runIn('a', CLIENT, '1', '300', '0', IPV6)).trim().split('\n').map((l) => l.split(' ').map(Number));
    const closes = await waitFor('IPv6 TCP_CLOSE', () => records.filter((x) => x.type === RecordType.TCP_CLOSE && x.source?.port === port && x.source.ip === IPV6), 2);
    for (const r of closes) {
      assert.equal(r.transport?.ipVersion, 6);
      assert.deepEqual([r.source?.ip, r.destination?.ip, r.destination?.port], [IPV6, IPV6, 8080]);
    }
    const client = closes.find((r) => r.observation?.side === Side.CLIENT);
    const serverView = closes.find((r) => r.observation?.side === Side.SERVER);
    assert.deepEqual([client?.traffic?.bytes, client?.traffic?.bytesReceived], [300, 700]);
    assert.deepEqual([serverView?.traffic?.bytes, serverView?.traffic?.bytesReceived], [700, 300]);
  } finally {
    await stopServer(server);
  }
});

test('a dual-stack server (listening on [::]) accepting IPv4: its view is IPv4 too, in the client\'s conversation', async () => {
  // Its socket is AF_INET6 and holds the peers as ::ffff:a.b.c.d, as Go's and Node's servers on "[::]" do.
  const server = await startIn('b', SERVER, '10', 'normal', '::');
  try {
    const [[, port]] = (await runIn('a', CLIENT, '1', '20', '0')).trim().split('\n').map((l) => l.split(' ').map(Number));
    const opens = await waitFor('TCP_OPEN per side', () => records.filter((x) => x.type === RecordType.TCP_OPEN && x.source?.port === port), 2);
    assert.deepEqual(opens.map((r) => [r.observation?.side, r.source?.ip, r.destination?.ip, r.destination?.port, r.transport?.ipVersion]).sort(), [
      [Side.CLIENT, A, B, 8080, 4],
      [Side.SERVER, A, B, 8080, 4],
    ]);
    assert.equal(opens[0]?.conversationId, opens[1]?.conversationId);
  } finally {
    await stopServer(server);
  }
});

test('process context: the pid and command of the client; the enricher names the containers of both sides from their cgroups', async () => {
  const [clientId, serverId] = CONTAINER_IDS;
  const server = await startInCgroup(containerCgroup(serverId), 'b', SERVER, '10');
  try {
    const [[pid, port]] = (await runInCgroup(containerCgroup(clientId), 'a', CLIENT, '1', '10', '0')).trim().split('\n').map((l) => l.split(' ').map(Number));
    const opens = await waitFor('TCP_OPEN', () => records.filter((x) => x.type === RecordType.TCP_OPEN && x.source?.port === port), 2);
    const client = opens.find((r) => r.observation?.side === Side.CLIENT);
    const serverView = opens.find((r) => r.observation?.side === Side.SERVER);
    assert.equal(client?.process?.pid, pid);
    assert.equal(client?.process?.command, 'node');
    assert.equal(client?.process?.containerId, clientId);
    assert.equal(client?.process?.cgroupId, statSync(containerCgroup(clientId)).ino);
    assert.equal(serverView?.process?.pid ?? 0, 0, 'no process context in the softirq that completes an accept');
    assert.equal(serverView?.process?.containerId, serverId, 'the accepted socket carries the server cgroup');
  } finally {
    await stopServer(server);
  }
});

test('a connect to a closed port gives TCP_FAILED (REFUSED) on the client side', async () => {
  const out = await runIn('a', CONNECT_CLOSED);
  assert.equal(out.trim(), 'ECONNREFUSED');
  const [r] = await waitFor('TCP_FAILED', () => records.filter((x) => x.type === RecordType.TCP_FAILED && x.destination?.port === 9), 1);
  assert.equal(r?.tcp?.failure, 'REFUSED');
  assert.equal(r?.tcp?.state, 'SYN_SENT');
  assert.equal(r?.observation?.side, Side.CLIENT);
  assert.equal(r?.source?.ip, A);
  assert.equal(r?.process?.command, 'node');
});

test('a reset gives TCP_RESET, sent by the server and received by the client', async () => {
  const server = await startIn('b', SERVER, '0', 'reset');
  try {
    const [[, port]] = (await runIn('a', CLIENT, '1', '100', '0')).trim().split('\n').map((l) => l.split(' ').map(Number));
    const resets = await waitFor('TCP_RESET', () => records.filter((x) => x.type === RecordType.TCP_RESET && x.source?.port === port), 2);
    assert.deepEqual(resets.map((r) => r.observation?.side).sort(), [Side.CLIENT, Side.SERVER]);
    assert.equal(resets[0]?.conversationId, resets[1]?.conversationId);
  } finally {
    await stopServer(server);
  }
});

test('induced loss (a small tbf queue on the veth: this kernel has no netem) gives rate-limited RETRANSMIT records', async () => {
  const server = await startIn('b', SERVER, '10');
  sh('tc', ['qdisc', 'add', 'dev', net.pod('b').hostIf.name, 'root', 'tbf', 'rate', '2mbit', 'burst', '4000', 'limit', '8000']);
  try {
    const [[, port]] = (await runIn('a', CLIENT, '1', String(200_000), '0')).trim().split('\n').map((l) => l.split(' ').map(Number));
    const retransmits = (): FlowRecord[] => records.filter((x) => x.type === RecordType.RETRANSMIT && x.source?.port === port);
    const deadline = Date.now() + 5000;
    let rtx: FlowRecord[] = [];
    while (Date.now() < deadline) {
      rtx = retransmits();
      if (rtx.length > 0) break;
      await sleep(50);
    }
    assert.ok(rtx.length > 0, 'at least one RETRANSMIT record');
    // Records reach the ingress a consumer linger (milliseconds) after the kernel wrote them.
    const [close] = await waitFor('the client close', () => records.filter((x) => x.type === RecordType.TCP_CLOSE && x.source?.port === port && x.observation?.side === Side.CLIENT), 1);
    assert.ok(close, 'the client close');
    // The tail of the burst comes from the rate limiter's map once the connection is quiet for a second (a
    // tick after that). Like the kernel's records, it says what the socket was at its last retransmission:
    // its state and srtt (the window once held a copy of the first event, with neither).
    // Polled until the records add up to what the close counted (less tail loss probes), not a fixed sleep:
    // under load the tick that reports the tail came after 2.5 s.
    const total = close.tcp?.retransmits ?? 0;
    const inRecords = () => retransmits().reduce((n, r) => n + (r.tcp?.retransmits ?? 0), 0);
    const tailBy = Date.now() + 10_000;
    while (inRecords() < total * 0.8 && Date.now() < tailBy) await sleep(100);
    rtx = retransmits();
    assert.deepEqual(rtx.filter((x) => x.tcp?.state === '' || ms(x.tcp?.srtt) <= 0 || (x.tcp?.retransmits ?? 0) <= 0), [], 'every record has the socket\'s state, its srtt and a count');
    const times = rtx.map((x) => ms(x.time));
    assert.ok(times.every((t, i) => i === 0 || t - (times[i - 1] ?? 0) >= 999), `a second between records (the tail's too): ${times.join(', ')}`);
    const sum = inRecords();
    // total_retrans also counts tail loss probes, which bypass the tracepoint: the records may count a few less.
    assert.ok(sum <= total && sum >= total * 0.8, `retransmits in records ${sum} vs ${total} at close`);
    rtx = retransmits();
    assert.ok(rtx.length <= 1 + ms(close.time) / 1000 - ms(rtx[0]?.time) / 1000 + 1, 'at most one record per second');
    assert.equal(rtx[0]?.destination?.ip, B);
    // The sending socket's side and process, from the tcp probe's per-socket map (the retransmit object reuses it).
    assert.deepEqual([...new Set(rtx.map((x) => `${x.observation?.side} ${x.process?.command} ${x.process?.pid === close.process?.pid}`))], [`${Side.CLIENT} node true`]);
  } finally {
    quiet('tc', ['qdisc', 'del', 'dev', net.pod('b').hostIf.name, 'root']);
    await stopServer(server);
  }
});

test('a UDP datagram to a closed port gives DROP with reason NO_SOCKET', async () => {
  await runIn('a', UDP_SEND, B, '9999', '1', '20');
  const [r] = await waitFor('DROP', () => records.filter((x) => x.type === RecordType.DROP && x.destination?.port === 9999 && x.destination.ip === B), 1);
  assert.equal(r?.drop?.reason, 'NO_SOCKET');
  assert.ok((r?.drop?.code ?? 0) > 0);
  assert.equal(r?.source?.ip, A);
  assert.equal(r?.transport?.protocol, podflow.v1.Protocol.UDP);
  assert.equal(r?.observation?.hook, 'tracepoint/skb/kfree_skb');
  assert.equal(r?.drop?.count, 1);
  // Dropped in pod b's namespace: its eth0's index means nothing on the host (it may name a host interface).
  assert.equal(r?.interface, undefined);
});

// An ICMP echo request from a raw socket (ping as root): the kernel hands the reply to raw sockets and then
// frees it as NO_SOCKET, there being no ping socket of that id. argv: the address, the echo id.
const RAW_PING = `
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); return ~(s + (s >> 16)) & 0xffff
ident = int(sys.argv[2]); body = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'podflow!'
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(2)
s.sendto(body[:2] + struct.pack('!H', csum(body)) + body[4:], (sys.argv[1], 0)); s.recv(100)
`;

test('a dropped ICMP echo reply is keyed by its echo id, as its FLOW is: one conversation', async () => {
  const id = 4242;
  await net.run('a', 'python3', ['-c', RAW_PING, B, String(id)]);
  const [drop] = await waitFor('DROP', () => records.filter((x) => x.type === RecordType.DROP && x.transport?.protocol === podflow.v1.Protocol.ICMP && x.source?.ip === B), 1);
  assert.equal(drop?.drop?.reason, 'NO_SOCKET');
  assert.deepEqual([drop?.source?.port, drop?.destination?.ip, drop?.destination?.port], [id, A, id]);
  const [flow] = await waitFor('FLOW', () => records.filter((x) => x.type === RecordType.FLOW && x.transport?.protocol === podflow.v1.Protocol.ICMP && x.source?.port === id), 1);
  assert.equal(drop?.conversationId, flow?.conversationId);
});

test('a drop in the host\'s namespace names the host interface it came in by', async () => {
  await runIn('a', UDP_SEND, `${SUBNET}.1`, '9996', '1', '20');
  const [r] = await waitFor('DROP', () => records.filter((x) => x.type === RecordType.DROP && x.destination?.port === 9996), 1);
  assert.equal(r?.drop?.reason, 'NO_SOCKET');
  // The node's address is on the pods' bridge: the datagram came in by it.
  const name = r?.interface?.name ?? '';
  assert.ok(name !== '' && Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) === r?.interface?.index, `interface ${JSON.stringify(r?.interface)}`);
});

test('a drop storm is rate-limited: few DROP records whose counts add up to every packet dropped', async () => {
  await runIn('a', UDP_SEND, B, '9998', '200', '10');
  const pick = () => records.filter((x) => x.type === RecordType.DROP && x.destination?.port === 9998);
  const deadline = Date.now() + 5000;
  while (pick().reduce((n, r) => n + Number(r.drop?.count ?? 0), 0) < 200 && Date.now() < deadline) await sleep(100);
  const drops = pick();
  assert.equal(drops.reduce((n, r) => n + Number(r.drop?.count ?? 0), 0), 200);
  assert.ok(drops.length <= 4, `${drops.length} records for 200 drops`);
  assert.equal(drops[0]?.drop?.count, 1, 'the first drop is reported at once');
  assert.ok(drops.every((r) => r.drop?.reason === 'NO_SOCKET'));
});

/** A drops probe of the test's own (the filter is per instance), not the manager's: all its records, from any host traffic. */
function ownDropsProbe(reasons: DropReasonLists): { probe: AttachedProbe; own: FlowRecord[] } {
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const own: FlowRecord[] = [];
  const ctx = { nodeName: 'pfr-node', clock: new MonotonicClock(), ingress: { ingest: (b: FlowRecord[]) => void own.push(...b) }, interfaces, objectDir: new URL('../../../bpf/build/', import.meta.url).pathname };
  return { probe: dropsPlan({ reasons }).candidates[0]!.attach(ctx), own };
}

/** Waits until the probe has counted `count` drops filtered as `reason`; returns its count. */
async function filteredAtLeast(probe: AttachedProbe, reason: string, count: number): Promise<number> {
  const filtered = () => probe.filtered?.().find((f) => f.reason === reason)?.count ?? 0;
  const deadline = Date.now() + 5000;
  while (filtered() < count && Date.now() < deadline) await sleep(50);
  return filtered();
}

/** Closes `count` unix stream connections whose accepting side never read what the other wrote. */
async function closeUnixUnread(count: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pfr-unix-'));
  const accepted: Socket[] = [];
  const server = createServer({ pauseOnConnect: true }, (s) => void accepted.push(s));
  try {
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
    const clients: Socket[] = [];
    for (let i = 0; i < count; i++) {
      const c = connect(join(dir, 'sock'));
      clients.push(c);
      await once(c, 'connect');
      await new Promise<void>((resolve, reject) => c.write(Buffer.alloc(64, 1), (err) => (err ? reject(err) : resolve())));
    }
    while (accepted.length < count) await sleep(10);
    for (const s of accepted) s.destroy();
    for (const c of clients) c.destroy();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a drop of a non-IP skb (unix messages unread at close: SOCKET_CLOSE) is no DROP record but counted as NOT_IP', async () => {
  // Only SOCKET_CLOSE passes this instance's reason filter: its NOT_IP count is of that reason alone.
  const { probe, own } = ownDropsProbe({ allow: ['SOCKET_CLOSE'], deny: [] });
  try {
    await closeUnixUnread(20);
    const notIp = await filteredAtLeast(probe, 'NOT_IP', 20);
    assert.ok(notIp >= 20, `NOT_IP filtered ${notIp} times for 20 unread messages`);
    assert.deepEqual(own.filter((r) => !r.source), [], 'no DROP without addresses');
  } finally {
    probe.close();
  }
  // The agent's probe (default lists) counts them too: podflow status and podflow_probe_filtered_total.
  const agent = manager.status().find((s) => s.probe === 'drops')?.eventsFiltered?.find((f) => f.reason === 'NOT_IP');
  assert.ok((agent?.count ?? 0) >= 20, JSON.stringify(agent));
});

test('the drop reason filter: denied reasons make no DROP record and are counted per reason; the default denies normal teardown', async () => {
  const { probe, own } = ownDropsProbe({ allow: [], deny: ['NO_SOCKET', 'SKB_DROP_REASON_QUEUE_PURGE', 'NOT_A_REASON'] });
  try {
    await runIn('a', UDP_SEND, B, '9997', '25', '10');
    const filtered = await filteredAtLeast(probe, 'NO_SOCKET', 25);
    assert.ok(filtered >= 25, `NO_SOCKET filtered ${filtered} times for 25 datagrams`);
    assert.deepEqual(own.filter((r) => r.destination?.port === 9997), [], 'no DROP for a denied reason');
    // The agent's own drops probe (default lists) reported them: the filter is per probe instance.
    await waitFor('DROP', () => records.filter((x) => x.type === RecordType.DROP && x.destination?.port === 9997), 1);
  } finally {
    probe.close();
  }
  // Default lists: whatever the connections of the earlier tests freed with QUEUE_PURGE or NOT_SPECIFIED was counted, never reported.
  assert.ok(!records.some((r) => r.type === RecordType.DROP && ['QUEUE_PURGE', 'NOT_SPECIFIED'].includes(r.drop?.reason ?? '')));
  const drops = manager.status().find((s) => s.probe === 'drops');
  assert.ok(Array.isArray(drops?.eventsFiltered));
  // The earlier tests' connections ended: their teardown drops were there to count.
  assert.ok(drops.eventsFiltered.some((f) => ['QUEUE_PURGE', 'NOT_SPECIFIED'].includes(f.reason) && f.count > 0), JSON.stringify(drops.eventsFiltered));
  assert.ok(drops.eventsFiltered.every((f) => ['QUEUE_PURGE', 'NOT_SPECIFIED', 'OTHERHOST', 'NOT_IP'].includes(f.reason) && f.count > 0), JSON.stringify(drops.eventsFiltered));
});

// argv: source and destination IPv4, count. UDP datagrams in Ethernet frames for a MAC no pod has, sent
// on eth0: the bridge floods them into every other pod, whose stack frees its copy (not for its MAC).
const FLOOD_UNKNOWN_MAC = `
import socket, struct, sys
src, dst, count = socket.inet_aton(sys.argv[1]), socket.inet_aton(sys.argv[2]), int(sys.argv[3])
udp = struct.pack('!HHHH', 40000, 9996, 18, 0) + b'x' * 10
head = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
words = sum(struct.unpack('!10H', head))
while words >> 16: words = (words & 0xffff) + (words >> 16)
ip = head[:10] + struct.pack('!H', ~words & 0xffff) + head[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
frame = bytes.fromhex('020000000099') + s.getsockname()[4] + bytes.fromhex('0800') + ip + udp
for _ in range(count): s.send(frame)
`;

test('drops: the copies of frames a bridge floods into pods (OTHERHOST) are counted, not reported, by default', async () => {
  const otherHost = () => manager.status().find((s) => s.probe === 'drops')?.eventsFiltered?.find((f) => f.reason === 'OTHERHOST')?.count ?? 0;
  const before = otherHost();
  await net.run('b', 'python3', ['-c', FLOOD_UNKNOWN_MAC, B, A, '10']);
  const deadline = Date.now() + 5000;
  while (otherHost() < before + 10 && Date.now() < deadline) await sleep(50);
  assert.ok(otherHost() >= before + 10, `OTHERHOST filtered ${otherHost() - before} times for 10 flooded frames`);
  assert.deepEqual(records.filter((r) => r.type === RecordType.DROP && r.drop?.reason === 'OTHERHOST').map((r) => r.destination?.port), []);
});

test('flows: UDP counters match what was sent, counted once on the node, where first seen', async () => {
  await runIn('a', UDP_SEND, B, '7777', '10', '100');
  const [f] = await waitFor('FLOW', () => records.filter((x) => x.type === RecordType.FLOW && x.destination?.port === 7777), 1);
  assert.equal(f?.source?.ip, A);
  assert.equal(f?.destination?.ip, B);
  assert.deepEqual([f?.traffic?.packets, f?.traffic?.bytes], [10, 10 * (100 + 8 + 20)]);
  assert.equal(f?.interface?.name, net.pod('a').hostIf.name);
  assert.equal(f?.direction, podflow.v1.Direction.INGRESS);
  assert.equal(f?.observation?.hook, 'tcx');
  assert.ok(f?.conversationId);
});

/** Sends one datagram to each of `count` ports from `base` on, `perSecond` of them a second (in 10 ms steps). */
const UDP_SPREAD = `
import dgram from 'node:dgram';
const [host, base, count, perSecond] = [process.argv[1], ...process.argv.slice(2).map(Number)];
const s = dgram.createSocket('udp4');
const t0 = Date.now();
for (let i = 0; i < count; i++) {
  const due = t0 + (i * 1000) / perSecond;
  if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  await new Promise((r) => s.send(Buffer.alloc(8), base + (i % 20000), host, r));
}
s.close();
`;

test('flows: more conversations a second than pf_flows holds: drains come early, so the map stops filling', async () => {
  // A map of 1,024 entries (the least a budget gives) and 3,000 new conversations a second for 4 s, with ticks a
  // second apart as the manager's. The first second fills the map before any drain knows the rate (counted as
  // flows:map_full); from then on drains come early enough, where without them every second would lose ~2,000.
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const own: FlowRecord[] = [];
  const ctx = { nodeName: 'pfr-node', clock: new MonotonicClock(), ingress: { ingest: (b: FlowRecord[]) => void own.push(...b) }, interfaces, objectDir: new URL('../../../bpf/build/', import.meta.url).pathname };
  const probe = flowsPlan({ interfaces: [net.pod('a').hostIf.name], activeTimeoutMs: 60_000, idleTimeoutMs: 1, kernelMapBytes: 1 }).candidates[0]!.attach(ctx);
  const ticks = setInterval(() => probe.tick?.(MonotonicClock.nowNs()), 1000);
  const lost = () => probe.losses().find((l) => l.reason === 'flows:map_full')?.count ?? 0;
  const BASE = 30000;
  const COUNT = 12000;
  try {
    const flood = runIn('a', UDP_SPREAD, B, String(BASE), String(COUNT), '3000');
    await sleep(2000);
    const lostEarly = lost();
    await flood;
    await sleep(1500);
    probe.tick?.(MonotonicClock.nowNs());
    const ports = new Set(own.filter((r) => r.type === RecordType.FLOW && r.source?.ip === A && (r.destination?.port ?? 0) >= BASE).map((r) => r.destination!.port));
    assert.equal(lost(), lostEarly, `conversations lost after the first 2 s (${lostEarly} before)`);
    // The losses also count B's ICMP port-unreachable replies that found the map full.
    assert.ok(COUNT - ports.size <= lost(), `${COUNT - ports.size} conversations without a FLOW record, ${lost()} counted as lost`);
  } finally {
    clearInterval(ticks);
    probe.close();
  }
});

test('flows: a TCP conversation is one record with both directions, the SYN sender as source', async () => {
  const server = await startIn('b', SERVER, '4000');
  try {
    const [[, port]] = (await runIn('a', CLIENT, '1', '2000', '0')).trim().split('\n').map((l) => l.split(' ').map(Number));
    const [f] = await waitFor('TCP FLOW', () => records.filter((x) => x.type === RecordType.FLOW && x.source?.port === port), 1);
    assert.equal(f?.destination?.port, 8080);
    const t = f?.traffic;
    assert.ok(t && (t.packets ?? 0) > 0 && (t.packetsReceived ?? 0) > 0);
    // Payload plus at most 60 bytes of IP+TCP header per packet.
    assert.ok((t.bytes ?? 0) >= 2000 && (t.bytes ?? 0) <= 2000 + 60 * (t.packets ?? 0), `bytes ${t.bytes}`);
    assert.ok((t.bytesReceived ?? 0) >= 4000 && (t.bytesReceived ?? 0) <= 4000 + 60 * (t.packetsReceived ?? 0), `bytesReceived ${t.bytesReceived}`);
    assert.equal((f?.tcp?.flags ?? 0) & 0x13, 0x13, 'SYN, ACK and FIN seen');
    const close = records.find((x) => x.type === RecordType.TCP_CLOSE && x.source?.port === port);
    assert.equal(f?.conversationId, close?.conversationId, 'flow and socket records share the conversationId');
  } finally {
    await stopServer(server);
  }
});

test('an interface that appears while running is picked up', async () => {
  const late = net.add({ name: 'c', host: 4 });
  assert.equal(late.hostIf.name, HOST_IFS[2]);
  // Picked up by a poll (every 200 ms) and attached, which a loaded machine can delay past any fixed wait: a
  // packet a second (each from a new socket, its own flow) until one is seen on the new veth.
  const onLate = (port: number) => () => records.filter((x) => x.type === RecordType.FLOW && x.destination?.port === port && x.interface?.name === late.hostIf.name);
  const deadline = Date.now() + 60_000;
  while (onLate(7779)().length === 0 && Date.now() < deadline) {
    await runIn('c', UDP_SEND, net.gatewayOf('c'), '7779', '1', '50');
    await sleep(1000);
  }
  assert.ok(onLate(7779)().length > 0, `no flow on ${late.hostIf.name} within 60 s of its creation`);
  await runIn('c', UDP_SEND, net.gatewayOf('c'), '7778', '3', '50');
  const [f] = await waitFor('FLOW on the new veth', () => records.filter((x) => x.type === RecordType.FLOW && x.destination?.port === 7778), 1, 30_000);
  assert.equal(f?.interface?.name, late.hostIf.name);
  assert.deepEqual([f?.traffic?.packets, f?.traffic?.bytes], [3, 3 * 78]);
});

test('status counts events; stop() removes the TC links it created', async () => {
  const status = manager.status();
  assert.ok((status.find((s) => s.probe === 'tcp')?.eventsSeen ?? 0) >= 20);
  assert.ok((status.find((s) => s.probe === 'rtt')?.eventsSeen ?? 0) > 0, 'sockops RTT samples');
  for (const s of status) {
    assert.equal(s.eventsDroppedInKernel, 0, `${s.probe} lost nothing in the kernel`);
    assert.equal(s.lastError, undefined, `${s.probe} periodic work without errors`);
  }
  const rtt = manager.rttHistogram();
  assert.equal(rtt?.counts.length, 32);
  // Between namespaces of one machine the smoothed RTT is small (the tbf test adds queueing delay).
  const samples = rtt?.counts.reduce((a, b) => a + b, 0) ?? 0;
  assert.ok(samples > 0 && (rtt?.counts.slice(0, 18).reduce((a, b) => a + b, 0) ?? 0) > samples * 0.9, 'RTT samples, mostly below 262 ms');
  // Our programs by id: the ones this process holds (ids are never reused; other engineers' agents load
  // the same names). bpftool prints the BTF name when it has one, else the kernel's (cut to 15 characters).
  const NAMES = ['packet_tc_ingress', 'packet_tc_egress', 'tcp_state_btf', 'drops_tp', 'retransmit_btf', 'rtt_sockops'];
  const progs = (): { id: number; name?: string }[] =>
    (JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number; name?: string }[]).filter((p) => NAMES.some((n) => n.slice(0, 15) === (p.name ?? '').slice(0, 15)));
  const progIds = (): number[] => progs().map((p) => p.id);
  const held = heldProgramIds();
  const ourProgs = progs().filter((p) => held.has(p.id));
  const ours = ourProgs.map((p) => p.id);
  assert.deepEqual([...new Set(ourProgs.map((p) => p.name?.slice(0, 15)))].sort(), NAMES.map((n) => n.slice(0, 15)).sort());
  const links = (JSON.parse(sh('bpftool', ['link', 'show', '-j'])) as { prog_id: number }[]).filter((l) => ours.includes(l.prog_id));
  assert.ok(links.length >= 2 * 3 + 4, `links: one per TC direction and interface, plus the tracing and cgroup links; got ${links.length}`);
  await manager.stop();
  // The kernel frees a program after its last reference in deferred work: allow it a moment.
  let left = new Set(progIds());
  for (let i = 0; i < 40 && ours.some((id) => left.has(id)); i++) {
    await sleep(50);
    left = new Set(progIds());
  }
  assert.deepEqual(ours.filter((id) => left.has(id)), [], 'every program podflow loaded is gone');
  manager = createProbeManager({ probes: [], interfaces: [], flowActiveTimeoutMs: 1, flowIdleTimeoutMs: 1, nodeName: 'x', ingress: { ingest: () => undefined } });
});
