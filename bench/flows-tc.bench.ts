// ns per packet of the flows probe under BPF_PROG_TEST_RUN (64-byte TCP
// packet, warm map: the flow's entry exists), side by side in one run with an
// empty TC program: the packet object's TC program (bpf/packet.bpf.c), loaded
// as the agent loads it with only flows enabled. The figure is the ratio;
// target: at most 3x the empty program.
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BpfObject, type Program } from 'libbpf-ts';
import { PacketObjects } from '../src/probes/shared/packet-object.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const REPEAT = SMOKE ? 10_000 : 1_000_000;
const ROUNDS = SMOKE ? 1 : 5;
const TARGET_RATIO = 3;
const BUILD = fileURLToPath(new URL('../../bpf/build/', import.meta.url));

/** Ethernet + IPv4 + TCP (ACK|PSH) + 10 bytes of payload = 64 bytes. */
function tcpPacket(): Buffer {
  const p = Buffer.alloc(64);
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]).copy(p);
  p[14] = 0x45;
  p.writeUInt16BE(50, 16);
  p[22] = 64;
  p[23] = 6;
  Buffer.from([10, 232, 0, 1, 10, 232, 0, 2]).copy(p, 26);
  p.writeUInt16BE(40000, 34);
  p.writeUInt16BE(80, 36);
  p[46] = 0x50;
  p[47] = 0x18;
  return p;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const packet = new PacketObjects({ interfaces: [], setups: [{ probe: 'flows' }] }).acquire(BUILD, 'tc');
const emptyObj = BpfObject.open(`${BUILD}tc_empty.bpf.o`);
try {
  emptyObj.load();
  const flows = packet.object.program('packet_tc_ingress');
  const empty = emptyObj.program('tc_empty');
  const data = tcpPacket();
  flows.testRun({ data }); // warm: the flow's map entry exists from here on
  const run = (p: Program): number => p.testRun({ data, repeat: REPEAT }).durationNs;
  const flowNs: number[] = [];
  const emptyNs: number[] = [];
  // Interleaved, so that frequency changes and noise hit both alike.
  for (let i = 0; i < ROUNDS; i++) {
    emptyNs.push(run(empty));
    flowNs.push(run(flows));
  }
  const f = median(flowNs);
  const e = median(emptyNs);
  const ratio = f / e;
  console.log(`flows probe in packet_tc_ingress (only flows enabled), 64-byte IPv4 TCP packet, warm map, ${REPEAT} repeats x ${ROUNDS} rounds (median)`);
  console.log(`  flows             ${f.toFixed(1)} ns/packet   rounds: ${flowNs.join(' ')}`);
  console.log(`  empty TC program  ${e.toFixed(1)} ns/packet   rounds: ${emptyNs.join(' ')}`);
  console.log(`  ratio             ${ratio.toFixed(2)}x (target <= ${TARGET_RATIO}x)`);
  console.log(JSON.stringify({
    name: 'flows-tc',
    value: f,
    unit: 'ns/packet',
    ratio: Number(ratio.toFixed(2)),
    emptyNs: e,
    targetRatio: TARGET_RATIO,
    repeat: REPEAT,
    rounds: ROUNDS,
    loadAvg1: Number((loadavg()[0] ?? 0).toFixed(2)),
    smoke: SMOKE,
  }));
} finally {
  packet.release();
  emptyObj.close();
}
