// RETRANSMIT records take the socket's side and process from the tcp probe's
// per-socket info (bpf/include/sock_info.h), which the retransmit object reuses:
// socket storage where the tcp variant has a BTF-typed socket (tp_btf), the
// hash keyed by the socket's address where it has not (classic tracepoints).
// Each pairing of a tcp variant and a retransmit variant is attached side by
// side (each retransmit probe into its own list) and one client retransmits.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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
const SUBNET = '10.243.22';
const CLIENT_IP = `${SUBNET}.2`;
const SERVER_IP = `${SUBNET}.3`;
const PORT = 8092;

// Reads whatever comes; prints "ready" once listening.
const SERVER = `
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('${SERVER_IP}', ${PORT})); l.listen(8)
print('ready', flush=True)
def drain(c):
    while c.recv(65536): pass
    c.close()
while True:
    c, _ = l.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()
`;

// Connects and prints its port; on SIGUSR1 sends 200 kB (retransmitted while the server's pod drops them); exits on SIGUSR2.
const CLIENT = `
import signal, socket, sys, time
s = socket.create_connection(('${SERVER_IP}', ${PORT})); print(s.getsockname()[1], flush=True)
signal.signal(signal.SIGUSR1, lambda *_: s.sendall(b'x' * 200000))
signal.signal(signal.SIGUSR2, lambda *_: (s.close(), sys.exit(0)))
while True: time.sleep(1)
`;

let net: PodNet;
const tcpRecords: FlowRecord[] = [];
const probes: AttachedProbe[] = [];
/** Per pairing: the tcp variant's hook, the retransmit variant's hook, and what that retransmit probe reported. */
const pairings: { tcp: string; retransmit: string; records: FlowRecord[] }[] = [];

function context(records: FlowRecord[]): ProbeContext {
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const ingest = (batch: FlowRecord[]) => void records.push(...batch.filter((r) => r.destination?.ip === SERVER_IP && r.destination.port === PORT));
  return { nodeName: 'pfrx-node', clock: new MonotonicClock(), ingress: { ingest }, interfaces, objectDir: BUILD };
}

before(() => {
  net = new PodNet('pfrx', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }]);
  for (const tcpVariant of [TCP_TP_BTF, TCP_TRACEPOINT]) {
    const tcp = tcpVariant.attach(context(tcpRecords));
    probes.push(tcp);
    for (const candidate of retransmitPlan({ map: tcp.sockets }).candidates) {
      const records: FlowRecord[] = [];
      probes.push(candidate.attach(context(records)));
      pairings.push({ tcp: tcpVariant.hook, retransmit: candidate.hook, records });
    }
  }
});

after(() => {
  for (const p of probes) void p.close();
  net?.destroy();
});

test('RETRANSMIT records carry the side and process the tcp probe noted, for each pairing of variants', async (t) => {
  await PodNet.ready(net.spawn('b', '/usr/bin/python3', ['-c', SERVER]), 'the server');
  const client = net.spawn('a', '/usr/bin/python3', ['-c', CLIENT]);
  const port = await new Promise<number>((resolve, reject) => {
    client.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    client.once('exit', (code) => reject(new Error(`the client exited with ${code}`)));
  });
  const [open] = await waitForCount('the client TCP_OPEN (both tcp variants)', () => tcpRecords.filter((r) => r.type === RecordType.TCP_OPEN && r.source?.port === port && r.observation?.side === Side.CLIENT), 2);
  assert.ok(open?.process?.pid, `the client's TCP_OPEN names its process: ${JSON.stringify(open?.process)}`);
  // The client's data is dropped in the server's pod until the rule goes: the client's socket retransmits.
  net.exec('b', 'nft', ['add table inet pfrx']);
  net.exec('b', 'nft', ['add chain inet pfrx in { type filter hook input priority 0; }']);
  net.exec('b', 'nft', [`add rule inet pfrx in ip saddr ${CLIENT_IP} tcp sport ${port} tcp dport ${PORT} drop`]);
  try {
    client.kill('SIGUSR1');
    await waitForCount('a RETRANSMIT from each pairing', () => pairings.filter((p) => p.records.some((r) => r.type === RecordType.RETRANSMIT && r.source?.port === port)), pairings.length);
  } finally {
    net.exec('b', 'nft', ['delete table inet pfrx']);
    client.kill('SIGUSR2');
  }
  for (const p of pairings) {
    const rtx = p.records.find((r) => r.type === RecordType.RETRANSMIT && r.source?.port === port);
    const seen = [rtx?.observation?.side, rtx?.process?.pid, rtx?.process?.command];
    t.diagnostic(`tcp ${p.tcp}, retransmit ${p.retransmit}: ${JSON.stringify(seen)}`);
    // The classic tracepoint cannot read socket storage: the side from the port's bind bucket, no process.
    const expected: unknown[] = p.tcp === TCP_TP_BTF.hook && p.retransmit.startsWith('tracepoint/') ? [Side.CLIENT, undefined, undefined] : [Side.CLIENT, open.process?.pid, open.process?.command];
    assert.deepEqual(seen, expected, `tcp ${p.tcp}, retransmit ${p.retransmit}`);
  }
});
