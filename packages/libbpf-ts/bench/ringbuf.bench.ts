// Ring-buffer records per second delivered to JavaScript, 64-byte records.
// The producer is BPF_PROG_TEST_RUN of a program that reserves and submits
// records_per_run records per run (on a libuv worker thread), so the figure
// does not depend on real traffic. The JS handler reads every record's
// sequence number (gaps = records the kernel side dropped).
// BENCH_SMOKE=1 runs a short version. The last line of output is the JSON result.
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject, RingBufferConsumer } from '../src/index.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const SECONDS = SMOKE ? 0.3 : Number(process.env.BENCH_SECONDS ?? 5);
const RECORDS_PER_RUN = 8192;
const RING_BYTES = 64 << 20;
const BATCH_BYTES = 1 << 20;
const IN_FLIGHT = 4;
const TARGET = 5_000_000;

const objectFile = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'ringbuf.bpf.o');
const obj = BpfObject.open(objectFile);
obj.setGlobal('records_per_run', RECORDS_PER_RUN);
obj.map('events').resize(RING_BYTES);
obj.load();

let received = 0;
let gaps = 0;
let expected = 0;
const consumer = new RingBufferConsumer(obj.map('events'), (batch, offsets, count) => {
  for (let i = 0; i < count; i++) {
    // The low 32 bits of the sequence number suffice to see gaps within a run this long.
    const seq = batch.readUInt32LE(offsets[i]!);
    if (seq !== expected) gaps++;
    expected = seq + 1;
  }
  received += count;
}, { batchBytes: BATCH_BYTES, maxBatchesInFlight: IN_FLIGHT });

const prog = obj.program('lbt_rb_produce');
const packet = Buffer.alloc(64);

// Phase 1, consumer only: fill the ring while nothing consumes, then time the drain.
const prefill = RECORDS_PER_RUN * (SMOKE ? 10 : 100);
prog.testRun({ data: packet, repeat: prefill / RECORDS_PER_RUN });
const d0 = process.hrtime.bigint();
consumer.start();
while (received < prefill) await new Promise((r) => setImmediate(r));
const drainRate = prefill / (Number(process.hrtime.bigint() - d0) / 1e9);

// Phase 2, producer and consumer together for SECONDS, in windows of WINDOW_S: the figure
// is the median window, so that a burst of other work on the machine moves it less.
const WINDOW_S = SMOKE ? 0.1 : 1;
received = 0;
const windows: number[] = [];
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let windowStart = t0;
let windowReceived = 0;
const endAt = t0 + BigInt(Math.round(SECONDS * 1e9));
for (;;) {
  await prog.testRunAsync({ data: packet, repeat: 4 });
  const now = process.hrtime.bigint();
  if (now - windowStart >= BigInt(WINDOW_S * 1e9)) {
    windows.push((received - windowReceived) / (Number(now - windowStart) / 1e9));
    windowStart = now;
    windowReceived = received;
  }
  if (now >= endAt) break;
}
const producedAtStop = Number(obj.getGlobal('produced').readBigUInt64LE());
const productionS = Number(process.hrtime.bigint() - t0) / 1e9;
// Deliver what the ring still holds, so that delivered + dropped accounts for every record.
let last = -1;
while (received !== last) {
  last = received;
  await new Promise((r) => setTimeout(r, 50));
}
const cpu = process.cpuUsage(cpu0);
consumer.stop();
const stats = consumer.stats();
const produced = Number(obj.getGlobal('produced').readBigUInt64LE());
const dropped = Number(obj.getGlobal('dropped').readBigUInt64LE());
obj.close();

const sorted = [...windows].sort((a, b) => a - b);
const rate = sorted[Math.floor(sorted.length / 2)] ?? 0;
const elapsedS = productionS;
const lines = [
  `ring buffer -> JavaScript, 64-byte records${SMOKE ? ' (smoke)' : ''}`,
  `  drain of a full ring (consumer only): ${prefill} records at ${(drainRate / 1e6).toFixed(2)} M records/s`,
  `  ${SECONDS}s of concurrent BPF_PROG_TEST_RUN production:`,
  `  produced            ${produced - prefill} (${((producedAtStop - prefill) / elapsedS / 1e6).toFixed(2)} M/s attempted)`,
  `  delivered to JS     ${received} (${(received / elapsedS / 1e6).toFixed(2)} M/s over the run)`,
  `  per ${WINDOW_S}s window   median ${(rate / 1e6).toFixed(2)} M/s, min ${((sorted[0] ?? 0) / 1e6).toFixed(2)}, max ${((sorted.at(-1) ?? 0) / 1e6).toFixed(2)} (${windows.length} windows)`,
  `  dropped (kernel)    ${dropped}  (sequence gaps seen by JS: ${gaps})`,
  `  batches             ${stats.batches} (${(received / Math.max(stats.batches, 1)).toFixed(0)} records per batch), stalls ${stats.stalls}`,
  `  process CPU         user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s (load average ${loadavg()[0]!.toFixed(2)})`,
];
for (const l of lines) console.log(l);
if (prefill + received + dropped !== produced) {
  console.error(`accounting mismatch: delivered ${received} + dropped ${dropped} != produced ${produced}`);
  process.exitCode = 1;
}
console.log(JSON.stringify({
  name: 'ringbuf',
  value: Math.round(rate),
  unit: 'records/s',
  recordBytes: 64,
  seconds: Number(elapsedS.toFixed(3)),
  windowMin: Math.round(sorted[0] ?? 0),
  windowMax: Math.round(sorted.at(-1) ?? 0),
  delivered: received,
  dropped,
  batches: stats.batches,
  recordsPerBatch: Math.round(received / Math.max(stats.batches, 1)),
  target: TARGET,
  ratioToTarget: Number((rate / TARGET).toFixed(3)),
  drainRecordsPerSec: Math.round(drainRate),
  loadAvg1: Number(loadavg()[0]!.toFixed(2)),
  smoke: SMOKE,
}));
