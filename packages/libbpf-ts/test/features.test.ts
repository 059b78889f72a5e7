// Feature probes report what this kernel (Linux 6.18 here, see ../shared/KERNEL.md) accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { features } from '../src/index.js';
import { leftoverTestPrograms } from './helpers.js';

test('program, map and helper probes', () => {
  assert.equal(features.mapType('RINGBUF').supported, true);
  assert.equal(features.mapType('PERF_EVENT_ARRAY').supported, true);
  assert.equal(features.progType('SCHED_CLS').supported, true);
  assert.equal(features.progType('CGROUP_SKB').supported, true);
  assert.equal(features.helper('SCHED_CLS', 'ringbuf_reserve').supported, true);
  assert.equal(features.helper('TRACEPOINT', 'skb_load_bytes').supported, false, 'tracepoints have no packet');
});

test('attach probes find the hooks that work here and why the others do not', () => {
  const r = features.summary();
  for (const hook of ['tracepoint', 'raw_tracepoint', 'tp_btf', 'uprobe', 'tcx']) {
    assert.equal(r[hook]!.supported, true, `${hook}: ${r[hook]!.reason}`);
  }
  // The kprobe PMU is the independent witness (absent on the development VMs).
  const hasKprobes = existsSync('/sys/bus/event_source/devices/kprobe');
  assert.equal(r.kprobe!.supported, hasKprobes, r.kprobe!.reason);
  if (!hasKprobes) assert.equal(r.kprobe!.code, 'ENOENT');
  // Trampolines are refused at load on the development VMs (../shared/KERNEL.md).
  assert.equal(r.fentry!.supported, false);
  assert.match(r.fentry!.reason, /refused to load/);
  assert.deepEqual(leftoverTestPrograms(), [], 'probe programs are unloaded');
});
