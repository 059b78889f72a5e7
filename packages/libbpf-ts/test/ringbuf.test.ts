// Ring-buffer and perf-buffer delivery, driven by BPF_PROG_TEST_RUN so that
// counts are exact: every produced record arrives once, in order, in batches;
// a slow consumer makes the BPF program count drops while memory stays flat.
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BpfError, BpfMap, BpfObject, PerfBufferConsumer, RingBufferConsumer, possibleCpus, type ConsumerStats } from '../src/index.js';
import { leftoverTestPrograms, objectPath, rssBytes, run, sleep } from './helpers.js';

const PACKET = Buffer.alloc(64);

/** Opens and loads a producer object that is closed when the test ends, pass or fail. */
function producer(t: TestContext, file: 'ringbuf' | 'perfbuf', recordsPerRun: number, ringBytes?: number, wakeAtQuarter = false): BpfObject {
  const obj = BpfObject.open(objectPath(file));
  t.after(() => obj.close());
  obj.setGlobal('records_per_run', recordsPerRun);
  if (wakeAtQuarter) obj.setGlobal('wake_at_quarter', 1);
  if (ringBytes) obj.map('events').resize(ringBytes);
  obj.load();
  return obj;
}

function global64(obj: BpfObject, name: string): number {
  return Number(obj.getGlobal(name).readBigUInt64LE());
}

// Generous: a consumer thread on a loaded 2-core CI VM can go unscheduled for seconds.
async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

after(() => {
  assert.deepEqual(leftoverTestPrograms(), []);
});

test('1,000,000 ring-buffer records arrive exactly once, in order, in batches', async (t) => {
  const obj = producer(t, 'ringbuf', 100_000, 16 << 20);
  let next = 0;
  let calls = 0;
  let maxPerCall = 0;
  let bad = '';
  const consumer = new RingBufferConsumer(obj.map('events'), (batch, offsets, count) => {
    calls++;
    maxPerCall = Math.max(maxPerCall, count);
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      if (offsets[i + 1]! - off !== 64 && !bad) bad = `record ${next} is ${offsets[i + 1]! - off} bytes`;
      const seq = Number(batch.readBigUInt64LE(off));
      if (seq !== next && !bad) bad = `expected seq ${next}, got ${seq}`;
      if (batch.readBigUInt64LE(off + 8 * 7) !== BigInt(seq ^ 6) && !bad) bad = `record ${seq} payload corrupt`;
      next++;
    }
  });
  consumer.start();
  try {
    const prog = obj.program('lbt_rb_produce');
    for (let round = 0; round < 10; round++) {
      await prog.testRunAsync({ data: PACKET });
      await until(() => next === (round + 1) * 100_000, `round ${round}`);
    }
  } finally {
    consumer.stop();
  }
  assert.equal(bad, '');
  assert.equal(next, 1_000_000);
  assert.equal(global64(obj, 'produced'), 1_000_000);
  assert.equal(global64(obj, 'dropped'), 0);
  const stats: ConsumerStats = consumer.stats();
  assert.equal(stats.records, 1_000_000);
  assert.equal(stats.bytes, 64_000_000);
  assert.equal(stats.batches, calls);
  assert.ok(calls < 1_000_000 / 100, `batched: ${calls} calls for 1e6 records (max ${maxPerCall} per call)`);
});

test('one consumer thread serves several ring buffers', async (t) => {
  const a = producer(t, 'ringbuf', 1000, 4 << 20);
  const b = producer(t, 'ringbuf', 3000, 4 << 20);
  let received = 0;
  const consumer = new RingBufferConsumer([a.map('events'), b.map('events')], (_batch, _offsets, count) => {
    received += count;
  }).start();
  try {
    for (let i = 0; i < 5; i++) {
      a.program('lbt_rb_produce').testRun({ data: PACKET });
      b.program('lbt_rb_produce').testRun({ data: PACKET });
      await until(() => received === (i + 1) * 4000, `round ${i} from both rings`);
    }
  } finally {
    consumer.stop();
  }
  assert.equal(global64(a, 'dropped') + global64(b, 'dropped'), 0);
});

test('a slow consumer: the kernel side counts drops, in-flight batches stay bounded, memory stays flat', async (t) => {
  const obj = producer(t, 'ringbuf', 10_000, 64 << 10);
  let received = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const consumer = new RingBufferConsumer(obj.map('events'), async (_batch, _offsets, count) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    received += count;
    await sleep(10);
    inFlight--;
  }, { maxBatchesInFlight: 2, batchBytes: 16 << 10 });
  consumer.start();
  const rssBefore = rssBytes();
  try {
    const prog = obj.program('lbt_rb_produce');
    for (let i = 0; i < 100; i++) await prog.testRunAsync({ data: PACKET });
    // Every record the ring took is delivered: a pause in delivery (the thread unscheduled) is no end of it.
    await until(() => received + global64(obj, 'dropped') >= 1_000_000, 'the consumer to drain the ring');
  } finally {
    consumer.stop();
  }
  const produced = global64(obj, 'produced');
  const dropped = global64(obj, 'dropped');
  assert.equal(produced, 1_000_000);
  assert.ok(dropped > 0, 'the BPF program counted drops');
  assert.equal(received + dropped, produced, `received ${received} + dropped ${dropped}`);
  assert.ok(maxInFlight <= 2, `at most 2 batches in flight, saw ${maxInFlight}`);
  assert.ok(consumer.stats().stalls > 0, 'the native thread stalled instead of buffering');
  const growth = rssBytes() - rssBefore;
  assert.ok(growth < 32 << 20, `RSS grew by ${growth} bytes`);
});

test('perf buffer: every record arrives once, none lost', async (t) => {
  const obj = producer(t, 'perfbuf', 1000);
  const seen = new Set<number>();
  const consumer = new PerfBufferConsumer(obj.map('pevents'), (batch, offsets, count) => {
    // Perf raw samples carry up to 7 bytes of padding: 64-byte events arrive as 68 bytes.
    for (let i = 0; i < count; i++) seen.add(Number(batch.readBigUInt64LE(offsets[i]!)));
  }, { pageCount: 256 });
  consumer.start();
  try {
    const prog = obj.program('lbt_pb_produce');
    for (let round = 0; round < 20; round++) {
      prog.testRun({ data: PACKET });
      await until(() => seen.size === (round + 1) * 1000, `perf round ${round}`);
    }
  } finally {
    consumer.stop();
  }
  assert.equal(seen.size, 20_000);
  assert.equal(Math.min(...seen), 0);
  assert.equal(Math.max(...seen), 19_999);
  assert.equal(global64(obj, 'failed'), 0);
  assert.equal(consumer.stats().lost, 0);
});

test('a perf-buffer consumer stopped after its object closed leaves alone the map now at its old fd number', (t) => {
  const perf = producer(t, 'perfbuf', 1);
  const consumer = new PerfBufferConsumer(perf.map('pevents'), () => {}, { pageCount: 8 }).start();
  t.after(() => consumer.stop());
  const oldFd = perf.map('pevents').fd;
  const maps = BpfObject.open(objectPath('maps'));
  t.after(() => maps.close());
  maps.program('lbt_percpu_inc').setAutoload(false);
  maps.program('lbt_hash_fill').setAutoload(false);
  maps.load();
  const dir = mkdtempSync(join(tmpdir(), 'lbt-bpffs-'));
  run('mount', ['-t', 'bpf', 'bpf', dir]);
  t.after(() => {
    run('umount', [dir]);
    rmdirSync(dir);
  });
  const pin = join(dir, 'hash');
  maps.map('hash').pin(pin);
  // Keys 0..cpus-1 are what stopping a perf buffer deletes from its map (one entry per CPU).
  for (let cpu = 0; cpu < possibleCpus(); cpu++) {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(cpu);
    maps.map('hash').update(k, Buffer.alloc(8));
  }
  perf.close();
  // fds are handed out lowest first: reopen the pin until it lands on the perf map's old number.
  const extra: BpfMap[] = [];
  let victim: BpfMap | undefined;
  for (let i = 0; i < 1000 && !victim; i++) {
    const m = BpfMap.fromPinned(pin);
    if (m.fd === oldFd) victim = m;
    else extra.push(m);
  }
  for (const m of extra) m.close();
  assert.ok(victim, `reopened the pinned hash map at fd ${oldFd}`);
  try {
    consumer.stop();
    assert.equal([...victim.keys()].length, possibleCpus(), 'no entry deleted from the unrelated map');
  } finally {
    victim.close();
  }
});

test('testRunAsync runs the program it was given, even when its object closes before the run starts', async (t) => {
  // Keep every libuv worker busy so that the run under test waits in the queue.
  const spin = BpfObject.open(objectPath('maps'));
  t.after(() => spin.close());
  spin.load();
  const workers = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const busy = Array.from({ length: workers }, () => spin.program('lbt_percpu_inc').testRunAsync({ data: PACKET, repeat: 3_000_000 }));
  const a = producer(t, 'ringbuf', 1);
  const queued = a.program('lbt_rb_produce').testRunAsync({ data: PACKET });
  const aFd = a.program('lbt_rb_produce').fd;
  a.close();
  // The same object again gets the same fd numbers: its program now has a's old number.
  const b = producer(t, 'ringbuf', 1);
  t.diagnostic(`program fd ${aFd} reused: ${b.program('lbt_rb_produce').fd === aFd}`);
  await Promise.all([queued, ...busy]);
  assert.equal(global64(b, 'produced'), 0, 'the closed object\'s run did not run the program now at its fd number');
});

test('handler errors go to onError and release the batch', async (t) => {
  const obj = producer(t, 'ringbuf', 10, 64 << 10);
  const errors: unknown[] = [];
  let calls = 0;
  let records = 0;
  const consumer = new RingBufferConsumer(obj.map('events'), (_batch, _offsets, count) => {
    calls++;
    records += count;
    throw new Error('boom');
  }, { maxBatchesInFlight: 1, onError: (e) => errors.push(e) });
  consumer.start();
  try {
    // One batch in flight at most: a batch not released after its handler threw would stall the rest.
    // A run's records may come in two batches (the thread can wake between two of its commits).
    for (let i = 0; i < 3; i++) {
      obj.program('lbt_rb_produce').testRun({ data: PACKET });
      await until(() => records === 10 * (i + 1), `the records of run ${i}`);
    }
  } finally {
    consumer.stop();
    consumer.stop();
  }
  assert.ok(calls >= 3, `${calls} calls`);
  assert.equal(errors.length, calls);
  assert.equal(global64(obj, 'dropped'), 0);
});

test('records trickling in one by one are lingered for and arrive as one batch, not one call each', async (t) => {
  const LINGER = 200;
  const obj = producer(t, 'ringbuf', 1);
  const prog = obj.program('lbt_rb_produce');
  const calls: number[] = [];
  const consumer = new RingBufferConsumer(obj.map('events'), (_batch, _offsets, count) => {
    calls.push(count);
  }, { lingerMs: LINGER }).start();
  let spanMs: number;
  try {
    // 50 single records, each its own commit that finds the consumer caught up (a wakeup each without lingering).
    const first = performance.now();
    for (let i = 0; i < 50; i++) {
      prog.testRun({ data: PACKET });
      await sleep(1);
    }
    spanMs = performance.now() - first;
    await until(() => calls.reduce((a, b) => a + b, 0) === 50, '50 records');
  } finally {
    consumer.stop();
  }
  // Each batch but the last lingered LINGER ms past its first record, so the records' span bounds the batches
  // (usually 2: the thread's first pass takes the first record without lingering, a linger takes the rest);
  // on a loaded machine the 50 runs can span several intervals.
  const most = 2 + Math.floor(spanMs / LINGER);
  assert.ok(calls.length <= most, `${calls.length} calls for 50 records over ${spanMs.toFixed(0)} ms (at most ${most}): ${calls.join(', ')}`);
  assert.equal(global64(obj, 'dropped'), 0);
});

test('a producer\'s forced wakeup (a ring a quarter full) ends the linger at once', async (t) => {
  const obj = producer(t, 'ringbuf', 1, undefined, true);
  const prog = obj.program('lbt_rb_produce');
  // 1 MiB ring, 72 bytes per record with its header: a quarter is 3,641 records.
  const QUARTER = Math.ceil((1 << 20) / 4 / 72);
  let total = 0;
  let quarterAt = 0;
  const consumer = new RingBufferConsumer(obj.map('events'), (_batch, _offsets, count) => {
    total += count;
    if (total >= QUARTER && !quarterAt) quarterAt = performance.now();
  }, { lingerMs: 1000 }).start();
  try {
    // One record wakes the consumer, which then lingers a second (until first + 1000 ms at the earliest);
    // the burst must not wait for that. Measured from the first record, not from the burst: on a loaded
    // machine the burst itself can take hundreds of milliseconds.
    const first = performance.now();
    prog.testRun({ data: PACKET });
    await sleep(20);
    for (let i = 0; i < QUARTER + 100; i++) prog.testRun({ data: PACKET });
    const burstEnd = performance.now();
    await until(() => quarterAt > 0, `${QUARTER} records`);
    assert.ok(quarterAt - first < 1000, `a quarter of the ring drained ${(quarterAt - first).toFixed(0)} ms after the first record, `
      + `the burst having ended after ${(burstEnd - first).toFixed(0)} ms (linger: 1000 ms)`);
  } finally {
    consumer.stop();
  }
  assert.equal(global64(obj, 'dropped'), 0);
});

test('records committed before stop() are still handed over after it, while the thread lingered', async (t) => {
  const obj = producer(t, 'ringbuf', 10);
  let delivered = 0;
  const consumer = new RingBufferConsumer(obj.map('events'), (_batch, _offsets, count) => {
    delivered += count;
  }, { lingerMs: 1000 }).start();
  t.after(() => consumer.stop());
  // A first record wakes the thread, which then lingers a second for more: the ten after it wait in the ring.
  obj.program('lbt_rb_produce').testRun({ data: PACKET });
  await until(() => delivered === 10, 'the first run');
  obj.program('lbt_rb_produce').testRun({ data: PACKET });
  consumer.stop();
  assert.equal(delivered, 10, 'handed over through the event loop, after stop() returns');
  await until(() => delivered === 20, 'the records committed before stop()');
  assert.deepEqual([consumer.stats().records, consumer.stats().droppedAtStop], [20, 0]);
});

test('records that find every batch held by JavaScript at stop() are counted as droppedAtStop', async (t) => {
  const obj = producer(t, 'ringbuf', 10);
  let delivered = 0;
  // One batch in flight, never released: the handler's promise does not settle.
  const consumer = new RingBufferConsumer(obj.map('events'), (_batch, _offsets, count) => {
    delivered += count;
    return new Promise<void>(() => {});
  }, { maxBatchesInFlight: 1, lingerMs: 1000 }).start();
  t.after(() => consumer.stop());
  // The first batch may hold fewer than the run's ten records: a thread that starts while the program
  // writes takes what is committed so far. What follows it waits for a batch that never comes back.
  obj.program('lbt_rb_produce').testRun({ data: PACKET });
  await until(() => delivered > 0, 'the first batch');
  for (let i = 0; i < 3; i++) obj.program('lbt_rb_produce').testRun({ data: PACKET });
  consumer.stop();
  await sleep(50);
  const { records, droppedAtStop } = consumer.stats();
  assert.equal(records, delivered, 'records counts what JavaScript was handed');
  assert.equal(delivered + droppedAtStop, 40, `delivered ${delivered} + droppedAtStop ${droppedAtStop}: every record accounted for`);
  assert.ok(droppedAtStop >= 30, `the three runs after the first batch are dropped at stop (${droppedAtStop})`);
});

test('perf buffer: samples written before stop() are handed over after it, or counted as droppedAtStop', async (t) => {
  const obj = producer(t, 'perfbuf', 10);
  let delivered = 0;
  const consumer = new PerfBufferConsumer(obj.map('pevents'), (_batch, _offsets, count) => {
    delivered += count;
  }).start();
  t.after(() => consumer.stop());
  obj.program('lbt_pb_produce').testRun({ data: PACKET });
  consumer.stop();
  // A sample the thread was consuming as the stop came finds no batch taken for it: counted, not lost.
  await until(() => delivered + consumer.stats().droppedAtStop === 10, 'the samples written before stop(), delivered or counted');
  assert.deepEqual([consumer.stats().records, consumer.stats().lost], [delivered, 0]);
});

test('consumer misuse gives clear errors', (t) => {
  const obj = producer(t, 'ringbuf', 1);
  assert.throws(() => new RingBufferConsumer(obj.map('ringbuf.bss'), () => {}).start(), (e: unknown) =>
    e instanceof BpfError && /needs a BPF_MAP_TYPE_RINGBUF map; 'ringbuf.bss' is ARRAY/.test(e.message));
  assert.throws(() => new RingBufferConsumer(obj.map('events'), () => {}, { maxBatchesInFlight: 0 }), /maxBatchesInFlight/);
  assert.throws(() => new RingBufferConsumer(obj.map('events'), () => {}, { lingerMs: -1 }), /lingerMs must be an integer in 0\.\.1000, got -1/);
  const c = new RingBufferConsumer(obj.map('events'), () => {}).start();
  t.after(() => c.stop());
  assert.throws(() => c.start(), /already running/);
  c.stop();
  // Any batch size in range works, not only multiples of the ring's 8-byte granularity.
  new RingBufferConsumer(obj.map('events'), () => {}, { batchBytes: 5001 }).start().stop();
});

test('batch memory is resident only where records were written; only written bytes and offsets are handed over', async (t) => {
  // As in an agent: a CO-RE object's load reads the kernel's BTF (megabytes) and frees it, which would raise
  // glibc's mmap threshold above the batch size (the addon fixes it) and put zero-filled batches in the heap.
  const core = BpfObject.open(objectPath('hooks'));
  try {
    core.load();
  } finally {
    core.close();
  }
  const obj = producer(t, 'ringbuf', 10);
  const batches: { bytes: number; offsets: number[]; count: number }[] = [];
  const rssBefore = rssBytes();
  // 64 x 256 KiB of batches and 64 x 128 KiB of offsets: touched up front, RSS would grow by 24 MiB.
  const consumer = new RingBufferConsumer(obj.map('events'), (batch, offsets, count) => {
    batches.push({ bytes: batch.length, offsets: [...offsets], count });
  }, { maxBatchesInFlight: 64, batchBytes: 256 << 10, lingerMs: 0 }).start();
  try {
    const allocated = rssBytes() - rssBefore;
    assert.ok(allocated < 4 << 20, `RSS grew by ${allocated} bytes for untouched batches`);
    await obj.program('lbt_rb_produce').testRunAsync({ data: PACKET });
    await until(() => batches.reduce((a, b) => a + b.count, 0) === 10, '10 records');
    const used = rssBytes() - rssBefore;
    assert.ok(used < 4 << 20, `RSS grew by ${used} bytes after 10 records`);
  } finally {
    consumer.stop();
  }
  for (const b of batches) {
    assert.equal(b.offsets.length, b.count + 1, 'offsets: one per record and the end, nothing past it');
    assert.equal(b.offsets[b.count], b.bytes, 'the batch ends where the last record does');
    b.offsets.slice(1).forEach((o, i) => assert.equal(o - b.offsets[i]!, 64));
  }
});

test('unref() lets the process exit while a consumer runs; without it the consumer keeps it alive', async () => {
  const index = new URL('../index.js', import.meta.url).href;
  const script = (unref: boolean) => `import('${index}').then(({ BpfObject, RingBufferConsumer }) => {
    const o = BpfObject.open('${objectPath('ringbuf')}'); o.load();
    const c = new RingBufferConsumer(o.map('events'), () => {}).start(); ${unref ? 'c.unref();' : ''} console.log('started'); })`;
  // Whether the child still runs 1.5 s after its consumer started (its start-up, slow on a loaded machine, not counted).
  const exits = async (unref: boolean): Promise<boolean> => {
    const child = spawn(process.execPath, ['-e', script(unref)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), 1500);
    });
    const [code] = await exited;
    clearTimeout(timer);
    return code === 0;
  };
  assert.equal(await exits(true), true);
  assert.equal(await exits(false), false);
});

test('a consumer still running when its environment ends (Worker terminated, process exiting) shuts down cleanly under load', async (t) => {
  // The consumer thread must be joined, and its thread-safe function released, before Node frees
  // that function at environment teardown; otherwise the thread calls into freed memory.
  const obj = producer(t, 'ringbuf', 2000, 1 << 20);
  const dir = mkdtempSync(join(tmpdir(), 'lbt-bpffs-'));
  run('mount', ['-t', 'bpf', 'bpf', dir]);
  t.after(() => {
    run('umount', [dir]);
    rmdirSync(dir);
  });
  const pin = join(dir, 'events');
  obj.map('events').pin(pin);
  let producing = true;
  const prog = obj.program('lbt_rb_produce');
  const load = (async () => {
    while (producing) await prog.testRunAsync({ data: PACKET });
  })();
  const index = new URL('../index.js', import.meta.url).href;
  try {
    for (let i = 0; i < 10; i++) {
      const w = new Worker(`const { parentPort } = require('node:worker_threads');
        import('${index}').then(({ BpfMap, RingBufferConsumer }) => {
          let told = false;
          new RingBufferConsumer(BpfMap.fromPinned('${pin}'), () => { if (!told) parentPort.postMessage('batch'); told = true; },
            { batchBytes: 4096, maxBatchesInFlight: 2 }).start();
        });`, { eval: true });
      await once(w, 'message');
      await sleep(5);
      await w.terminate();
    }
    for (let i = 0; i < 5; i++) {
      const code = `import('${index}').then(({ BpfMap, RingBufferConsumer }) => {
        new RingBufferConsumer(BpfMap.fromPinned('${pin}'), () => {}, { batchBytes: 4096, maxBatchesInFlight: 2 }).start().unref();
        setTimeout(() => {}, 30); })`;
      const child = spawn(process.execPath, ['-e', code], { stdio: 'inherit' });
      const [status, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.deepEqual([status, signal], [0, null], `child ${i} exited cleanly`);
    }
  } finally {
    producing = false;
    await load;
  }
  assert.ok(global64(obj, 'produced') > 0);
});
