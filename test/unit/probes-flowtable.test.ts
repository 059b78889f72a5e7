// FlowTable: CPU merge, both directions joined (in one map entry or two), initiator, timeouts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { flowMapEntries } from '../../src/probes/flows/plan.js';
import { FlowTable } from '../../src/probes/flows/table.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { conversationId } from '../../src/probes/shared/conversation.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { ipBytes } from '../../src/enrich/ip.js';
import { FlowDir as D, FlowKey as K, FlowStats as S } from '../../src/probes/shared/layouts.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

/** conversationId of two endpoints given as text (address bytes through the one parser). */
function conversationIdOf(protocol: number, ipA: string, portA: number, ipB: string, portB: number): string {
  const a = ipBytes(ipA)!;
  const b = ipBytes(ipB)!;
  return conversationId(a.ipVersion, protocol, a.bytes, 0, portA, b.bytes, 0, portB);
}

const CPUS = 2;
const STRIDE = S.size; // 64: already a multiple of 8

function ctx(): ProbeContext {
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  return { nodeName: 'node-1', clock: new MonotonicClock(), ingress: { ingest: () => undefined }, interfaces, objectDir: '' };
}

interface Slot {
  first: number;
  bytes: number;
  packets: number;
  ifindex?: number;
  direction?: number;
  flags?: number;
  syn?: boolean;
}

/** Writes one direction's per-CPU slots into a map value (`at`: the pf_flow_dir's offset in each CPU's copy). */
function writeSlots(value: Buffer, at: number, slots: (Slot | null)[]): void {
  slots.forEach((slot, cpu) => {
    if (!slot) return;
    const o = cpu * STRIDE + at;
    value.writeBigUInt64LE(BigInt(slot.first), o + D.first_ns);
    value.writeBigUInt64LE(BigInt(slot.bytes), o + D.bytes);
    value.writeBigUInt64LE(BigInt(slot.packets), o + D.packets);
    value.writeUInt32LE(slot.ifindex ?? 1, o + D.ifindex);
    value[o + D.direction] = slot.direction ?? 1;
    value[o + D.tcp_flags] = slot.flags ?? 0;
    value[o + D.syn] = slot.syn ? 1 : 0;
  });
}

/**
 * One drained entry as the kernel lays it out: a key and CPUS value copies, each with the direction
 * src -> dst (`slots`, per CPU) and the replies (`replies`).
 */
function entry(src: string, sport: number, dst: string, dport: number, protocol: number, slots: (Slot | null)[], replies: (Slot | null)[] = []): { key: Buffer; value: Buffer } {
  const key = Buffer.alloc(K.size);
  const s = ipBytes(src)!;
  Buffer.from(s.bytes).copy(key, K.saddr);
  Buffer.from(ipBytes(dst)!.bytes).copy(key, K.daddr);
  key.writeUInt16LE(sport, K.sport);
  key.writeUInt16LE(dport, K.dport);
  key[K.ip_version] = s.ipVersion;
  key[K.protocol] = protocol;
  const value = Buffer.alloc(STRIDE * CPUS);
  writeSlots(value, S.dir, slots);
  writeSlots(value, S.dir + D.size, replies);
  return { key, value };
}

function add(table: FlowTable, drainNs: number, entries: { key: Buffer; value: Buffer }[], out: FlowRecord[]): void {
  table.add(Buffer.concat(entries.map((e) => e.key)), Buffer.concat(entries.map((e) => e.value)), entries.length, STRIDE * CPUS, CPUS, drainNs, out);
}

const MS = 1e6;

test('both directions become one FLOW with the SYN sender as source, CPUs summed', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 10, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  // The reply direction drains first and was seen first on its CPU: the SYN still decides.
  add(table, 210 * MS, [
    entry('10.232.2.2', 80, '10.232.1.2', 40000, 6, [{ first: 90 * MS, bytes: 500, packets: 5, flags: 0x12, ifindex: 7, direction: 2 }, null]),
    entry('10.232.1.2', 40000, '10.232.2.2', 80, 6, [
      { first: 100 * MS, bytes: 300, packets: 3, flags: 0x02, syn: true, ifindex: 5, direction: 1 },
      { first: 120 * MS, bytes: 100, packets: 1, flags: 0x11, ifindex: 6, direction: 1 },
    ]),
  ], out);
  assert.equal(out.length, 0);
  table.expire(500 * MS, out);
  assert.equal(out.length, 0, 'not idle yet');
  table.expire(1300 * MS, out);
  assert.equal(out.length, 1);
  const r = out[0];
  assert.ok(r);
  assert.equal(r.type, podflow.v1.RecordType.FLOW);
  assert.deepEqual(r.source, newEndpoint('10.232.1.2', 40000));
  assert.deepEqual(r.destination, newEndpoint('10.232.2.2', 80));
  assert.deepEqual(r.traffic, { bytes: 400, packets: 4, bytesReceived: 500, packetsReceived: 5 });
  assert.deepEqual(r.interface?.index, 5, 'first seen (earliest CPU slot) of the initiator direction');
  assert.equal(r.direction, podflow.v1.Direction.INGRESS);
  assert.equal(r.tcp?.flags, 0x13);
  assert.equal(r.conversationId, conversationIdOf(6, '10.232.2.2', 80, '10.232.1.2', 40000));
  assert.equal(table.size, 0);
  const start = r.startTime;
  const end = r.time;
  assert.ok(start && end);
  assert.equal((Number(end.seconds) - Number(start.seconds)) * 1e9 + ((end.nanos ?? 0) - (start.nanos ?? 0)), 120 * MS, 'from the first packet to the last drain that found packets');
});

test('one map entry holds both directions: the SYN sender is the source whichever way the key is ordered', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 10, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  // The kernel orders the key's endpoints (10.232.1.9 < 10.232.2.2): the server's replies are dir[0] here.
  add(table, 210 * MS, [
    entry('10.232.1.9', 80, '10.232.2.2', 40000, 6,
      [{ first: 101 * MS, bytes: 500, packets: 5, flags: 0x12, ifindex: 7, direction: 2 }],
      [{ first: 100 * MS, bytes: 300, packets: 3, flags: 0x02, syn: true, ifindex: 5, direction: 1 }, { first: 120 * MS, bytes: 100, packets: 1, flags: 0x11, ifindex: 6, direction: 1 }]),
  ], out);
  // Later drains of the same conversation add to it, in either direction.
  add(table, 410 * MS, [entry('10.232.1.9', 80, '10.232.2.2', 40000, 6, [null, { first: 300 * MS, bytes: 50, packets: 1, flags: 0x10, ifindex: 7, direction: 2 }], [{ first: 305 * MS, bytes: 40, packets: 1, flags: 0x10, ifindex: 5, direction: 1 }])], out);
  assert.equal(table.size, 1);
  table.flushAll(out);
  assert.equal(out.length, 1);
  const r = out[0];
  assert.deepEqual(r?.source, newEndpoint('10.232.2.2', 40000));
  assert.deepEqual(r?.destination, newEndpoint('10.232.1.9', 80));
  assert.deepEqual(r?.traffic, { bytes: 440, packets: 5, bytesReceived: 550, packetsReceived: 6 });
  assert.equal(r?.interface?.index, 5);
  assert.equal(r?.direction, podflow.v1.Direction.INGRESS);
  assert.equal(r?.tcp?.flags, 0x13);
});

test('a SYN taking over a conversation first seen mid-way: its replies in the same entry stay replies', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 10, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  // First seen: only the server's FIN/ACK (podflow started mid-connection), so the server is the initiator for now.
  add(table, 100 * MS, [entry('10.232.2.2', 80, '10.232.1.2', 40000, 6, [{ first: 50 * MS, bytes: 60, packets: 1, flags: 0x11 }])], out);
  // The 4-tuple is reused: the client's SYN and data, the server's replies, in one entry keyed the other way round.
  add(table, 200 * MS, [entry('10.232.1.2', 40000, '10.232.2.2', 80, 6,
    [{ first: 150 * MS, bytes: 1000, packets: 10, flags: 0x02, syn: true }],
    [{ first: 151 * MS, bytes: 5000, packets: 8, flags: 0x12 }])], out);
  table.flushAll(out);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.source?.ip, '10.232.1.2');
  assert.deepEqual(out[0]?.traffic, { bytes: 1000, packets: 10, bytesReceived: 5060, packetsReceived: 9 });
});

test('without a SYN, who was seen first is settled once: a later interval where the responder speaks first keeps the initiator', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 1000, idleTimeoutMs: 800, maxConversations: 10, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  add(table, 600 * MS, [entry('10.232.1.2', 5000, '10.232.2.2', 53, 17, [{ first: 10 * MS, bytes: 60, packets: 1 }], [{ first: 20 * MS, bytes: 90, packets: 1 }])], out);
  table.expire(1100 * MS, out);
  add(table, 1300 * MS, [entry('10.232.1.2', 5000, '10.232.2.2', 53, 17, [{ first: 1250 * MS, bytes: 30, packets: 1 }], [{ first: 1200 * MS, bytes: 45, packets: 1 }])], out);
  table.flushAll(out);
  assert.deepEqual(out.map((r) => r.source?.ip), ['10.232.1.2', '10.232.1.2']);
  assert.deepEqual(out[1]?.traffic, { bytes: 30, packets: 1, bytesReceived: 45, packetsReceived: 1 });
});

test('a conversation beyond maxConversations is one record with both directions of its entry', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 1, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  add(table, 210 * MS, [
    entry('10.232.1.2', 5000, '10.232.2.2', 53, 17, [{ first: 10 * MS, bytes: 60, packets: 1 }]),
    entry('10.232.1.3', 5000, '10.232.2.2', 53, 17, [{ first: 20 * MS, bytes: 70, packets: 1 }], [{ first: 21 * MS, bytes: 90, packets: 1 }]),
  ], out);
  assert.equal(table.size, 1);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.source?.ip, '10.232.1.3');
  assert.deepEqual(out[0]?.traffic, { bytes: 70, packets: 1, bytesReceived: 90, packetsReceived: 1 });
});

test('without a SYN the side seen first initiates; the active timeout cuts intervals and keeps the initiator', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 1000, idleTimeoutMs: 800, maxConversations: 10, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  add(table, 600 * MS, [entry('10.232.1.2', 5000, '10.232.2.2', 53, 17, [{ first: 10 * MS, bytes: 60, packets: 2 }, null])], out);
  add(table, 700 * MS, [entry('10.232.2.2', 53, '10.232.1.2', 5000, 17, [null, { first: 20 * MS, bytes: 90, packets: 2 }])], out);
  table.expire(1100 * MS, out);
  assert.equal(out.length, 1, 'active timeout');
  assert.equal(out[0]?.source?.ip, '10.232.1.2');
  assert.deepEqual(out[0]?.traffic, { bytes: 60, packets: 2, bytesReceived: 90, packetsReceived: 2 });
  // Next interval: only the reply direction has traffic, and it was seen "first" in this interval.
  add(table, 1300 * MS, [entry('10.232.2.2', 53, '10.232.1.2', 5000, 17, [{ first: 1200 * MS, bytes: 45, packets: 1 }, null])], out);
  add(table, 1300 * MS, [entry('10.232.1.2', 5000, '10.232.2.2', 53, 17, [{ first: 1250 * MS, bytes: 30, packets: 1 }, null])], out);
  table.expire(2200 * MS, out);
  assert.equal(out.length, 2);
  assert.equal(out[1]?.source?.ip, '10.232.1.2', 'initiator remembered');
  assert.deepEqual(out[1]?.traffic, { bytes: 30, packets: 1, bytesReceived: 45, packetsReceived: 1 });
  assert.equal(out[1]?.tcp, undefined, 'no tcp part for UDP');
  table.expire(5000 * MS, out);
  assert.equal(out.length, 2, 'an idle conversation without new counters emits nothing');
  assert.equal(table.size, 0);
});

test('beyond maxConversations a flow is emitted at once instead of being tracked', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 1000, idleTimeoutMs: 800, maxConversations: 1, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  add(table, 2, [
    entry('10.232.1.2', 1, '10.232.2.2', 2, 17, [{ first: 1, bytes: 10, packets: 1 }, null]),
    entry('10.232.1.2', 3, '10.232.2.2', 4, 17, [{ first: 1, bytes: 20, packets: 1 }, null]),
  ], out);
  assert.equal(table.size, 1);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.traffic?.bytes, 20);
  table.flushAll(out);
  assert.equal(out.length, 2);
});

test('120,000 conversations drained twice each (both directions, in chunks) stay 120,000 and flush once each, in resumable steps', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 600_000, idleTimeoutMs: 300_000, maxConversations: 131072, hook: () => 'tc' });
  const N = 120_000;
  const out: FlowRecord[] = [];
  const chunk = (from: number, to: number, reply: boolean, drainNs: number) => {
    const entries = [];
    for (let i = from; i < to; i++) {
      const sport = 10000 + (i % 40000);
      const dport = 7000 + Math.floor(i / 40000);
      entries.push(reply
        ? entry('10.242.51.2', dport, '10.242.50.2', sport, 17, [{ first: drainNs - 1, bytes: 10, packets: 1 }, null])
        : entry('10.242.50.2', sport, '10.242.51.2', dport, 17, [{ first: drainNs - 2, bytes: 20, packets: 1 }, null]));
    }
    add(table, drainNs, entries, out);
  };
  for (let i = 0; i < N; i += 4096) chunk(i, Math.min(N, i + 4096), false, 1000 * MS);
  for (let i = 0; i < N; i += 4096) chunk(i, Math.min(N, i + 4096), true, 2000 * MS);
  assert.equal(out.length, 0, 'nothing expired or overflowed');
  assert.equal(table.size, N);
  assert.equal(table.expire(3000 * MS, out, 10), true, 'a pass over nothing due');
  const seen = new Set<string>();
  let steps = 0;
  while (!table.flushAll(out, 5000)) {
    steps++;
    assert.ok(out.length <= 5000 * steps);
  }
  for (const r of out) {
    assert.equal(r.source?.ip, '10.242.50.2', 'the side seen first initiates');
    assert.deepEqual(r.traffic, { bytes: 20, packets: 1, bytesReceived: 10, packetsReceived: 1 });
    seen.add(`${r.source?.port}-${r.destination?.port}`);
  }
  assert.equal(out.length, N);
  assert.equal(seen.size, N);
  assert.equal(steps, Math.ceil(N / 5000) - 1);
  assert.equal(table.size, 0);
});

test('idle conversations leave the table in any order and the others stay findable (index deletion)', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 600_000, idleTimeoutMs: 1000, maxConversations: 4096, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  const flow = (i: number, drainNs: number) => entry('10.242.50.2', 20000 + i, '10.242.51.2', 53, 17, [{ first: drainNs - 1, bytes: 1, packets: 1 }, null]);
  // Even conversations are refreshed later, so only the odd ones go idle, scattered over the index.
  add(table, 1 * MS, Array.from({ length: 3000 }, (_, i) => flow(i, 1 * MS)), out);
  add(table, 900 * MS, Array.from({ length: 1500 }, (_, i) => flow(2 * i, 900 * MS)), out);
  const expired: FlowRecord[] = [];
  let steps = 0;
  while (!table.expire(1100 * MS, expired, 100)) assert.equal(expired.length, 100 * ++steps, 'at most 100 per step');
  assert.equal(expired.length, 1500);
  assert.ok(expired.every((r) => (r.source?.port ?? 0) % 2 === 1), 'only the odd ones were idle');
  assert.equal(table.size, 1500);
  // Every remaining (even) conversation is found again: its new counters join it instead of starting a new one.
  add(table, 1500 * MS, Array.from({ length: 1500 }, (_, i) => flow(2 * i, 1500 * MS)), out);
  assert.equal(table.size, 1500);
  table.flushAll(out);
  assert.equal(out.length, 1500);
  assert.ok(out.every((r) => r.traffic?.packets === 3 && (r.source?.port ?? 0) % 2 === 0), 'each even conversation kept all its counters');
});

test('the kernel flows map is sized to its memory budget: 65,536 entries at most, fewer as per-CPU values grow', () => {
  const MiB = 1024 ** 2;
  assert.equal(flowMapEntries(64 * MiB, 2), 65536, '2 CPUs: 224 bytes an entry, 14 MiB');
  assert.equal(flowMapEntries(64 * MiB, 64), Math.floor((64 * MiB) / (96 + 64 * 64)));
  assert.ok(flowMapEntries(64 * MiB, 64) * (96 + 64 * 64) <= 64 * MiB);
  assert.equal(flowMapEntries(1 * MiB, 512), 1024, 'never below 1,024 entries');
});

test('the hook is asked once per expiry or flush pass, not per record (the attacher makes its text anew on each call)', () => {
  let asked = 0;
  let hook = 'tcx';
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 100, hook: () => (asked++, hook) });
  const out: FlowRecord[] = [];
  const conversations = (first: number) => Array.from({ length: 20 }, (_, i) => entry('10.232.1.2', 5000 + i, '10.232.2.2', 80, 6, [{ first: first * MS, bytes: 60, packets: 1 }]));
  add(table, 100 * MS, conversations(10), out);
  table.expire(2000 * MS, out);
  assert.equal(out.length, 20);
  assert.equal(asked, 1);
  // The hooks changed between passes (an interface fell back to the socket filter): the next pass says so.
  hook = 'socket_filter+tcx';
  add(table, 2100 * MS, conversations(2050), out);
  table.flushAll(out);
  assert.equal(out.length, 40);
  assert.equal(asked, 2);
  assert.deepEqual([...new Set(out.map((r) => r.observation?.hook))], ['tcx', 'socket_filter+tcx']);
});

test('keys copied as words or, from a buffer not on a 4-byte boundary, byte by byte: the same records', () => {
  const entries = [
    // Key ordered server-first (its copy is swapped), a SYN taking over, a UDP pair, an IPv6 conversation.
    entry('10.232.1.9', 80, '10.232.2.2', 40000, 6, [{ first: 101 * MS, bytes: 500, packets: 5, flags: 0x12, direction: 2 }], [{ first: 100 * MS, bytes: 300, packets: 3, flags: 0x02, syn: true }]),
    entry('10.232.3.3', 5353, '10.232.4.4', 53, 17, [{ first: 100 * MS, bytes: 60, packets: 1 }], [{ first: 101 * MS, bytes: 90, packets: 1 }]),
    entry('fd00::1', 443, 'fd00::2', 41000, 6, [{ first: 102 * MS, bytes: 70, packets: 1, flags: 0x12 }], [{ first: 101 * MS, bytes: 80, packets: 1, flags: 0x02, syn: true }]),
  ];
  const run = (shift: number): FlowRecord[] => {
    const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 10, hook: () => 'tc' });
    const keys = Buffer.alloc(entries.length * K.size + shift).subarray(shift);
    Buffer.concat(entries.map((e) => e.key)).copy(keys);
    const values = Buffer.concat(entries.map((e) => e.value));
    const out: FlowRecord[] = [];
    table.add(keys, values, entries.length, STRIDE * CPUS, CPUS, 210 * MS, out);
    // The same conversations again the other way round: found through the copied keys.
    const swapped = entries.map((e) => {
      const k = Buffer.from(e.key);
      e.key.copy(k, K.saddr, K.daddr, K.daddr + 16);
      e.key.copy(k, K.daddr, K.saddr, K.saddr + 16);
      k.writeUInt16LE(e.key.readUInt16LE(K.dport), K.sport);
      k.writeUInt16LE(e.key.readUInt16LE(K.sport), K.dport);
      return k;
    });
    const keys2 = Buffer.alloc(entries.length * K.size + shift).subarray(shift);
    Buffer.concat(swapped).copy(keys2);
    table.add(keys2, values, entries.length, STRIDE * CPUS, CPUS, 410 * MS, out);
    assert.equal(table.size, entries.length);
    table.flushAll(out);
    return out.map((r) => ({ ...r, time: undefined, startTime: undefined }));
  };
  const aligned = run(0);
  assert.equal(aligned.length, 3);
  assert.deepEqual(aligned.map((r) => r.source?.ip), ['10.232.2.2', '10.232.3.3', 'fd00::2']);
  for (const shift of [1, 2, 3]) assert.deepEqual(run(shift), aligned);
});

test('FLOW records share frozen parts that repeat: the Tcp of each flags value, the time of each drain', () => {
  const table = new FlowTable(ctx(), { activeTimeoutMs: 5000, idleTimeoutMs: 1000, maxConversations: 100, hook: () => 'tc' });
  const out: FlowRecord[] = [];
  const list = Array.from({ length: 6 }, (_, i) => entry(`10.232.1.${i + 1}`, 40000 + i, '10.232.2.2', 80, 6, [{ first: (100 + i) * MS, bytes: 10, packets: 1, flags: i < 3 ? 0x02 : 0x12, syn: i < 3 }]));
  add(table, 210 * MS, list.slice(0, 4), out);
  add(table, 310 * MS, list.slice(4), out);
  table.expire(2000 * MS, out);
  assert.equal(out.length, 6);
  const [a, b, c, d, e, f] = out as [FlowRecord, FlowRecord, FlowRecord, FlowRecord, FlowRecord, FlowRecord];
  assert.ok(Object.isFrozen(a.tcp) && Object.isFrozen(a.time));
  assert.equal(a.tcp, b.tcp);
  assert.equal(a.tcp, c.tcp);
  assert.notEqual(a.tcp, d.tcp);
  assert.equal(d.tcp?.flags, 0x12);
  assert.equal(a.time, d.time, 'drained together');
  assert.notEqual(a.time, e.time, 'drained later');
  assert.equal(e.time, f.time);
  assert.deepEqual(e.time, { seconds: e.time?.seconds, nanos: e.time?.nanos });
  assert.equal((Number(e.time!.seconds) - Number(a.time!.seconds)) * 1e9 + (e.time!.nanos! - a.time!.nanos!), 100 * MS);
  assert.ok(!Object.isFrozen(a.traffic) && !Object.isFrozen(a.source) && !Object.isFrozen(a.startTime));
});
