// Connections established before podflow started (every agent restart, every
// DaemonSet upgrade: connection pools, gRPC and database connections live for
// hours): the tcp probe never saw them open, so it learns their side from the
// local port's bind bucket when they leave ESTABLISHED, or when a reset
// reaches them. Their TCP_CLOSE must then read client to server like any
// other (source = the initiator), on both sockets, with exact byte counts (a
// client's SYN is not a byte), and its RETRANSMIT records too. A socket
// aborted from ESTABLISHED by its own close() is released before any such
// moment: its side stays unknown.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import { retransmitPlan } from '../../src/probes/retransmit/plan.js';
import { TCP_TP_BTF, TCP_TRACEPOINT } from '../../src/probes/tcp/plan.js';
import { PodNet, waitForCount } from './pod-net.js';

const { RecordType, Side } = podflow.v1;
const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
/** Part of the tcp tests' range (10.243.0.0/16). */
const SUBNET = '10.243.21';
const CLIENT_IP = `${SUBNET}.2`;
const SERVER_IP = `${SUBNET}.3`;
const PORT = 8091;
const HELLO = 5;
const REPLY = 10;
const BULK = 20000;
const HOOKS = [TCP_TP_BTF.hook, TCP_TRACEPOINT.hook];

// Answers HELLO bytes with REPLY bytes; ends its connections (FIN) on SIGUSR2, and each one at the client's EOF;
// sends BULK bytes on each on SIGHUP.
const SERVER = `
import net from 'node:net';
const sockets = new Set();
net.createServer({ allowHalfOpen: true }, (s) => {
  sockets.add(s);
  let got = 0;
  s.on('error', () => {});
  s.on('data', (d) => { if ((got += d.length) === ${HELLO}) s.write(Buffer.alloc(${REPLY}, 120)); });
  s.on('end', () => s.end());
  s.on('close', () => sockets.delete(s));
}).listen(${PORT}, '${SERVER_IP}', () => console.log('ready'));
process.on('SIGUSR2', () => { for (const s of sockets) s.end(); });
process.on('SIGHUP', () => { for (const s of sockets) s.write(Buffer.alloc(${BULK}, 98)); });
`;

// argv: what to do on SIGUSR2 ("end": FIN, "reset": SO_LINGER 0 and close). Prints its local port once the reply is in.
const CLIENT = `
import net from 'node:net';
const mode = process.argv[1];
const s = net.connect({ port: ${PORT}, host: '${SERVER_IP}', allowHalfOpen: true });
let got = 0;
s.on('error', () => {});
s.on('connect', () => s.write(Buffer.alloc(${HELLO}, 97)));
s.on('data', (d) => { if ((got += d.length) === ${REPLY}) console.log(s.localPort); });
s.on('end', () => s.end());
s.on('close', () => process.exit(0));
process.on('SIGUSR2', () => (mode === 'reset' ? s.resetAndDestroy() : s.end()));
`;

let net: PodNet;
let ctx: ProbeContext;
const records: FlowRecord[] = [];

before(() => {
  net = new PodNet('pftp', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }]);
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const ingest = (batch: FlowRecord[]) => void records.push(...batch.filter((r) => [r.source?.port, r.destination?.port].includes(PORT)));
  ctx = { nodeName: 'pftp-node', clock: new MonotonicClock(), ingress: { ingest }, interfaces, objectDir: BUILD };
});

after(() => net?.destroy());

const nodeArgs = (script: string, args: string[] = []): string[] => ['--input-type=module', '-e', script, ...args];

/** The client's local port, printed once its connection is established and has carried HELLO and REPLY. */
async function portOf(client: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    client.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    client.once('exit', (code) => reject(new Error(`client exited with ${code} before its connection carried data`)));
  });
}

/**
 * Opens a connection, then attaches the probes (both tracepoint variants,
 * side by side), then ends it as `end` says; returns the connection's records
 * (from both variants) once each socket's TCP_CLOSE is in.
 */
async function preexisting(end: (client: ChildProcess, server: ChildProcess) => void, clientMode: string): Promise<{ port: number; records: FlowRecord[] }> {
  const server = net.spawn('b', process.execPath, nodeArgs(SERVER));
  const probes: AttachedProbe[] = [];
  try {
    await PodNet.ready(server, 'server');
    const client = net.spawn('a', process.execPath, nodeArgs(CLIENT, [clientMode]));
    const port = await portOf(client);
    for (const variant of [TCP_TP_BTF, TCP_TRACEPOINT]) probes.push(variant.attach(ctx));
    end(client, server);
    const ofConnection = () => records.filter((r) => [r.source?.port, r.destination?.port].includes(port));
    await waitForCount('TCP_CLOSE (2 sockets x 2 hooks)', () => ofConnection().filter((r) => r.type === RecordType.TCP_CLOSE), 4);
    return { port, records: ofConnection() };
  } finally {
    for (const p of probes) p.close();
    if (server.exitCode === null) server.kill();
  }
}

/** [side, source, destination, bytes, bytesReceived] of a record. */
const view = (r: FlowRecord | undefined) => [r?.observation?.side, `${r?.source?.ip}:${r?.source?.port}`, `${r?.destination?.ip}:${r?.destination?.port}`, r?.traffic?.bytes, r?.traffic?.bytesReceived];

function closeOf(all: FlowRecord[], hook: string, local: string): FlowRecord | undefined {
  // A socket's own address: the source of a client's view, the destination of a server's (UNKNOWN: the source).
  return all.find((r) => r.type === RecordType.TCP_CLOSE && r.observation?.hook === hook && (r.observation.side === Side.SERVER ? `${r.destination?.ip}:${r.destination?.port}` : `${r.source?.ip}:${r.source?.port}`) === local);
}

for (const [name, endBy] of [
  ['the client ends it (FIN first from the client)', (client: ChildProcess) => client.kill('SIGUSR2')],
  ['the server ends it (FIN first from the server)', (_: ChildProcess, server: ChildProcess) => server.kill('SIGUSR2')],
] as const) {
  test(`a connection established before the probes attached: ${name}; both views read client to server, bytes exact`, async () => {
    const { port, records: all } = await preexisting(endBy, 'end');
    const client = `${CLIENT_IP}:${port}`;
    const server = `${SERVER_IP}:${PORT}`;
    for (const hook of HOOKS) {
      assert.deepEqual(view(closeOf(all, hook, client)), [Side.CLIENT, client, server, HELLO, REPLY], `${hook}: the client's TCP_CLOSE`);
      assert.deepEqual(view(closeOf(all, hook, server)), [Side.SERVER, client, server, REPLY, HELLO], `${hook}: the server's TCP_CLOSE`);
    }
    // Opened before the probes: no TCP_OPEN, no start time or duration.
    assert.deepEqual(all.filter((r) => r.type === RecordType.TCP_OPEN), []);
    assert.ok(all.every((r) => r.startTime === undefined && r.tcp?.duration === undefined), 'no start time for a connection podflow did not see open');
  });
}

test('a connection established before the probes attached, reset by the client: the server learns its side from the reset', async () => {
  const { port, records: all } = await preexisting((client) => client.kill('SIGUSR2'), 'reset');
  const client = `${CLIENT_IP}:${port}`;
  const server = `${SERVER_IP}:${PORT}`;
  for (const hook of HOOKS) {
    assert.deepEqual(view(closeOf(all, hook, server)), [Side.SERVER, client, server, REPLY, HELLO], `${hook}: the server's TCP_CLOSE`);
    const reset = all.find((r) => r.type === RecordType.TCP_RESET && r.observation?.hook === hook && r.observation.side === Side.SERVER);
    assert.deepEqual([reset?.source?.ip, reset?.source?.port], [CLIENT_IP, port], `${hook}: the server's TCP_RESET names the client as source`);
    // The client's socket was released by its own close() before anything could read its port's bucket.
    assert.deepEqual(view(closeOf(all, hook, client)).slice(0, 3), [Side.UNKNOWN, client, server], `${hook}: the client's TCP_CLOSE`);
  }
});

test('a connection established before the probes attached retransmits: RETRANSMIT reads client to server (side from the bucket, no tcp probe)', async () => {
  const server = net.spawn('b', process.execPath, nodeArgs(SERVER));
  const [plan] = retransmitPlan({ map: undefined }).candidates;
  let probe: AttachedProbe | undefined;
  try {
    await PodNet.ready(server, 'server');
    const client = net.spawn('a', process.execPath, nodeArgs(CLIENT, ['end']));
    const port = await portOf(client);
    probe = plan!.attach(ctx);
    // The server's bulk reply is lost until the rule goes: its socket retransmits (RTO at least 200 ms).
    net.exec('a', 'nft', ['add table inet pftp']);
    net.exec('a', 'nft', ['add chain inet pftp in { type filter hook input priority 0; }']);
    net.exec('a', 'nft', [`add rule inet pftp in ip saddr ${SERVER_IP} tcp sport ${PORT} drop`]);
    try {
      server.kill('SIGHUP');
      await sleep(700);
    } finally {
      net.exec('a', 'nft', ['delete table inet pftp']);
    }
    const [rtx] = await waitForCount('RETRANSMIT of the server socket', () => records.filter((r) => r.type === RecordType.RETRANSMIT && r.source?.port === port).slice(0, 1), 1);
    assert.deepEqual(view(rtx).slice(0, 3), [Side.SERVER, `${CLIENT_IP}:${port}`, `${SERVER_IP}:${PORT}`]);
    client.kill('SIGUSR2');
  } finally {
    probe?.close();
    if (server.exitCode === null) server.kill();
  }
});
