// Object lifecycle: open from a file or a Buffer, globals and autoload before
// load, typed load errors with libbpf's message and the verifier log.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { BpfError, BpfObject, LoadError, setLogger, type LogLevel } from '../src/index.js';
import { leftoverTestPrograms, objectPath } from './helpers.js';

after(() => {
  assert.deepEqual(leftoverTestPrograms(), []);
});

test('open from a path lists programs (section, type) and maps', () => {
  const obj = BpfObject.open(objectPath('hooks'));
  try {
    assert.equal(obj.name, 'hooks');
    const tc = obj.program('lbt_tc_ingress');
    assert.equal(tc.section, 'tc');
    assert.equal(tc.typeName, 'SCHED_CLS');
    assert.equal(obj.program('lbt_connect4').section, 'cgroup/connect4');
    assert.deepEqual(obj.maps.map((m) => m.name).sort(), ['counts', 'hooks.rodata']);
    assert.throws(() => obj.program('nope'), /has no program 'nope'; it has: .*lbt_tracepoint/);
  } finally {
    obj.close();
  }
});

test('open from a Buffer, load, and run a program', () => {
  const obj = BpfObject.open(readFileSync(objectPath('maps')), { name: 'frombuf' });
  try {
    obj.load();
    assert.equal(obj.loaded, true);
    const data = Buffer.alloc(64, 0xab);
    const r = obj.program('lbt_percpu_inc').testRun({ data, repeat: 10 });
    assert.equal(r.retval, 0);
    assert.deepEqual(r.dataOut, data, 'the program leaves the packet as it was');
    assert.ok(r.durationNs > 0);
  } finally {
    obj.close();
  }
});

test('a run interrupted by a signal (EINTR: a child exited, a timer signal) is run again, not thrown', async () => {
  const obj = BpfObject.open(objectPath('maps'));
  // A signal with a handler interrupts the syscall (an ignored one would not); SIGUSR1 and SIGUSR2 are Node's inspector and diagnostic-report signals.
  const ignore = () => {};
  process.on('SIGWINCH', ignore);
  // The signaller says when it runs, so its signals (100-200 ms later) cannot come before the run starts however slow the spawn.
  const signaller = spawn('sh', ['-c', `echo ready; sleep 0.1; for i in 1 2 3; do kill -WINCH ${process.pid}; sleep 0.05; done`], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    obj.load();
    const prog = obj.program('lbt_percpu_inc');
    const data = Buffer.alloc(64);
    // Sized on this machine to take about a second, so the signals arrive while the kernel runs it.
    const t = Date.now();
    prog.testRun({ data, repeat: 2_000_000 });
    const repeat = Math.min(2_000_000 * Math.ceil(1000 / Math.max(Date.now() - t, 1)), 4_000_000_000);
    await once(signaller.stdout!, 'data');
    const started = Date.now();
    const r = prog.testRun({ data, repeat });
    const tookMs = Date.now() - started;
    assert.equal(r.retval, 0);
    assert.ok(tookMs > 300, `the run of ${repeat} repeats took ${tookMs} ms: the signals came after it`);
  } finally {
    signaller.kill();
    process.off('SIGWINCH', ignore);
    obj.close();
  }
});

test('btfCustomPath: CO-RE relocations against a given kernel BTF file', () => {
  const obj = BpfObject.open(objectPath('hooks'), { btfCustomPath: '/sys/kernel/btf/vmlinux' });
  try {
    obj.program('lbt_kprobe').setAutoload(false);
    obj.load();
  } finally {
    obj.close();
  }
  const bad = BpfObject.open(objectPath('hooks'), { btfCustomPath: '/nonexistent/vmlinux.btf' });
  try {
    assert.throws(() => bad.load(), (e: unknown) => e instanceof LoadError && /vmlinux\.btf|BTF/.test(e.libbpfMessage));
  } finally {
    bad.close();
  }
});

test('a Buffer that is not an ELF object gives LoadError', () => {
  assert.throws(() => BpfObject.open(Buffer.from('not an elf file')), (e: unknown) => e instanceof LoadError && e.errno > 0 && /cannot open BPF object a 15-byte buffer/.test(e.message));
  assert.throws(() => BpfObject.open('/nonexistent/x.bpf.o'), (e: unknown) => e instanceof LoadError && e.code === 'ENOENT');
});

test('setGlobal writes .rodata constants with the BTF size, checking size and range', () => {
  const obj = BpfObject.open(objectPath('ringbuf'));
  try {
    assert.equal(obj.getGlobal('records_per_run').readUInt32LE(), 1);
    obj.setGlobal('records_per_run', 3);
    assert.equal(obj.getGlobal('records_per_run').readUInt32LE(), 3);
    assert.throws(() => obj.setGlobal('records_per_run', 2 ** 32), (e: unknown) => e instanceof BpfError && e.code === 'ERANGE');
    assert.throws(() => obj.setGlobal('records_per_run', Buffer.alloc(2)), /is 4 bytes \(in \.rodata\), got a 2-byte value/);
    assert.throws(() => obj.setGlobal('records_per_run', 1.5), /not an integer/);
    assert.throws(() => obj.setGlobal('no_such_var', 1), /has no global variable 'no_such_var'/);
    obj.setGlobal('produced', 10n);
    obj.program('lbt_rb_produce').setAutoload(true);
    obj.load();
    obj.program('lbt_rb_produce').testRun({ data: Buffer.alloc(64) });
    assert.equal(obj.getGlobal('produced').readBigUInt64LE(), 13n, '.bss started at 10, three records per run');
    assert.throws(() => obj.setGlobal('records_per_run', 1), /already loaded/);
  } finally {
    obj.close();
  }
});

test('a verifier rejection throws LoadError with the program and the verifier log', () => {
  const obj = BpfObject.open(objectPath('rejected'));
  try {
    obj.program('lbt_fentry').setAutoload(false);
    assert.throws(() => obj.load(), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.equal(e.program, 'lbt_bad_access');
      assert.equal(e.code, 'EACCES');
      assert.match(e.verifierLog, /invalid bpf_context access/);
      assert.match(e.libbpfMessage, /lbt_bad_access/);
      assert.match(e.message, /program lbt_bad_access was rejected/);
      return true;
    });
  } finally {
    obj.close();
  }
});

test('an fentry program fails to load with a typed error on this kernel', () => {
  const obj = BpfObject.open(objectPath('rejected'));
  try {
    obj.program('lbt_bad_access').setAutoload(false);
    assert.throws(() => obj.load(), (e: unknown) => e instanceof LoadError && e.program === 'lbt_fentry' && e.errno > 0);
  } finally {
    obj.close();
  }
});

test('libbpf output goes to the logger set from JS', () => {
  const seen: [LogLevel, string][] = [];
  setLogger((level, message) => seen.push([level, message]));
  const obj = BpfObject.open(objectPath('maps'));
  try {
    obj.load();
  } finally {
    obj.close();
    setLogger(null);
  }
  assert.ok(seen.some(([level, m]) => level === 'debug' && m.includes('maps')), 'libbpf debug lines reached JS');
});

test('use after close is a BpfError; close is idempotent', () => {
  const obj = BpfObject.open(objectPath('maps'));
  obj.close();
  obj.close();
  assert.throws(() => obj.load(), (e: unknown) => e instanceof BpfError && e.code === 'EBADF');
  assert.throws(() => obj.program('lbt_percpu_inc').fd, /is closed/);
});

test('loadAsync: unusable until it settles, then the object works as after load()', async () => {
  const obj = BpfObject.open(objectPath('maps'));
  try {
    const loading = obj.loadAsync();
    assert.throws(() => obj.program('lbt_percpu_inc').fd, (e: unknown) => e instanceof BpfError && e.code === 'EBUSY', 'not usable while it loads');
    assert.equal(obj.loaded, false);
    await loading;
    assert.equal(obj.loaded, true);
    assert.equal(obj.program('lbt_percpu_inc').testRun({ data: Buffer.alloc(64) }).retval, 0);
    await assert.rejects(obj.loadAsync(), /already loaded/);
  } finally {
    obj.close();
  }
});

test('loadAsync rejects a verifier rejection with the LoadError load() throws', async () => {
  const obj = BpfObject.open(objectPath('rejected'));
  try {
    obj.program('lbt_fentry').setAutoload(false);
    await assert.rejects(obj.loadAsync(), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.equal(e.program, 'lbt_bad_access');
      assert.equal(e.code, 'EACCES');
      assert.match(e.verifierLog, /invalid bpf_context access/);
      return true;
    });
  } finally {
    obj.close();
  }
});

test('close() during loadAsync: the load settles with an error and the programs are freed once it ends', async () => {
  const obj = BpfObject.open(objectPath('maps'));
  const loading = obj.loadAsync();
  obj.close();
  await assert.rejects(loading, /closed while it loaded/);
  // The object is freed after the load returned (a microtask later): its programs are gone (the file's after() checks).
  await new Promise((resolve) => setImmediate(resolve));
});
