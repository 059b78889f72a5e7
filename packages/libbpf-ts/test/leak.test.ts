// Opening, loading and closing objects (and starting/stopping consumers) many
// times leaks neither file descriptors nor memory, and leaves nothing loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BpfObject, RingBufferConsumer } from '../src/index.js';
import { leftoverTestPrograms, objectPath, openFdCount, rssBytes } from './helpers.js';

function cycle(): void {
  const obj = BpfObject.open(objectPath('ringbuf'));
  obj.setGlobal('records_per_run', 2);
  obj.load();
  const link = obj.program('lbt_rb_produce').attachTc('lo', 'ingress');
  link.destroy();
  obj.program('lbt_rb_produce').testRun({ data: Buffer.alloc(64) });
  obj.close();
}

test('open/load/attach/close 200 times: fds and RSS stable, nothing left loaded', (t) => {
  for (let i = 0; i < 30; i++) cycle();
  globalThis.gc?.();
  const fds = openFdCount();
  const rss = rssBytes();
  for (let i = 0; i < 200; i++) cycle();
  globalThis.gc?.();
  const growth = rssBytes() - rss;
  t.diagnostic(`RSS growth over 200 cycles: ${(growth / 1024).toFixed(0)} KiB`);
  assert.equal(openFdCount(), fds);
  assert.ok(growth < 16 << 20, `RSS grew ${growth} bytes`);
  assert.deepEqual(leftoverTestPrograms(), []);
});

test('ring-buffer consumers start and stop 200 times without leaking threads or fds', () => {
  const obj = BpfObject.open(objectPath('ringbuf'));
  obj.load();
  try {
    const fds = openFdCount();
    for (let i = 0; i < 200; i++) {
      const c = new RingBufferConsumer(obj.map('events'), () => {}, { batchBytes: 64 << 10 }).start();
      c.stop();
    }
    const threads = Number(/Threads:\s+(\d+)/.exec(readStatus())![1]);
    assert.ok(threads < 32, `threads: ${threads}`);
    assert.ok(openFdCount() <= fds + 2, `fds ${openFdCount()} vs ${fds}`);
  } finally {
    obj.close();
  }
});

function readStatus(): string {
  return readFileSync('/proc/self/status', 'utf8');
}
