// The flows probe's SYN path (bpf/include/flows.h, count_packet): a SYN without ACK tries to
// insert its conversation before any lookup, so a SYN whose conversation is already in pf_flows
// (a retransmitted SYN, a SYN seen again at a second hook of the node, the other side connecting
// back on the same 4-tuple) meets the insert's EEXIST and must still count exactly as any other
// packet of that conversation does. BPF_PROG_TEST_RUN of the packet object as the agent loads it
// (flows with dns and http) and with flows alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfObject, possibleCpus } from 'libbpf-ts';
import { ipBytes } from '../../src/enrich/ip.js';
import { mergeCpuSlots } from '../../src/probes/flows/table.js';
import { FlowDir as D, FlowKey as K } from '../../src/probes/shared/layouts.js';
import { ip, tcp } from './l7-packets.js';

const OBJECT = fileURLToPath(new URL('../../../bpf/build/packet.bpf.o', import.meta.url));
const SYN = 0x02;
const SYN_ACK = 0x12;
const ACK = 0x10;

const objects: { name: string; obj: BpfObject }[] = [];

before(() => {
  for (const probes of [['flows', 'dns', 'http'], ['flows']]) {
    const obj = BpfObject.open(OBJECT);
    for (const probe of probes) obj.setGlobal(`packet_${probe}`, 1);
    obj.load();
    objects.push({ name: probes.join('+'), obj });
  }
});

after(() => {
  for (const { obj } of objects) obj.close();
});

/** The __sk_buff context up to ingress_ifindex (offset 36): the interface a packet came in by. */
function cameInBy(ifindex: number): Buffer {
  const ctx = Buffer.alloc(40);
  ctx.writeUInt32LE(ifindex, 36);
  return ctx;
}

function segment(src: string, sport: number, dst: string, dport: number, flags: number): Buffer {
  return ip(src, dst, 6, tcp(sport, dport, 1, Buffer.alloc(0), flags));
}

function run(obj: BpfObject, packet: Buffer, program = 'packet_tc_ingress', ctx?: Buffer): void {
  const r = obj.program(program).testRun({ data: packet, ...(ctx ? { ctx } : {}) });
  assert.equal(r.retval | 0, -1, 'TC_ACT_UNSPEC');
}

/**
 * The conversation's entry of `low`:`lowPort` and `high`:`highPort`, whose key the program orders with
 * `low` first (the tests pick addresses that differ in their last byte only, which is the most significant
 * of the first native 64-bit word), and the counters of each way: [0] from `low`, [1] from `high`.
 */
function conversation(obj: BpfObject, low: string, lowPort: number, high: string, highPort: number) {
  const k = Buffer.alloc(K.size);
  Buffer.from(ipBytes(low)!.bytes).copy(k, K.saddr);
  Buffer.from(ipBytes(high)!.bytes).copy(k, K.daddr);
  k.writeUInt16LE(lowPort, K.sport);
  k.writeUInt16LE(highPort, K.dport);
  k[K.ip_version] = 4;
  k[K.protocol] = 6;
  const map = obj.map('pf_flows');
  const value = map.lookup(k);
  assert.ok(value, 'the conversation has an entry under its ordered key');
  return [0, 1].map((way) => {
    const c = { bytes: 0, packets: 0, firstNs: 0, lastNs: 0, ifindex: 0, direction: 0, tcpFlags: 0, syn: false };
    mergeCpuSlots(value, map.valueBufferSize / possibleCpus(), possibleCpus(), c, 0, way * D.size);
    return c;
  });
}

function entries(obj: BpfObject): number {
  return [...obj.map('pf_flows').keys()].length;
}

test('a retransmitted SYN adds to its conversation', () => {
  for (const [i, { name, obj }] of objects.entries()) {
    const client = `10.233.${i}.1`;
    const server = `10.233.${i}.2`;
    const before = entries(obj);
    run(obj, segment(client, 40000, server, 80, SYN));
    run(obj, segment(client, 40000, server, 80, SYN));
    assert.equal(entries(obj), before + 1, `${name}: one entry`);
    const [fwd, back] = conversation(obj, client, 40000, server, 80);
    assert.deepEqual([fwd!.packets, fwd!.bytes, fwd!.syn, fwd!.tcpFlags, back!.packets], [2, 80, true, SYN, 0], name);
  }
});

test('a SYN after other packets of its conversation adds to it, in its own direction', () => {
  for (const [i, { name, obj }] of objects.entries()) {
    const client = `10.233.${i}.3`;
    const server = `10.233.${i}.4`;
    run(obj, segment(server, 80, client, 40001, ACK)); // a stray segment from the server first
    run(obj, segment(client, 40001, server, 80, SYN));
    run(obj, segment(server, 80, client, 40001, SYN_ACK));
    const [fwd, back] = conversation(obj, client, 40001, server, 80);
    assert.deepEqual([fwd!.packets, fwd!.syn, fwd!.direction], [1, true, 1], `${name}: the SYN's direction, ingress`);
    assert.deepEqual([back!.packets, back!.syn, back!.tcpFlags], [2, false, SYN_ACK], `${name}: the server's direction`);
  }
});

test('a SYN seen again at another hook of the node is counted once, where first seen', () => {
  for (const [i, { name, obj }] of objects.entries()) {
    const client = `10.233.${i}.5`;
    const server = `10.233.${i}.6`;
    const syn = segment(client, 40002, server, 80, SYN);
    run(obj, syn);
    // Egress of another interface, not recognised as the CPU's last ingress packet (it came in by another one).
    run(obj, syn, 'packet_tc_egress', cameInBy(9999));
    const [fwd] = conversation(obj, client, 40002, server, 80);
    assert.deepEqual([fwd!.packets, fwd!.direction], [1, 1], name);
  }
});

test('the other side connecting back on the same 4-tuple: its SYN counts in its direction and marks it', () => {
  for (const [i, { name, obj }] of objects.entries()) {
    const a = `10.233.${i}.7`;
    const b = `10.233.${i}.8`;
    run(obj, segment(a, 5000, b, 6000, SYN));
    run(obj, segment(b, 6000, a, 5000, SYN));
    const [fromA, fromB] = conversation(obj, a, 5000, b, 6000);
    assert.deepEqual([fromA!.packets, fromA!.syn], [1, true], name);
    assert.deepEqual([fromB!.packets, fromB!.syn, fromB!.bytes], [1, true, 40], name);
  }
});
