// Map operations against real kernel maps: CRUD with size checks, key
// iteration, batch lookup-and-delete (and its fallback), per-CPU values, pinning.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfMap, BpfObject, MapError, possibleCpus, type BatchResult } from '../src/index.js';
import { native } from '../src/native.js';
import { leftoverTestPrograms, objectPath, openFdCount, run } from './helpers.js';

let obj: BpfObject;

before(() => {
  obj = BpfObject.open(objectPath('maps'));
  obj.load();
});

after(() => {
  obj?.close();
  assert.deepEqual(leftoverTestPrograms(), []);
});

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };

/** A batch result of the u32 -> u64 `hash` map as key -> value; fails on a key seen twice. */
function hashEntries(r: BatchResult): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (let i = 0; i < r.count; i++) {
    const k = r.keys.readUInt32LE(i * 4);
    assert.ok(!out.has(k), `key ${k} twice`);
    out.set(k, r.values.readBigUInt64LE(i * 8));
  }
  return out;
}

/** Some (1..max) entries of a map holding keys 0..n-1 with value f(key): each once, with its own value. */
function assertSomeOf(r: BatchResult, max: number, n: number, f: (k: number) => number): void {
  assert.ok(r.count > 0 && r.count <= max, `${r.count} entries for max ${max}`);
  for (const [k, v] of hashEntries(r)) {
    assert.ok(k < n, `key ${k} was never written`);
    assert.equal(v, BigInt(f(k)), `value of key ${k}`);
  }
}

test('hash map: update, lookup, delete, update flags', () => {
  const m = obj.map('hash');
  assert.equal(m.typeName, 'HASH');
  assert.deepEqual([m.keySize, m.valueSize, m.maxEntries], [4, 8, 4096]);
  m.update(u32(1), u64(100));
  assert.equal(m.lookup(u32(1))!.readBigUInt64LE(), 100n);
  assert.equal(m.lookup(u32(2)), undefined);
  assert.throws(() => m.update(u32(1), u64(5), 'noexist'), (e: unknown) => e instanceof MapError && e.code === 'EEXIST' && e.op === 'update');
  assert.throws(() => m.update(u32(2), u64(5), 'exist'), (e: unknown) => e instanceof MapError && e.code === 'ENOENT');
  assert.equal(m.delete(u32(1)), true);
  assert.equal(m.delete(u32(1)), false);
});

test('wrong key and value sizes are refused before the syscall with a clear message', () => {
  const m = obj.map('hash');
  assert.throws(() => m.lookup(Buffer.alloc(3)), /map hash: lookup failed: key must be a Buffer of 4 bytes, got 3 bytes/);
  assert.throws(() => m.update(u32(1), Buffer.alloc(4)), /value must be a Buffer of 8 bytes, got 4 bytes/);
});

test('keys() iterates every key once', () => {
  const m = obj.map('hash');
  for (let i = 0; i < 100; i++) m.update(u32(i), u64(i * 2));
  const keys = [...m.keys()].map((k) => k.readUInt32LE()).sort((a, b) => a - b);
  assert.deepEqual(keys, Array.from({ length: 100 }, (_, i) => i));
  const entries = [...m.entries()];
  assert.ok(entries.every(([k, v]) => v.readBigUInt64LE() === BigInt(k.readUInt32LE() * 2)));
});

test('keys() and entries() visit every key once while the caller deletes some of them', () => {
  const m = obj.map('hash');
  for (let i = 0; i < 1000; i++) m.update(u32(i), u64(i));
  const seen: number[] = [];
  for (const [k] of m.entries()) {
    seen.push(k.readUInt32LE());
    if (k.readUInt32LE() % 2 === 0) m.delete(k);
  }
  assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  const kept = [...m.keys()].map((k) => k.readUInt32LE()).sort((a, b) => a - b);
  assert.deepEqual(kept, Array.from({ length: 500 }, (_, i) => 2 * i + 1));
  for (const k of m.keys()) m.delete(k);
  assert.deepEqual([...m.keys()], []);
});

test('lookupAndDeleteBatch drains a hash map through BPF_MAP_LOOKUP_AND_DELETE_BATCH', () => {
  const m = obj.map('hash');
  for (let i = 0; i < 3000; i++) m.update(u32(i), u64(i + 7));
  const r = m.lookupAndDeleteBatch();
  assert.equal(r.path, 'batch');
  assert.equal(r.count, 3000);
  const seen = new Set<number>();
  for (let i = 0; i < r.count; i++) {
    const k = r.keys.readUInt32LE(i * 4);
    assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(k + 7));
    seen.add(k);
  }
  assert.equal(seen.size, 3000);
  assert.deepEqual([...m.keys()], []);
});

test('lookupBatch reads every entry in one pass (BPF_MAP_LOOKUP_BATCH) and leaves them; lookupBatch(max) at most max', () => {
  const m = obj.map('hash');
  for (let i = 0; i < 3000; i++) m.update(u32(i), u64(i + 3));
  const r = m.lookupBatch();
  assert.equal(r.path, 'batch');
  assert.equal(r.count, 3000);
  const seen = new Set<number>();
  for (let i = 0; i < r.count; i++) {
    const k = r.keys.readUInt32LE(i * 4);
    assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(k + 3));
    seen.add(k);
  }
  assert.equal(seen.size, 3000);
  assert.equal([...m.keys()].length, 3000, 'nothing deleted');
  assertSomeOf(m.lookupBatch(16), 16, 3000, (k) => k + 3);
  m.lookupAndDeleteBatch();
  assert.equal(m.lookupBatch().count, 0);
});

test('lookupBatch with batchBuffers() writes into them, call after call; too small buffers are refused', () => {
  const m = obj.map('hash');
  const into = m.batchBuffers();
  for (let i = 0; i < 100; i++) m.update(u32(i), u64(i * 2));
  const first = m.lookupBatch(undefined, into);
  assert.equal(first.count, 100);
  assert.equal(first.keys.buffer, into.keys.buffer);
  assert.equal(first.values.buffer, into.values.buffer);
  for (let i = 0; i < 100; i++) m.update(u32(i), u64(i * 5));
  const second = m.lookupBatch(undefined, into);
  assert.equal(second.count, 100);
  for (let i = 0; i < second.count; i++) assert.equal(second.values.readBigUInt64LE(i * 8), BigInt(second.keys.readUInt32LE(i * 4) * 5));
  assert.throws(() => m.lookupBatch(undefined, m.batchBuffers(10)), /fewer than \d+ entries; make them with batchBuffers/);
  assertSomeOf(m.lookupBatch(10, m.batchBuffers(10)), 10, 100, (k) => k * 5);
  m.lookupAndDeleteBatch();
});

test('lookupAndDeleteBatch with batchBuffers() drains into them, call after call', () => {
  const m = obj.map('hash');
  const into = m.batchBuffers(64);
  for (let round = 1; round <= 2; round++) {
    for (let i = 0; i < 100; i++) m.update(u32(i), u64(i * round));
    const seen = new Set<number>();
    for (let r = m.lookupAndDeleteBatch(64, into); r.count > 0; r = m.lookupAndDeleteBatch(64, into)) {
      assert.equal(r.keys.buffer, into.keys.buffer);
      assert.equal(r.values.buffer, into.values.buffer);
      for (let i = 0; i < r.count; i++) {
        const k = r.keys.readUInt32LE(i * 4);
        assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(k * round));
        seen.add(k);
      }
    }
    assert.equal(seen.size, 100);
    assert.deepEqual([...m.keys()], []);
  }
  assert.throws(() => m.lookupAndDeleteBatch(65, into), /fewer than 65 entries; make them with batchBuffers/);
});

test('lookupAndDelete returns the value the key held and deletes it; undefined when absent', () => {
  const m = obj.map('hash');
  m.update(u32(5), u64(55));
  assert.equal(m.lookupAndDelete(u32(5))?.readBigUInt64LE(), 55n);
  assert.equal(m.lookup(u32(5)), undefined);
  assert.equal(m.lookupAndDelete(u32(5)), undefined);
  assert.throws(() => m.lookupAndDelete(Buffer.alloc(3)), /lookupAndDelete failed: key must be a Buffer of 4 bytes/);
});

test('lookupAndDeleteBatch(max) takes at most max entries and leaves the rest', () => {
  const m = obj.map('hash');
  for (let i = 0; i < 100; i++) m.update(u32(i), u64(i));
  let total = 0;
  for (let round = 0; round < 100 && total < 100; round++) {
    const r = m.lookupAndDeleteBatch(16);
    assert.ok(r.count <= 16, `round ${round}: ${r.count}`);
    total += r.count;
  }
  assert.equal(total, 100);
  assert.deepEqual([...m.keys()], []);
});

test('lookupAndDeleteBatch falls back to iterate+lookup+delete for map types without batch ops', () => {
  const m = obj.map('lpm');
  assert.equal(m.typeName, 'LPM_TRIE');
  const key = (len: number, a: number, b: number) => { const k = Buffer.alloc(8); k.writeUInt32LE(len); k.writeUInt8(10, 4); k.writeUInt8(a, 5); k.writeUInt8(b, 6); return k; };
  m.update(key(16, 231, 0), u32(1));
  m.update(key(24, 231, 5), u32(2));
  const r = m.lookupAndDeleteBatch(10);
  assert.equal(r.path, 'iterate');
  assert.equal(r.count, 2);
  assert.deepEqual([...m.keys()], []);
  // A longer walk: 200 prefixes, taken 64 at a time, each exactly once with its value.
  for (let i = 0; i < 200; i++) m.update(key(24, 100 + (i >> 8), i & 0xff), u32(i));
  const got = new Map<number, number>();
  for (let round = 0; round < 10 && got.size < 200; round++) {
    const part = m.lookupAndDeleteBatch(64);
    assert.ok(part.count <= 64);
    for (let i = 0; i < part.count; i++) got.set(part.keys.readUInt16BE(i * 8 + 5), part.values.readUInt32LE(i * 4));
  }
  assert.equal(got.size, 200);
  assert.ok([...got].every(([k, v]) => k - (100 << 8) === v), 'each value came with its key');
  assert.deepEqual([...m.keys()], []);
});

test('lookupBatch falls back to keys() + lookup() for map types without batch ops, and leaves the entries', () => {
  const m = obj.map('lpm');
  const key = (i: number) => { const k = Buffer.alloc(8); k.writeUInt32LE(24); k.writeUInt8(10, 4); k.writeUInt16BE(i, 5); return k; };
  for (let i = 0; i < 50; i++) m.update(key(i), u32(i * 3));
  const values = (r: BatchResult) => {
    assert.equal(r.path, 'iterate');
    const out = new Map<number, number>();
    for (let i = 0; i < r.count; i++) out.set(r.keys.readUInt16BE(i * 8 + 5), r.values.readUInt32LE(i * 4));
    assert.equal(out.size, r.count, 'each key once');
    for (const [k, v] of out) assert.equal(v, k * 3, `value of key ${k}`);
    return out;
  };
  const all = values(m.lookupBatch());
  assert.deepEqual([...all.keys()].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  const some = values(m.lookupBatch(20));
  assert.equal(some.size, 20);
  assert.ok([...some.keys()].every((k) => k < 50));
  assert.equal([...m.keys()].length, 50, 'nothing deleted');
  m.lookupAndDeleteBatch();
});

test('lookupAndDeleteBatch with a max smaller than a hash bucket still drains every key exactly once', () => {
  // With 1000 keys in 1024 buckets many buckets hold several keys; the batch op refuses (ENOSPC)
  // to split a bucket, so a max of 1 must fall back to taking entries one by one.
  const m = obj.map('hash');
  for (let i = 0; i < 1000; i++) m.update(u32(i), u64(i + 3));
  const seen: number[] = [];
  for (let round = 0; round < 2000 && seen.length < 1000; round++) {
    const r = m.lookupAndDeleteBatch(1);
    assert.ok(r.count <= 1);
    for (let i = 0; i < r.count; i++) {
      assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(r.keys.readUInt32LE(i * 4) + 3));
      seen.push(r.keys.readUInt32LE(i * 4));
    }
  }
  assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual([...m.keys()], []);
  assert.throws(() => m.lookupAndDeleteBatch(0), (e: unknown) => e instanceof MapError && e.code === 'EINVAL' && /max must be/.test(e.message));
});

test('lookupAndDeleteBatch while a BPF program keeps inserting: no key is skipped or seen twice', async () => {
  const m = obj.map('fill');
  const writer = obj.program('lbt_hash_fill');
  const seen = new Map<number, number>();
  const take = (max?: number): void => {
    const r = m.lookupAndDeleteBatch(max);
    for (let i = 0; i < r.count; i++) {
      const k = r.keys.readUInt32LE(i * 4);
      assert.equal(r.values.readBigUInt64LE(i * 8), BigInt(k), `value of key ${k}`);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
  };
  // The writer runs on a libuv thread (testRunAsync) while this thread drains: real concurrency.
  let running = true;
  const writes = (async () => {
    for (let i = 0; i < 40; i++) await writer.testRunAsync({ data: Buffer.alloc(64), repeat: 50 });
    running = false;
  })();
  let rounds = 0;
  while (running) {
    take(rounds++ % 2 ? 100 : undefined);
    await new Promise((r) => setImmediate(r));
  }
  await writes;
  take();
  const inserted = Number(obj.getGlobal('fill_inserted').readBigUInt64LE());
  assert.ok(inserted > 1024, `the writer inserted ${inserted} keys, more than the map holds at once`);
  assert.equal(seen.size, inserted, 'every inserted key was drained');
  assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'no key drained twice');
  assert.deepEqual([...m.keys()], []);
});

test('per-CPU array: a program bumps the counter, JS sums possibleCpus() slots', (t) => {
  const m = obj.map('percpu');
  assert.equal(m.isPerCpu, true);
  assert.equal(m.valueBufferSize, possibleCpus() * 8);
  m.update(u32(0), Buffer.alloc(m.valueBufferSize));
  const r = obj.program('lbt_percpu_inc').testRun({ data: Buffer.alloc(64), repeat: 1000 });
  t.diagnostic(`lbt_percpu_inc: ${r.durationNs} ns per run`);
  const per = m.perCpuValues(m.lookup(u32(0))!).map((b) => b.readBigUInt64LE());
  assert.equal(per.length, possibleCpus());
  assert.equal(per.reduce((a, b) => a + b, 0n), 1000n);
});

test('per-CPU hash: values are padded to 8 bytes per CPU', () => {
  const m = obj.map('percpu_hash');
  assert.equal(m.valueSize, 4);
  assert.equal(m.valueBufferSize, possibleCpus() * 8);
  const v = Buffer.alloc(m.valueBufferSize);
  for (let cpu = 0; cpu < possibleCpus(); cpu++) v.writeUInt32LE(cpu + 40, cpu * 8);
  m.update(u32(9), v);
  assert.deepEqual(m.perCpuValues(m.lookup(u32(9))!).map((b) => b.readUInt32LE()), Array.from({ length: possibleCpus() }, (_, c) => c + 40));
  assert.throws(() => m.update(u32(9), Buffer.alloc(4)), /possible CPUs/);
  const r = m.lookupAndDeleteBatch();
  assert.equal(r.path, 'batch');
  assert.equal(r.values.length, m.valueBufferSize);
});

test('pin, reopen from the pin, unpin (on a private bpffs instance)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbt-bpffs-'));
  run('mount', ['-t', 'bpf', 'bpf', dir]);
  try {
    const m = obj.map('hash');
    m.update(u32(42), u64(4242));
    const path = join(dir, 'hash');
    m.pin(path);
    const again = BpfMap.fromPinned(path);
    try {
      assert.equal(again.typeName, 'HASH');
      assert.equal(again.lookup(u32(42))!.readBigUInt64LE(), 4242n);
    } finally {
      again.close();
    }
    m.unpin();
    assert.equal(existsSync(path), false);
    // A pinned program is not a map: refused (BPF_OBJ_GET_INFO_BY_FD would describe it as one), fd closed.
    const progPath = join(dir, 'prog');
    native().objPin(obj.program('lbt_percpu_inc').fd, progPath);
    const fds = openFdCount();
    assert.throws(() => BpfMap.fromPinned(progPath), (e: unknown) => e instanceof MapError && e.code === 'EINVAL' && /not a BPF map/.test(e.message));
    assert.equal(openFdCount(), fds);
    assert.throws(() => BpfMap.fromPinned(path), (e: unknown) => e instanceof MapError && e.code === 'ENOENT');
  } finally {
    run('umount', [dir]);
    rmdirSync(dir);
  }
});

test('resize before load; after load it is refused', () => {
  const o = BpfObject.open(objectPath('maps'));
  try {
    o.map('hash').resize(128);
    assert.throws(() => o.map('hash').resize(0), /max entries must be an integer/);
    o.program('lbt_percpu_inc').setAutoload(false);
    o.load();
    assert.equal(BpfMap.fromFd(o.map('hash').fd).maxEntries, 128);
    assert.throws(() => o.map('hash').resize(256), /already loaded/);
  } finally {
    o.close();
  }
});

test('reuse(): a second object shares the first one\'s map; a map of another shape is refused before load', () => {
  const first = BpfObject.open(objectPath('maps'));
  const second = BpfObject.open(objectPath('maps'));
  try {
    first.load();
    assert.throws(() => second.map('percpu').reuse(first.map('hash')), (e: unknown) =>
      e instanceof MapError && /'hash' \(HASH, key 4, value 8, 4096 entries\) does not match \(PERCPU_ARRAY/.test(e.message));
    second.map('hash').reuse(first.map('hash'));
    second.load();
    const key = Buffer.alloc(4);
    key.writeUInt32LE(7);
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(42n);
    first.map('hash').update(key, value);
    assert.equal(second.map('hash').lookup(key)?.readBigUInt64LE(), 42n);
    assert.throws(() => second.map('hash').reuse(first.map('hash')), /reuse map hash/);
  } finally {
    second.close();
    first.close();
  }
});
