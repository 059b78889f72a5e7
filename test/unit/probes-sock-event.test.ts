// decodeSockEvent (tcp and retransmit records) on event bytes laid out as the kernel writes them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { SockEvent as L } from '../../src/probes/shared/layouts.js';
import { decodeSockEvent } from '../../src/probes/shared/sock-event.js';

const { RecordType, Side } = podflow.v1;
const ctx: ProbeContext = { nodeName: 'n', clock: new MonotonicClock(), ingress: { ingest: () => undefined }, interfaces: new InterfaceIndex(), objectDir: '' };

/** A TCP_OPEN event of one socket: addresses as 4 (AF_INET) or 16 (AF_INET6) bytes. */
function open(side: number, local: readonly number[], lport: number, remote: readonly number[], rport: number): Buffer {
  const b = Buffer.alloc(L.size);
  b[L.kind] = RecordType.TCP_OPEN;
  b[L.side] = side;
  b[L.ip_version] = local.length === 16 ? 6 : 4;
  Buffer.from(local).copy(b, L.laddr);
  Buffer.from(remote).copy(b, L.raddr);
  b.writeUInt16LE(lport, L.lport);
  b.writeUInt16LE(rport, L.rport);
  return b;
}

const mapped = (v4: readonly number[]): number[] => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4];
const CLIENT = [10, 251, 1, 2];
const SERVER = [10, 251, 1, 3];

test('a dual-stack socket of an IPv4 connection gives IPv4 records, with the conversation id of the other side', () => {
  // The client's AF_INET socket, and the server's AF_INET6 one (listening on [::]) accepting it.
  const client = decodeSockEvent(open(Side.CLIENT, CLIENT, 40000, SERVER, 8080), 0, ctx, 'tcp', 'test');
  const server = decodeSockEvent(open(Side.SERVER, mapped(SERVER), 8080, mapped(CLIENT), 40000), 0, ctx, 'tcp', 'test');
  for (const r of [client, server]) {
    assert.deepEqual([r.source?.ip, r.source?.port, r.destination?.ip, r.destination?.port], ['10.251.1.2', 40000, '10.251.1.3', 8080]);
    assert.equal(r.transport?.ipVersion, 4);
  }
  assert.equal(server.conversationId, client.conversationId);
  // A client's AF_INET6 socket connecting to ::ffff:10.251.1.3 before it had a local address (a failed connect).
  const unbound = decodeSockEvent(open(Side.CLIENT, new Array<number>(16).fill(0), 40001, mapped(SERVER), 8080), 0, ctx, 'tcp', 'test');
  assert.deepEqual([unbound.source?.ip, unbound.destination?.ip, unbound.transport?.ipVersion], ['0.0.0.0', '10.251.1.3', 4]);
});

test('an IPv6 connection stays IPv6', () => {
  const v6 = (last: number): number[] => [0xfd, 0, 2, 0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last];
  const r = decodeSockEvent(open(Side.CLIENT, v6(2), 40000, v6(3), 8080), 0, ctx, 'tcp', 'test');
  assert.deepEqual([r.source?.ip, r.destination?.ip, r.transport?.ipVersion], ['fd00:251::2', 'fd00:251::3', 6]);
});

test('srtt is absent until the socket has an RTT sample, not a measured 0', () => {
  const retransmit = (state: number, srttUs: number): Buffer => {
    const b = open(Side.CLIENT, CLIENT, 40002, SERVER, 8080);
    b[L.kind] = RecordType.RETRANSMIT;
    b[L.state] = state;
    b.writeUInt32LE(1, L.retransmits);
    b.writeUInt32LE(srttUs, L.srtt_us);
    return b;
  };
  const syn = decodeSockEvent(retransmit(2, 0), 0, ctx, 'retransmit', 'test');
  assert.deepEqual([syn.tcp?.state, syn.tcp?.srtt, syn.tcp?.retransmits], ['SYN_SENT', undefined, 1]);
  assert.deepEqual(decodeSockEvent(retransmit(1, 150), 0, ctx, 'retransmit', 'test').tcp?.srtt, { seconds: 0, nanos: 150_000 });
});
