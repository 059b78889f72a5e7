// TCP_CLOSE byte counts on the real kernel, per way a connection can end:
// the kernel's bytes_acked/bytes_received count sequence numbers, so the
// probe takes off the SYN of an active open and each FIN that was really
// acknowledged or received, and nothing else. Aborts (SO_LINGER 0, close()
// with unread data) set sk_shutdown without any FIN and once cost a byte each
// way. Both tracepoint variants that load here (tp_btf and classic) are
// attached side by side and must agree.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import type { AttachedProbe } from '../../src/probes/shared/probe.js';
import { TCP_TP_BTF, TCP_TRACEPOINT } from '../../src/probes/tcp/plan.js';
import { PodNet, waitForCount as waitFor } from './pod-net.js';

const { RecordType, Side } = podflow.v1;
const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
/** Part of the tcp tests' range (10.243.0.0/16). */
const SUBNET = '10.243.20';
const SERVER_IP = `${SUBNET}.3`;
const PORT = 8090;
const HELLO = 5;
/** A pause before the next step, long enough for the peer to have acknowledged what was sent (a delayed ACK takes at most 200 ms). */
const SETTLE_MS = 400;

// argv: mode, reply size. Each mode is one way for the server to answer "hello" and to end.
const SERVER = `
import net from 'node:net';
const [mode, reply] = [process.argv[1], Number(process.argv[2])];
const body = Buffer.alloc(reply, 120);
const abortLater = (s) => setTimeout(() => s.resetAndDestroy(), ${SETTLE_MS});
net.createServer({ allowHalfOpen: true }, (s) => {
  let got = 0;
  s.on('error', () => {});
  s.on('data', (d) => {
    if ((got += d.length) < ${HELLO}) return;
    if (mode === 'reply' || mode === 'reply-late-fin') s.write(body);
    if (mode === 'reply-close') s.write(body, () => s.destroy());
    if (mode === 'reply-abort') s.write(body, () => abortLater(s));
    if (mode === 'reply-fin') s.end(body);
    if (mode === 'reply-then-fin') s.write(body, () => setTimeout(() => s.end(), ${SETTLE_MS}));
    if (mode === 'reply-late') setTimeout(() => s.write(Buffer.alloc(10, 120)), ${SETTLE_MS});
  });
  s.on('end', () => {
    if (mode === 'reply') s.end();
    if (mode === 'reply-late-fin') setTimeout(() => s.end(), ${SETTLE_MS});
    if (mode === 'eof-reply') s.end(body);
    if (mode === 'eof-reply-abort') s.write(body, () => abortLater(s));
  });
}).listen(${PORT}, '${SERVER_IP}', () => console.log('ready'));
`;

// argv: mode, reply size. Sends "hello", prints its local port, ends as the mode says; exits when the socket closes.
const CLIENT = `
import net from 'node:net';
const [mode, reply] = [process.argv[1], Number(process.argv[2])];
const s = net.connect({ port: ${PORT}, host: '${SERVER_IP}', allowHalfOpen: mode.startsWith('wait-eof') });
// Not reading (paused before connect) leaves the reply unread in the kernel at close().
if (mode === 'unread-close') s.pause();
let got = 0;
s.on('error', (e) => { if (e.code !== 'ECONNRESET') throw e; });
s.on('data', (d) => {
  if ((got += d.length) !== reply) return;
  if (mode === 'close-after-reply') s.destroy();
  // After the server's FIN was sent (SETTLE_MS after its reply).
  if (mode === 'abort-after-reply') setTimeout(() => s.resetAndDestroy(), 2 * ${SETTLE_MS});
});
s.on('end', () => {
  if (mode === 'wait-eof') s.end();
  if (mode === 'wait-eof-late-fin') setTimeout(() => s.end(), ${SETTLE_MS});
});
s.on('connect', () => {
  console.log(s.localPort);
  if (mode === 'half-close') s.end(Buffer.alloc(${HELLO}, 97));
  else s.write(Buffer.alloc(${HELLO}, 97));
  // close() at once: the kernel finishes the connection for an orphaned socket (FIN_WAIT2 as a timewait socket).
  if (mode === 'close-at-once') s.destroy();
  if (mode === 'unread-close') setTimeout(() => s.destroy(), ${SETTLE_MS});
});
`;

let net: PodNet;
const probes: AttachedProbe[] = [];
const records: FlowRecord[] = [];
const HOOKS = [TCP_TP_BTF.hook, TCP_TRACEPOINT.hook];

before(() => {
  net = new PodNet('pftc', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }]);
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  const ingest = (batch: FlowRecord[]) => void records.push(...batch.filter((r) => r.destination?.ip === SERVER_IP && r.destination.port === PORT));
  const ctx = { nodeName: 'pftc-node', clock: new MonotonicClock(), ingress: { ingest }, interfaces, objectDir: BUILD };
  for (const variant of [TCP_TP_BTF, TCP_TRACEPOINT]) probes.push(variant.attach(ctx));
});

after(() => {
  for (const p of probes) p.close();
  net?.destroy();
});

const nodeArgs = (script: string, args: string[]): string[] => ['--input-type=module', '-e', script, ...args];


interface Case {
  server: string;
  client: string;
  reply: number;
  /** The states the client and the server close from (the path the case takes). */
  from: [string, string];
  /** Ended by a reset (sent by one side, received by the other). */
  aborted?: boolean;
  /** The sides with a TCP_RESET when not both (aborted) or none. */
  resetSides?: podflow.v1.Side[];
  /** The client's pod drops every segment with FIN that reaches it. */
  dropFins?: boolean;
}

/** Runs one connection; checks [sent, received] of both sides' TCP_CLOSE from each hook variant. */
async function check(c: Case): Promise<void> {
  if (c.dropFins) {
    net.exec('a', 'nft', ['add table inet pftc']);
    net.exec('a', 'nft', ['add chain inet pftc in { type filter hook input priority 0; }']);
    net.exec('a', 'nft', ['add rule inet pftc in tcp flags & fin == fin drop']);
  }
  const server = net.spawn('b', process.execPath, nodeArgs(SERVER, [c.server, String(c.reply)]));
  try {
    await PodNet.ready(server, 'server');
    const port = Number((await net.run('a', process.execPath, nodeArgs(CLIENT, [c.client, String(c.reply)]))).trim());
    const ofPort = (type: podflow.v1.RecordType) => () => records.filter((r) => r.type === type && r.source?.port === port);
    const closes = await waitFor('TCP_CLOSE (2 sides x 2 hooks)', ofPort(RecordType.TCP_CLOSE), 4);
    const view = (side: podflow.v1.Side, hook: string) => {
      const r = closes.find((x) => x.observation?.side === side && x.observation.hook === hook);
      return [r?.tcp?.state, r?.traffic?.bytes, r?.traffic?.bytesReceived];
    };
    for (const hook of HOOKS) {
      assert.deepEqual(view(Side.CLIENT, hook), [c.from[0], HELLO, c.reply], `${hook}: client closed from, sent, received`);
      assert.deepEqual(view(Side.SERVER, hook), [c.from[1], c.reply, HELLO], `${hook}: server closed from, sent, received`);
    }
    // The scenario ended as intended: a reset, seen by both sides, exactly when aborted.
    const resets = ofPort(RecordType.TCP_RESET)();
    for (const hook of HOOKS) {
      const sides = new Set(resets.filter((r) => r.observation?.hook === hook).map((r) => r.observation?.side));
      assert.deepEqual([...sides].sort(), c.resetSides ?? (c.aborted ? [Side.CLIENT, Side.SERVER] : []), `${hook}: sides with TCP_RESET`);
    }
    // Every socket of the case opened after the probes attached: a record without a side is no socket's.
    const sideless = records.filter((r) => r.type === RecordType.TCP_RESET && r.observation?.side !== Side.CLIENT && r.observation?.side !== Side.SERVER);
    assert.deepEqual(sideless.map((r) => `${r.source?.ip}:${r.source?.port} -> ${r.destination?.ip}:${r.destination?.port} ${r.tcp?.state}`), [], 'TCP_RESET records of no socket podflow saw');
  } finally {
    if (server.exitCode === null) server.kill();
    if (c.dropFins) net.exec('a', 'nft', ['delete table inet pftc']);
  }
}

// Whether the peer's FIN comes with the ACK of ours or later (then the closing side's socket is already
// in TIME_WAIT, and its CLOSE is reported before that FIN) depends on how fast the peer answers.
test('graceful: the client close()s after the reply, the server answers its FIN at once', () =>
  check({ server: 'reply', client: 'close-after-reply', reply: 10, from: ['FIN_WAIT2', 'LAST_ACK'] }));

test('graceful: the client close()s after the reply, the server sends its FIN later', () =>
  check({ server: 'reply-late-fin', client: 'close-after-reply', reply: 10, from: ['FIN_WAIT2', 'LAST_ACK'] }));

test('graceful: the server close()s after its reply, the client closes at EOF', () =>
  check({ server: 'reply-close', client: 'wait-eof', reply: 10, from: ['LAST_ACK', 'FIN_WAIT2'] }));

test('graceful: the server close()s after its reply, the client closes later', () =>
  check({ server: 'reply-close', client: 'wait-eof-late-fin', reply: 10, from: ['LAST_ACK', 'FIN_WAIT2'] }));

test('half-close: the client shuts down its sending side, the server replies after EOF and closes', () =>
  check({ server: 'eof-reply', client: 'half-close', reply: 10, from: ['FIN_WAIT2', 'LAST_ACK'] }));

test('half-close, then the server aborts (SO_LINGER 0) after its reply was acknowledged', () =>
  check({ server: 'eof-reply-abort', client: 'half-close', reply: 10, from: ['FIN_WAIT2', 'CLOSE_WAIT'], aborted: true }));

test('abort: the server reads "hello", sends 10 bytes, then SO_LINGER 0 and close()', () =>
  check({ server: 'reply-abort', client: 'wait-reset', reply: 10, from: ['ESTABLISHED', 'ESTABLISHED'], aborted: true }));

test('a FIN sent but never acknowledged (the client drops it) is not taken off: reset in FIN_WAIT1', () =>
  check({ server: 'reply-then-fin', client: 'abort-after-reply', reply: 10, from: ['ESTABLISHED', 'FIN_WAIT1'], aborted: true, dropFins: true }));

// The reset comes from the client's timewait socket (FIN_WAIT2 kept after close()), which is no full socket:
// its sending is no reset of a connection podflow saw established, and its fields past sock_common are not a tcp_sock's.
test('data after the client close()d: its FIN_WAIT2 timewait socket resets, only the server reports the reset', () =>
  check({ server: 'reply-late', client: 'close-at-once', reply: 0, from: ['FIN_WAIT2', 'CLOSE_WAIT'], resetSides: [Side.SERVER] }));

test('abort: the client close()s with 50 bytes unread (RST)', () =>
  check({ server: 'reply', client: 'unread-close', reply: 50, from: ['ESTABLISHED', 'ESTABLISHED'], aborted: true }));

test('abort: the client close()s with 50 bytes and the server FIN unread (RST from CLOSE_WAIT)', () =>
  check({ server: 'reply-fin', client: 'unread-close', reply: 50, from: ['CLOSE_WAIT', 'FIN_WAIT2'], aborted: true }));
