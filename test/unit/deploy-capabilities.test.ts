// src/capabilities.ts: the data is complete and consistent, and on this real
// kernel (root) the capabilities it states for a hook are both needed and
// enough for that hook's kernel operation: each operation runs once with
// only the stated capabilities in the bounding set, and once with them (and
// CAP_SYS_ADMIN, which still implies them) removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AGENT_HOOK_KINDS, HOOK_KINDS, HOOK_REQUIREMENTS, LINUX_CAPABILITIES, PROBE_HOOK_KINDS,
  capabilitiesFor, conditionalNeeds, hookKindsFor, hostPathsFor, kubernetesCapabilityName,
  type HookKind, type LinuxCapability,
} from '../../src/capabilities.js';
import { PROBE_NAMES } from '../../src/probes/types.js';

test('every hook kind has a requirement with a reason; conditional needs name their situation', () => {
  assert.deepEqual(Object.keys(HOOK_REQUIREMENTS).sort(), [...HOOK_KINDS].sort());
  for (const kind of HOOK_KINDS) {
    const req = HOOK_REQUIREMENTS[kind];
    assert.ok(req.why.length > 20, `${kind}: no reason given`);
    for (const cap of req.capabilities) assert.ok(LINUX_CAPABILITIES.includes(cap), `${kind}: ${cap}`);
    for (const need of req.conditional) {
      assert.ok(need.capabilities.length > 0 && need.when.length > 10, `${kind}: empty conditional need`);
    }
  }
});

test('CAP_SYS_ADMIN is never needed unconditionally on kernels >= 5.8', () => {
  for (const kind of HOOK_KINDS) assert.ok(!HOOK_REQUIREMENTS[kind].capabilities.includes('CAP_SYS_ADMIN'), kind);
  assert.ok(!capabilitiesFor(HOOK_KINDS).includes('CAP_SYS_ADMIN'));
  assert.ok(conditionalNeeds(HOOK_KINDS).some((n) => n.capabilities.includes('CAP_SYS_ADMIN')), 'the mount cases are stated');
});

test('every probe has hook kinds, and the agent-wide kinds are always included', () => {
  assert.deepEqual(Object.keys(PROBE_HOOK_KINDS).sort(), [...PROBE_NAMES].sort());
  for (const probe of PROBE_NAMES) assert.ok(PROBE_HOOK_KINDS[probe].length > 0, probe);
  for (const kind of AGENT_HOOK_KINDS) assert.ok(hookKindsFor([]).includes(kind), kind);
  assert.deepEqual(hookKindsFor(['drops']), ['tracepoint', 'tp_btf', 'ringbuf_maps']);
});

test('capabilitiesFor: current kernels, kernels before 5.11 and before 5.8', () => {
  const all = hookKindsFor();
  assert.deepEqual(capabilitiesFor(all), ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_NET_RAW']);
  assert.deepEqual(capabilitiesFor(all, { major: 6, minor: 18 }), capabilitiesFor(all));
  assert.deepEqual(capabilitiesFor(all, { major: 5, minor: 10 }), ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_RESOURCE']);
  assert.deepEqual(capabilitiesFor(all, { major: 5, minor: 4 }), ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE']);
  assert.deepEqual(capabilitiesFor(['tracepoint', 'ringbuf_maps']), ['CAP_BPF', 'CAP_PERFMON']);
  assert.deepEqual(capabilitiesFor(['proc_read', 'bpffs_pin'], { major: 4, minor: 19 }), []);
  assert.equal(kubernetesCapabilityName('CAP_NET_ADMIN'), 'NET_ADMIN');
  assert.deepEqual(hostPathsFor(all), ['/sys/fs/cgroup', '/sys/kernel/btf', '/sys/kernel/tracing']);
});

test('README.md states the same capabilities, conditions and node paths per hook kind, and no other hook kind', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('### Capabilities per hook kind');
  assert.ok(start >= 0, 'README.md has a "Capabilities per hook kind" section');
  const doc = readme.slice(start, readme.indexOf('\n#', start + 1));
  const rows = [...doc.matchAll(/^\| ([a-z_]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)];
  assert.deepEqual(rows.map((r) => r[1]), [...HOOK_KINDS], 'the table\'s rows are the hook kinds of src/capabilities.ts, in its order');
  const unescape = (cell: string) => cell.trim().replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  for (const [, kind, capabilities, onlyWhen, paths] of rows) {
    const stated = HOOK_REQUIREMENTS[kind as HookKind];
    assert.equal(capabilities.trim(), stated.capabilities.length ? stated.capabilities.join(', ') : 'none', `${kind}: capabilities`);
    const conditions = stated.conditional.map((c) => `${c.capabilities.join(', ')} when ${c.when}`).join('; ');
    assert.equal(unescape(onlyWhen), conditions || '-', `${kind}: only when`);
    assert.equal(paths.trim(), stated.paths.join(', ') || '-', `${kind}: node paths`);
  }
});

// --- the statements checked on the real kernel ---------------------------------

const setprivName = (cap: LinuxCapability) => cap.slice('CAP_'.length).toLowerCase();

/** Runs argv with a bounding set of exactly `keep` (root: effective = bounding). */
function withOnly(keep: readonly LinuxCapability[], argv: string[]) {
  return spawnSync('setpriv', [`--bounding-set=-all${keep.map((c) => `,+${setprivName(c)}`).join('')}`, '--', ...argv], { encoding: 'utf8' });
}

/** Runs argv with `drop` and CAP_SYS_ADMIN removed from the bounding set. */
function without(drop: readonly LinuxCapability[], argv: string[]) {
  const caps = [...new Set<LinuxCapability>([...drop, 'CAP_SYS_ADMIN'])];
  return spawnSync('setpriv', [`--bounding-set=${caps.map((c) => `-${setprivName(c)}`).join(',')}`, '--', ...argv], { encoding: 'utf8' });
}

/**
 * The operation succeeds with only the capabilities stated for `kinds`, and
 * fails for lack of permission once `missing` (and CAP_SYS_ADMIN) is removed.
 */
function assertNeededAndEnough(kinds: readonly HookKind[], missing: LinuxCapability, argv: string[], cleanup: () => void = () => {}) {
  const caps = capabilitiesFor(kinds);
  assert.ok(caps.includes(missing), `${missing} is not stated for ${kinds.join('+')}`);
  try {
    const enough = withOnly(caps, argv);
    assert.equal(enough.status, 0, `${kinds.join('+')} with only ${caps.join(',')}: ${enough.stdout}${enough.stderr}`);
  } finally {
    cleanup();
  }
  try {
    const lacking = without([missing], argv);
    assert.notEqual(lacking.status, 0, `${kinds.join('+')} succeeded without ${missing}`);
    assert.match(lacking.stdout + lacking.stderr, /not permitted|Permission denied/);
  } finally {
    cleanup();
  }
}

test('ringbuf_maps + bpffs_pin: a ring buffer created and pinned in bpffs needs CAP_BPF and nothing else', () => {
  assert.equal(process.getuid?.(), 0, 'this test drops capabilities from root: run it as root');
  assert.ok(existsSync('/sys/fs/bpf'), 'bpffs is not mounted at /sys/fs/bpf (scripts/setup mounts it)');
  const pin = `/sys/fs/bpf/pfg_caps_${process.pid}`;
  assertNeededAndEnough(['ringbuf_maps', 'bpffs_pin'], 'CAP_BPF',
    ['bpftool', 'map', 'create', pin, 'type', 'ringbuf', 'key', '0', 'value', '0', 'entries', '4096', 'name', 'pfg_caps'],
    () => rmSync(pin, { force: true }));
});

test('socket_filter: the AF_PACKET socket the filter attaches to needs CAP_NET_RAW', () => {
  assert.equal(process.getuid?.(), 0, 'this test drops capabilities from root: run it as root');
  assertNeededAndEnough(['socket_filter'], 'CAP_NET_RAW', ['python3', '-c', 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)']);
});

test('tracepoint: perf_event_open of sock:inet_sock_set_state needs CAP_PERFMON', () => {
  assert.equal(process.getuid?.(), 0, 'this test drops capabilities from root: run it as root');
  const idFile = '/sys/kernel/tracing/events/sock/inet_sock_set_state/id';
  assert.ok(existsSync(idFile), 'tracefs is not mounted at /sys/kernel/tracing (scripts/setup mounts it)');
  // perf_event_attr v0 (64 bytes): type PERF_TYPE_TRACEPOINT, size, config = tracepoint id; any pid on CPU 0.
  const script = [
    'import ctypes, os, struct, sys',
    `attr = struct.pack("=IIQ", 2, 64, int(open("${idFile}").read())) + bytes(48)`,
    'libc = ctypes.CDLL(None, use_errno=True)',
    'fd = libc.syscall(298, ctypes.c_char_p(attr), -1, 0, -1, 0)',
    'sys.exit(os.strerror(ctypes.get_errno())) if fd < 0 else os.close(fd)',
  ].join('\n');
  assertNeededAndEnough(['tracepoint'], 'CAP_PERFMON', ['python3', '-c', script]);
});

test('tc: adding the clsact qdisc needs CAP_NET_ADMIN (in a throwaway network namespace)', () => {
  assert.equal(process.getuid?.(), 0, 'this test drops capabilities from root: run it as root');
  const caps = capabilitiesFor(['tc']);
  assert.ok(caps.includes('CAP_NET_ADMIN'));
  const setpriv = (bounding: string) => `setpriv --bounding-set=${bounding} -- tc qdisc add dev pfg0 clsact`;
  const inFreshNetns = (command: string) => spawnSync('unshare', ['--net', 'sh', '-c', `ip link add pfg0 type veth peer name pfg1 && ${command}`], { encoding: 'utf8' });
  const enough = inFreshNetns(setpriv(`-all${caps.map((c) => `,+${setprivName(c)}`).join('')}`));
  assert.equal(enough.status, 0, enough.stderr);
  const lacking = inFreshNetns(setpriv('-net_admin,-sys_admin'));
  assert.notEqual(lacking.status, 0);
  assert.match(lacking.stderr, /Operation not permitted/);
});
