// Red team: the tcp probe's per-socket map (bpf/include/sock_info.h) was an
// LRU of 65,536 entries keyed by the socket's address, one per open TCP socket
// podflow saw open (both ends of a connection between two pods of the node). A
// pod that holds more sockets than that (here 48,000 connections into a
// listener's accept queue: 96,000 sockets; an ingress or proxy node has as
// many) made the kernel evict the oldest entries without a word: the evicted
// connection's TCP_CLOSE then came without its process (pid, command), start
// and duration, as if podflow had never seen it open, and no loss said so.
// What the victim's own TCP_OPEN carried is the ground truth. Both kinds of
// map are checked at once: the tp_btf variant keeps the info in socket storage
// (no limit), the classic tracepoints in a plain hash, which keeps what it has
// and counts the sockets it has no room for (map_full).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import { TCP_TP_BTF, TCP_TRACEPOINT } from '../../src/probes/tcp/plan.js';
import { PodNet } from './pod-net.js';
import { waitFor } from './l7-net.js';

const { RecordType, Side } = podflow.v1;
const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const SUBNET = '10.251.10';
const CLIENT_IP = `${SUBNET}.2`;
const SERVER_IP = `${SUBNET}.3`;
const VICTIM_PORT = 9000;
/** Connections per flood process (each stays below the 20,000 open files a process may have here). */
const PER_PROCESS = 16000;
const PROCESSES = 3;

// Listens on 9000..9003 with the largest backlog and never accepts but the victim's one connection: the
// flood's connections wait established in the accept queues (full sockets, no file descriptors).
const SERVER = `
import socket, time
ls = []
for p in range(${VICTIM_PORT}, ${VICTIM_PORT} + 4):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('${SERVER_IP}', p)); l.listen(65535); ls.append(l)
print('ready', flush=True)
v, _ = ls[0].accept()
v.recv(1)
v.close()
time.sleep(3600)
`;

// The victim: one connection to 9000, its local port printed; closed (FIN) on SIGUSR2.
const VICTIM = `
import socket, signal, sys, time
s = socket.create_connection(('${SERVER_IP}', ${VICTIM_PORT})); print(s.getsockname()[1], flush=True)
signal.signal(signal.SIGUSR2, lambda *_: (s.close(), sys.exit(0)))
while True: time.sleep(1)
`;

// argv: count. Opens count connections to 9001..9003, paced (so that the probe's ring buffer never fills),
// prints "done" and holds them; on SIGUSR1 resets them all (SO_LINGER 0) and exits: closed with FINs, they
// would stay as orphans, and keep the namespace and its veths alive, for minutes.
const FLOOD = `
import signal, socket, struct, sys, time
n = int(sys.argv[1]); held = []
def reset(*_):
    for s in held:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()
    sys.exit(0)
signal.signal(signal.SIGUSR1, reset)
for i in range(n):
    held.append(socket.create_connection(('${SERVER_IP}', ${VICTIM_PORT} + 1 + i % 3)))
    if i % 400 == 399: time.sleep(0.1)
print('done', flush=True)
while True: time.sleep(1)
`;

let net: PodNet;
let ctx: ProbeContext;
const probes: AttachedProbe[] = [];
let floods: ChildProcess[] = [];
const records: FlowRecord[] = [];

/**
 * A namespace that held 75,000 sockets is torn down by the kernel in the background for a few seconds
 * after `ip netns del`, its veths with it: a run right after another waits for them to go.
 */
async function vethsGone(): Promise<void> {
  await waitFor('the previous run\'s veths to go', () => !existsSync('/sys/class/net/pfrts0h') && !existsSync('/sys/class/net/pfrts1h'), 60000);
}

before(async () => {
  await vethsGone();
  net = new PodNet('pfrts', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }]);
  net.exec('a', 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
  net.exec('b', 'sysctl', ['-qw', 'net.core.somaxconn=65535']);
  net.exec('b', 'sysctl', ['-qw', 'net.ipv4.tcp_max_syn_backlog=65535']);
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  // Only the victim's connection is kept (the flood's 96,000 OPEN records per variant are not needed).
  const ingest = (batch: FlowRecord[]) => void records.push(...batch.filter((r) => r.destination?.port === VICTIM_PORT && r.destination.ip === SERVER_IP));
  ctx = { nodeName: 'pfrts-node', clock: new MonotonicClock(), ingress: { ingest }, interfaces, objectDir: BUILD };
});

after(async () => {
  for (const p of probes) p.close();
  await Promise.all(floods.map((f) => (f.exitCode === null ? new Promise((resolve) => (f.once('exit', resolve), f.kill('SIGUSR1'))) : undefined)));
  net?.destroy();
  await vethsGone();
});

/** What the victim's TCP_CLOSE records and the probe's losses say, from one tcp variant. */
interface Outcome {
  client: FlowRecord | undefined;
  server: FlowRecord | undefined;
  losses: { reason: string; count: number }[];
}

test('a connection open while a socket flood exceeds the old map: its TCP_CLOSE keeps pid, command and start, or the loss is counted', async (t) => {
  const variants = [TCP_TP_BTF, TCP_TRACEPOINT];
  for (const v of variants) probes.push(v.attach(ctx));
  await PodNet.ready(net.spawn('b', '/usr/bin/python3', ['-c', SERVER]), 'the server');
  const victim = net.spawn('a', '/usr/bin/python3', ['-c', VICTIM]);
  const port = await new Promise<number>((resolve, reject) => {
    victim.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    victim.once('exit', (code) => reject(new Error(`the victim exited with ${code}`)));
  });
  const ofVictim = (hook: string, type: number, side: number) =>
    records.find((r) => r.type === type && r.source?.ip === CLIENT_IP && r.source.port === port && r.observation?.side === side && r.observation.hook === hook);
  const opens = () => variants.map((v) => ofVictim(v.hook, RecordType.TCP_OPEN, Side.CLIENT));
  await waitFor('the victim client TCP_OPEN from each variant', () => opens().every((r) => r !== undefined));
  const [open] = opens();
  assert.ok(open?.process?.pid && open.process.command, `the victim's TCP_OPEN names its process: ${JSON.stringify(open?.process)}`);

  floods = Array.from({ length: PROCESSES }, () => net.spawn('a', '/usr/bin/python3', ['-c', FLOOD, String(PER_PROCESS)]));
  await Promise.all(floods.map((f) => PodNet.ready(f, 'a flood')));
  victim.kill('SIGUSR2');
  const closes = (hook: string) => [ofVictim(hook, RecordType.TCP_CLOSE, Side.CLIENT), ofVictim(hook, RecordType.TCP_CLOSE, Side.SERVER)];
  await waitFor('the victim\'s two TCP_CLOSE records from each variant', () => variants.every((v) => closes(v.hook).every((r) => r !== undefined)), 60_000).catch(() => undefined);
  await sleep(200);
  const outcomes = variants.map((v, i): Outcome => {
    const [client, server] = closes(v.hook);
    const losses = probes[i]!.losses().filter((l) => l.count > 0);
    t.diagnostic(`${v.hook}: victim closes: client ${JSON.stringify([client?.process, client?.startTime])}, server ${JSON.stringify([server?.process, server?.startTime])}, losses ${JSON.stringify(losses)}`);
    return { client, server, losses };
  });
  for (const [i, { client, server, losses }] of outcomes.entries()) {
    const hook = variants[i]!.hook;
    const ringbufFull = losses.some((l) => l.reason === 'tcp:ringbuf_full');
    const otherLoss = losses.some((l) => l.reason !== 'tcp:ringbuf_full');
    if (!client || !server) {
      // Lost whole: acceptable only if counted (the machine's other TCP traffic passes the same tracepoint).
      assert.ok(ringbufFull || otherLoss, `${hook}: a TCP_CLOSE of the victim is missing and no loss is counted: ${JSON.stringify(losses)}`);
      continue;
    }
    // Each view keeps what podflow learnt when it saw the socket open: the client its process, both their start.
    const kept =
      client.process?.pid === open?.process?.pid && client.process?.command === open?.process?.command && client.startTime !== undefined && server.startTime !== undefined;
    assert.ok(
      kept || otherLoss,
      `${hook}: the victim's TCP_CLOSE records (${PROCESSES * PER_PROCESS} other connections held meanwhile) lost what podflow saw at open, uncounted: ` +
        `open process ${JSON.stringify(open?.process)}; client close process ${JSON.stringify(client.process)}, startTime ${JSON.stringify(client.startTime)}; ` +
        `server close startTime ${JSON.stringify(server.startTime)}, side ${server.observation?.side}; losses ${JSON.stringify(losses)}`,
    );
    if (hook === TCP_TRACEPOINT.hook) {
      // The hash keeps the victim's entries, made before the flood, and counts the flood's sockets beyond its size.
      assert.ok(kept, `${hook}: the victim's entries, made before the flood, were lost: client ${JSON.stringify(client.process)}, server start ${JSON.stringify(server.startTime)}`);
      assert.ok(losses.some((l) => l.reason === 'tcp:map_full'), `${hook}: ${2 * PROCESSES * PER_PROCESS} flood sockets and no tcp:map_full: ${JSON.stringify(losses)}`);
    }
  }
});
