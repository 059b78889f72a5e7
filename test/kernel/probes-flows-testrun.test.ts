// The flows probe of the packet object's TC programs (loaded with only flows
// enabled; once with dns and http too, whose payload parse must not change
// what flows counts) under BPF_PROG_TEST_RUN with crafted packets: the map
// entries it writes (one per conversation, its key ordered; bytes, packets,
// flags, initiator per direction) and what it refuses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfObject, possibleCpus } from 'libbpf-ts';
import { mergeCpuSlots } from '../../src/probes/flows/table.js';
import { ipBytes } from '../../src/enrich/ip.js';
import { FlowDir as D, FlowKey as K } from '../../src/probes/shared/layouts.js';

const OBJECT = fileURLToPath(new URL('../../../bpf/build/packet.bpf.o', import.meta.url));

function ether(type: number): Buffer {
  const b = Buffer.alloc(14);
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(b);
  b.writeUInt16BE(type, 12);
  return b;
}

function ipv4(src: string, dst: string, protocol: number, payload: Buffer, fragOffset = 0): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(fragOffset, 6);
  h[8] = 64;
  h[9] = protocol;
  Buffer.from(ipBytes(src)!.bytes).copy(h, 12);
  Buffer.from(ipBytes(dst)!.bytes).copy(h, 16);
  return Buffer.concat([ether(0x0800), h, payload]);
}

function ipv6(src: string, dst: string, nextHeader: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = nextHeader;
  h[7] = 64;
  Buffer.from(ipBytes(src)!.bytes).copy(h, 8);
  Buffer.from(ipBytes(dst)!.bytes).copy(h, 24);
  return Buffer.concat([ether(0x86dd), h, payload]);
}

function tcp(sport: number, dport: number, flags: number, payloadBytes = 0): Buffer {
  const h = Buffer.alloc(20 + payloadBytes);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h[12] = 0x50;
  h[13] = flags;
  return h;
}

function udp(sport: number, dport: number, payloadBytes: number): Buffer {
  const h = Buffer.alloc(8 + payloadBytes);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payloadBytes, 4);
  return h;
}

function icmpEcho(type: number, id: number): Buffer {
  const h = Buffer.alloc(16);
  h[0] = type;
  h.writeUInt16BE(id, 4);
  return h;
}

function key(src: string, sport: number, dst: string, dport: number, protocol: number): Buffer {
  const k = Buffer.alloc(K.size);
  const s = ipBytes(src)!;
  Buffer.from(s.bytes).copy(k, K.saddr);
  Buffer.from(ipBytes(dst)!.bytes).copy(k, K.daddr);
  k.writeUInt16LE(sport, K.sport);
  k.writeUInt16LE(dport, K.dport);
  k[K.ip_version] = s.ipVersion;
  k[K.protocol] = protocol;
  return k;
}

let obj: BpfObject;
/** flows with dns and http enabled too: the parse then also locates each TCP/UDP payload. */
let amongAll: BpfObject;

before(() => {
  obj = BpfObject.open(OBJECT);
  obj.setGlobal('packet_flows', 1);
  obj.load();
  amongAll = BpfObject.open(OBJECT);
  for (const probe of ['flows', 'dns', 'http']) amongAll.setGlobal(`packet_${probe}`, 1);
  amongAll.load();
});

after(() => {
  obj?.close();
  amongAll?.close();
});

/** The __sk_buff context up to ingress_ifindex (offset 36): the interface a packet came in by. */
function cameInBy(ifindex: number): Buffer {
  const ctx = Buffer.alloc(40);
  ctx.writeUInt32LE(ifindex, 36);
  return ctx;
}

function run(packet: Buffer, program = 'packet_tc_ingress', ctx?: Buffer, o = obj): void {
  const r = o.program(program).testRun({ data: packet, ...(ctx ? { ctx } : {}) });
  assert.equal(r.retval | 0, -1, 'TC_ACT_UNSPEC: the packet goes on to the next filter untouched');
}

/**
 * The conversation's map key for a packet's key (endpoints ordered as the program orders them: the
 * source first when its address, as two native 64-bit words, then its port, is not greater) and the
 * packet's direction in it (0: from the ordered key's source).
 */
function conversation(k: Buffer): { key: Buffer; way: number } {
  const words = (at: number) => [k.readBigUInt64LE(at), k.readBigUInt64LE(at + 8)] as const;
  const [s0, s1] = words(K.saddr);
  const [d0, d1] = words(K.daddr);
  const sport = k.readUInt16LE(K.sport);
  const dport = k.readUInt16LE(K.dport);
  if (s0 < d0 || (s0 === d0 && (s1 < d1 || (s1 === d1 && sport <= dport)))) return { key: k, way: 0 };
  const swapped = Buffer.from(k);
  k.copy(swapped, K.saddr, K.daddr, K.daddr + 16);
  k.copy(swapped, K.daddr, K.saddr, K.saddr + 16);
  swapped.writeUInt16LE(dport, K.sport);
  swapped.writeUInt16LE(sport, K.dport);
  return { key: swapped, way: 1 };
}

/** The counters of the direction `k` (a packet's key) of its conversation's entry. */
function counters(k: Buffer, o = obj) {
  const map = o.map('pf_flows');
  const { key: ordered, way } = conversation(k);
  const value = map.lookup(ordered);
  assert.ok(value, 'the conversation has a map entry');
  const c = { bytes: 0, packets: 0, firstNs: 0, lastNs: 0, ifindex: 0, direction: 0, tcpFlags: 0, syn: false };
  mergeCpuSlots(value, map.valueBufferSize / possibleCpus(), possibleCpus(), c, 0, way * D.size);
  return c;
}

/** pf_losses holds a row of reasons (enum pf_loss_reason) per probe of the object (enum pf_packet_probe). */
const LOSS_REASONS = 3;
const FLOWS_ROW = 0;
const PARSE_ERROR = 2;

/** The flows probe's count of one loss reason. */
function lossCount(reason: number, o = obj): number {
  const map = o.map('pf_losses');
  const k = Buffer.alloc(4);
  k.writeUInt32LE(FLOWS_ROW * LOSS_REASONS + reason);
  const v = map.lookup(k);
  return v ? map.perCpuValues(v).reduce((n, b) => n + Number(b.readBigUInt64LE(0)), 0) : 0;
}

test('IPv4 TCP: SYN then data, bytes from the IP header on, flags OR-ed, SYN marks the initiator', () => {
  run(ipv4('10.232.0.1', '10.232.0.2', 6, tcp(40000, 80, 0x02)));
  run(ipv4('10.232.0.1', '10.232.0.2', 6, tcp(40000, 80, 0x18, 10)));
  const c = counters(key('10.232.0.1', 40000, '10.232.0.2', 80, 6));
  assert.equal(c.packets, 2);
  assert.equal(c.bytes, 40 + 50);
  assert.equal(c.tcpFlags, 0x1a);
  assert.equal(c.syn, true);
  assert.equal(c.direction, 1);
  assert.equal(c.ifindex, 1, 'test runs happen on loopback');
  assert.ok(c.firstNs > 0 && c.firstNs <= Number(process.hrtime.bigint()), 'first seen on the monotonic clock');
});

test('a SYN-ACK does not mark the initiator; egress is recorded as such; both directions share one entry', () => {
  const entries = [...obj.map('pf_flows').keys()].length;
  run(ipv4('10.232.0.2', '10.232.0.1', 6, tcp(80, 40000, 0x12)), 'packet_tc_egress');
  const c = counters(key('10.232.0.2', 80, '10.232.0.1', 40000, 6));
  assert.equal(c.syn, false);
  assert.equal(c.direction, 2);
  assert.equal(c.packets, 1);
  assert.equal([...obj.map('pf_flows').keys()].length, entries, 'the reply went into the SYN sender\'s entry');
  const forward = counters(key('10.232.0.1', 40000, '10.232.0.2', 80, 6));
  assert.deepEqual([forward.packets, forward.syn], [2, true], 'the initiator direction is unchanged');
});

test('a packet seen again at another hook of the node is counted once, where first seen', () => {
  const k = key('10.232.0.5', 1000, '10.232.0.6', 2000, 17);
  run(ipv4('10.232.0.5', '10.232.0.6', 17, udp(1000, 2000, 100)));
  run(ipv4('10.232.0.5', '10.232.0.6', 17, udp(1000, 2000, 100)), 'packet_tc_egress');
  const c = counters(k);
  assert.equal(c.packets, 1);
  assert.equal(c.bytes, 128);
  assert.equal(c.direction, 1);
});

test('a packet leaving the way it came in is counted once; translated on the way (DNAT), it is a conversation of its own', () => {
  const packet = ipv4('10.232.0.7', '10.232.0.8', 17, udp(1000, 2000, 100));
  run(packet);
  run(packet, 'packet_tc_egress', cameInBy(1));
  const c = counters(key('10.232.0.7', 1000, '10.232.0.8', 2000, 17));
  assert.deepEqual([c.packets, c.direction], [1, 1]);
  run(ipv4('10.232.0.7', '10.232.0.9', 17, udp(1000, 2000, 100)), 'packet_tc_egress', cameInBy(1));
  const translated = counters(key('10.232.0.7', 1000, '10.232.0.9', 2000, 17));
  assert.deepEqual([translated.packets, translated.direction], [1, 2]);
});

test('IPv6 UDP and TCP', () => {
  run(ipv6('fd00:232::1', 'fd00:232::2', 17, udp(5353, 53, 30)));
  const u = counters(key('fd00:232::1', 5353, 'fd00:232::2', 53, 17));
  assert.deepEqual([u.packets, u.bytes], [1, 40 + 38]);
  run(ipv6('fd00:232::2', 'fd00:232::1', 6, tcp(443, 50000, 0x10, 100)));
  const t = counters(key('fd00:232::2', 443, 'fd00:232::1', 50000, 6));
  assert.deepEqual([t.packets, t.bytes, t.tcpFlags], [1, 40 + 120, 0x10]);
});

test('ICMP and ICMPv6 echo: request and reply share the echo id as both ports', () => {
  run(ipv4('10.232.0.1', '10.232.0.2', 1, icmpEcho(8, 0x1234)));
  run(ipv4('10.232.0.2', '10.232.0.1', 1, icmpEcho(0, 0x1234)));
  assert.equal(counters(key('10.232.0.1', 0x1234, '10.232.0.2', 0x1234, 1)).packets, 1);
  assert.equal(counters(key('10.232.0.2', 0x1234, '10.232.0.1', 0x1234, 1)).packets, 1);
  run(ipv6('fd00:232::1', 'fd00:232::2', 58, icmpEcho(128, 7)));
  assert.equal(counters(key('fd00:232::1', 7, 'fd00:232::2', 7, 58)).packets, 1);
  // Other ICMP types carry no ports.
  run(ipv4('10.232.0.3', '10.232.0.1', 1, icmpEcho(3, 0x9999)));
  assert.equal(counters(key('10.232.0.3', 0, '10.232.0.1', 0, 1)).packets, 1);
});

test('a non-first IPv4 fragment is keyed without ports', () => {
  run(ipv4('10.232.0.7', '10.232.0.8', 17, Buffer.alloc(64, 0xaa), 185));
  assert.equal(counters(key('10.232.0.7', 0, '10.232.0.8', 0, 17)).packets, 1);
});

test('IPv6 fragments are keyed by the protocol they carry: the first with its ports, the others without', () => {
  /** An IPv6 fragment header (44) carrying `next`: offset in 8-byte units, more fragments, then the payload. */
  const fragment = (next: number, offset: number, more: boolean, payload: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h[0] = next;
    h.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
    h.writeUInt32BE(0xcafe, 4);
    return Buffer.concat([h, payload]);
  };
  const datagram = udp(40000, 9998, 1400);
  run(ipv6('fd00:232::7', 'fd00:232::8', 44, fragment(17, 0, true, datagram.subarray(0, 1232))));
  run(ipv6('fd00:232::7', 'fd00:232::8', 44, fragment(17, 154, false, datagram.subarray(1232))));
  const first = counters(key('fd00:232::7', 40000, 'fd00:232::8', 9998, 17));
  assert.deepEqual([first.packets, first.bytes], [1, 40 + 8 + 1232]);
  const rest = counters(key('fd00:232::7', 0, 'fd00:232::8', 0, 17));
  assert.deepEqual([rest.packets, rest.bytes], [1, 40 + 8 + datagram.length - 1232]);
});

test('malformed packets are counted as parse errors and change no flow', () => {
  const before = lossCount(PARSE_ERROR);
  const entries = [...obj.map('pf_flows').keys()].length;
  const wrongVersion = ipv4('10.232.0.9', '10.232.0.10', 6, tcp(1, 2, 0x02));
  wrongVersion[14] = 0x65; // version 6 under an IPv4 ethertype
  run(wrongVersion);
  run(ipv4('10.232.0.9', '10.232.0.10', 6, Buffer.alloc(6))); // TCP header cut short
  const bad = ipv4('10.232.0.9', '10.232.0.10', 17, udp(1, 2, 0));
  bad[14] = 0x44; // IHL 4: shorter than the minimum
  run(bad);
  run(ipv6('fd00:232::9', 'fd00:232::10', 17, Buffer.alloc(2))); // UDP header cut short
  assert.equal(lossCount(PARSE_ERROR) - before, 4);
  assert.equal([...obj.map('pf_flows').keys()].length, entries);
});

test('lengths that leave no payload are counted all the same where dns and http are enabled too (they ignore the packet)', () => {
  /** The packet with its IP length (IPv4 total, IPv6 payload) replaced by `claimed`. */
  const claiming = (packet: Buffer, claimed: number) => {
    packet.writeUInt16BE(claimed, 14 + (packet[14]! >> 4 === 4 ? 2 : 4));
    return packet;
  };
  const offsetBelowMinimum = tcp(40001, 80, 0x18, 10);
  offsetBelowMinimum[12] = 0x40; // a 16-byte TCP header
  const cases: [Buffer, Buffer, number][] = [
    [claiming(ipv4('10.232.1.1', '10.232.1.2', 6, tcp(40000, 80, 0x18, 10)), 30), key('10.232.1.1', 40000, '10.232.1.2', 80, 6), 30],
    [claiming(ipv4('10.232.1.1', '10.232.1.2', 17, udp(40000, 53, 12)), 24), key('10.232.1.1', 40000, '10.232.1.2', 53, 17), 24],
    [claiming(ipv4('10.232.1.1', '10.232.1.2', 6, tcp(80, 40000, 0x18, 10)), 10), key('10.232.1.1', 80, '10.232.1.2', 40000, 6), 10],
    [claiming(ipv6('fd00:232::1:1', 'fd00:232::1:2', 6, tcp(40000, 80, 0x18, 10)), 4), key('fd00:232::1:1', 40000, 'fd00:232::1:2', 80, 6), 44],
    [ipv4('10.232.1.1', '10.232.1.2', 6, offsetBelowMinimum), key('10.232.1.1', 40001, '10.232.1.2', 80, 6), 50],
  ];
  for (const o of [obj, amongAll]) {
    const before = lossCount(PARSE_ERROR, o);
    for (const [packet] of cases) run(Buffer.from(packet), 'packet_tc_ingress', undefined, o);
    assert.deepEqual(cases.map(([, k]) => [counters(k, o).packets, counters(k, o).bytes]), cases.map(([, , bytes]) => [1, bytes]));
    assert.equal(lossCount(PARSE_ERROR, o), before);
  }
  // DNS on port 53 without a payload located: not looked at, so not counted as malformed DNS either.
  const l7 = amongAll.map('l7_counters');
  const malformed = l7.lookup(Buffer.alloc(4));
  assert.equal(malformed ? l7.perCpuValues(malformed).reduce((n, b) => n + Number(b.readBigUInt64LE(0)), 0) : 0, 0);
});

test('non-IP frames are ignored without counting', () => {
  const before = lossCount(PARSE_ERROR);
  const entries = [...obj.map('pf_flows').keys()].length;
  run(Buffer.concat([ether(0x0806), Buffer.alloc(28)])); // ARP
  assert.equal(lossCount(PARSE_ERROR), before);
  assert.equal([...obj.map('pf_flows').keys()].length, entries);
});

test('the socket filter variant counts the same and keeps no packet for the socket', () => {
  // Socket filters see the packet from its network header on in a test run (and from the MAC
  // header on an AF_PACKET socket): the program reads relative to the network header either way.
  const r = obj.program('packet_socket').testRun({ data: ipv4('10.232.0.11', '10.232.0.12', 17, udp(7, 8, 10)) });
  assert.equal(r.retval, 0);
  assert.equal(counters(key('10.232.0.11', 7, '10.232.0.12', 8, 17)).bytes, 38);
});
