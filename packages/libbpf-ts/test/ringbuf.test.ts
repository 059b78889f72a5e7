// Ring-buffer and perf-buffer delivery, driven by BPF_PROG_TEST_RUN so that
// counts are exact: every produced record arrives once, in order, in batches;
// a slow consumer makes the BPF program count drops while memory stays flat.
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { BpfError, BpfObject, PerfBufferConsumer, RingBufferConsumer, type ConsumerStats } from '../src/index.js';
import { leftoverTestPrograms, objectPath, rssBytes, sleep } from './helpers.js';

const PACKET = Buffer.alloc(64);

/** Opens and loads a producer object that is closed when the test ends, pass or fail. */
function producer(t: TestContext, file: 'ringbuf' | 'perfbuf', recordsPerRun: number, ringBytes?: number): BpfObject {
  const obj = BpfObject.open(objectPath(file));
  t.after(() => obj.close());
  obj.setGlobal('records_per_run', recordsPerRun);
  if (ringBytes) obj.map('events').resize(ringBytes);
  obj.load();
  return obj;
}

function global64(obj: BpfObject, name: string): number {
  return Number(obj.getGlobal(name).readBigUInt64LE());
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
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
    // Let the consumer drain what the ring still holds.
    let last = -1;
    while (received !== last) {
      last = received;
      await sleep(200);
    }
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

test('handler errors go to onError and release the batch', async (t) => {
  const obj = producer(t, 'ringbuf', 10, 64 << 10);
  const errors: unknown[] = [];
  let calls = 0;
  const consumer = new RingBufferConsumer(obj.map('events'), () => {
    calls++;
    throw new Error('boom');
  }, { maxBatchesInFlight: 1, onError: (e) => errors.push(e) });
  consumer.start();
  try {
    for (let i = 0; i < 3; i++) {
      obj.program('lbt_rb_produce').testRun({ data: PACKET });
      await until(() => calls === i + 1, `call ${i}`);
    }
  } finally {
    consumer.stop();
    consumer.stop();
  }
  assert.equal(errors.length, 3);
  assert.equal(global64(obj, 'dropped'), 0);
});

test('consumer misuse gives clear errors', (t) => {
  const obj = producer(t, 'ringbuf', 1);
  assert.throws(() => new RingBufferConsumer(obj.map('ringbuf.bss'), () => {}).start(), (e: unknown) =>
    e instanceof BpfError && /needs a BPF_MAP_TYPE_RINGBUF map; 'ringbuf.bss' is ARRAY/.test(e.message));
  assert.throws(() => new RingBufferConsumer(obj.map('events'), () => {}, { maxBatchesInFlight: 0 }), /maxBatchesInFlight/);
  const c = new RingBufferConsumer(obj.map('events'), () => {}).start();
  assert.throws(() => c.start(), /already running/);
  c.stop();
});

test('unref() lets the process exit while a consumer runs; without it the consumer keeps it alive', async () => {
  const index = new URL('../index.js', import.meta.url).href;
  const script = (unref: boolean) => `import('${index}').then(({ BpfObject, RingBufferConsumer }) => {
    const o = BpfObject.open('${objectPath('ringbuf')}'); o.load();
    const c = new RingBufferConsumer(o.map('events'), () => {}).start(); ${unref ? 'c.unref();' : ''} })`;
  const exits = async (unref: boolean): Promise<boolean> => {
    const child = spawn(process.execPath, ['-e', script(unref)], { stdio: 'inherit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 1500);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    return code === 0;
  };
  assert.equal(await exits(true), true);
  assert.equal(await exits(false), false);
});
