// Every hook that works on this kernel, attached for real and observed firing
// on real traffic through a veth pair into a network namespace (root needed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { AttachError, BpfObject, type BpfMap, type Link } from '../src/index.js';
import { BUILD, Hook, Pod, counter, leftoverTestPrograms, objectPath, run, tcpRoundTrip, tcpRoundTripInCgroup } from './helpers.js';

const PORT = 23100 + (process.pid % 500);
let pod: Pod;
let obj: BpfObject;
let counts: BpfMap;

before(async () => {
  pod = new Pod('a');
  await pod.startServer(PORT);
  obj = BpfObject.open(objectPath('hooks'));
  obj.setGlobal('target_port', PORT);
  obj.load();
  counts = obj.map('counts');
});

after(() => {
  obj?.close();
  pod?.destroy();
});

/** Attaches, runs traffic, returns how much the slot grew; the link is destroyed before returning. */
async function fired(slot: number, attach: () => Link, traffic: () => Promise<void>): Promise<{ delta: number; link: Link }> {
  const link = attach();
  try {
    const before = counter(counts, slot);
    await traffic();
    return { delta: counter(counts, slot) - before, link };
  } finally {
    link.destroy();
  }
}

const connectToPod = () => tcpRoundTrip(pod.podIp, PORT);

test('tracepoint sock:inet_sock_set_state fires for our connection', async () => {
  const { delta, link } = await fired(Hook.TRACEPOINT, () => obj.program('lbt_tracepoint').attachTracepoint('sock', 'inet_sock_set_state'), connectToPod);
  assert.equal(link.hook, 'tracepoint');
  assert.ok(delta >= 2, `expected state changes of our socket, got ${delta}`);
});

test('raw tracepoint inet_sock_set_state fires (CO-RE read of the socket port)', async () => {
  const { delta } = await fired(Hook.RAW_TP, () => obj.program('lbt_raw_tp').attachRawTracepoint('inet_sock_set_state'), connectToPod);
  assert.ok(delta >= 2, `got ${delta}`);
});

test('tp_btf inet_sock_set_state fires via attach() by section', async () => {
  const { delta, link } = await fired(Hook.TP_BTF, () => obj.program('lbt_tp_btf').attach(), connectToPod);
  assert.equal(link.hook, 'tp_btf');
  assert.ok(delta >= 2, `got ${delta}`);
});

test('tp_btf through attachRawTracepoint checks the tracepoint name against the section', async () => {
  const { delta } = await fired(Hook.TP_BTF, () => obj.program('lbt_tp_btf').attachRawTracepoint('inet_sock_set_state'), connectToPod);
  assert.ok(delta >= 2);
  assert.throws(() => obj.program('lbt_tp_btf').attachRawTracepoint('sched_switch'), (e: unknown) => e instanceof AttachError && e.code === 'EINVAL');
});

test('after destroy() a tracepoint no longer fires', async () => {
  const link = obj.program('lbt_tracepoint').attachTracepoint('sock', 'inet_sock_set_state');
  link.destroy();
  link.destroy();
  const before = counter(counts, Hook.TRACEPOINT);
  await connectToPod();
  assert.equal(counter(counts, Hook.TRACEPOINT), before);
});

test('TC ingress and egress through TCX links see both directions', async () => {
  const ingress = obj.program('lbt_tc_ingress').attachTc(pod.hostIf, 'ingress');
  const egress = obj.program('lbt_tc_egress').attachTc(pod.hostIf, 'egress');
  try {
    assert.equal(ingress.hook, 'tcx');
    assert.equal(egress.target, `${pod.hostIf}/egress`);
    const i0 = counter(counts, Hook.TC_INGRESS);
    const e0 = counter(counts, Hook.TC_EGRESS);
    await connectToPod();
    assert.ok(counter(counts, Hook.TC_INGRESS) - i0 >= 3, 'SYN-ACK, data, FIN from the pod');
    assert.ok(counter(counts, Hook.TC_EGRESS) - e0 >= 3, 'SYN, ACK, FIN to the pod');
    assert.doesNotMatch(run('tc', ['qdisc', 'show', 'dev', pod.hostIf]), /clsact/, 'TCX needs no qdisc');
  } finally {
    ingress.destroy();
    egress.destroy();
  }
});

test('classic TC creates clsact when absent and removes it with the last filter', async () => {
  const ingress = obj.program('lbt_tc_ingress').attachTc(pod.hostIf, 'ingress', { preferTcx: false });
  const egress = obj.program('lbt_tc_egress').attachTc(pod.hostIf, 'egress', { preferTcx: false, priority: 7 });
  assert.equal(ingress.hook, 'tc');
  assert.match(run('tc', ['qdisc', 'show', 'dev', pod.hostIf]), /clsact/);
  assert.match(run('tc', ['filter', 'show', 'dev', pod.hostIf, 'egress']), /pref 7 .*lbt_tc_egress/);
  const i0 = counter(counts, Hook.TC_INGRESS);
  await connectToPod();
  assert.ok(counter(counts, Hook.TC_INGRESS) - i0 >= 3);
  ingress.destroy();
  assert.match(run('tc', ['qdisc', 'show', 'dev', pod.hostIf]), /clsact/, 'still used by the egress filter');
  egress.destroy();
  assert.doesNotMatch(run('tc', ['qdisc', 'show', 'dev', pod.hostIf]), /clsact/);
});

test('classic TC leaves a clsact qdisc it did not create', () => {
  run('tc', ['qdisc', 'add', 'dev', pod.hostIf, 'clsact']);
  try {
    const link = obj.program('lbt_tc_ingress').attachTc(pod.hostIf, 'ingress', { preferTcx: false });
    assert.match(run('tc', ['filter', 'show', 'dev', pod.hostIf, 'ingress']), /lbt_tc_ingress/);
    link.destroy();
    assert.doesNotMatch(run('tc', ['filter', 'show', 'dev', pod.hostIf, 'ingress']), /lbt_tc_ingress/);
    assert.match(run('tc', ['qdisc', 'show', 'dev', pod.hostIf]), /clsact/);
  } finally {
    run('tc', ['qdisc', 'del', 'dev', pod.hostIf, 'clsact']);
  }
});

test('TC on a missing interface throws AttachError ENODEV', () => {
  assert.throws(() => obj.program('lbt_tc_ingress').attachTc('lbt-nosuchif', 'ingress'), (err: unknown) => {
    assert.ok(err instanceof AttachError);
    assert.equal(err.hook, 'tc');
    assert.equal(err.target, 'lbt-nosuchif');
    assert.equal(err.code, 'ENODEV');
    return true;
  });
});

test('socket filter on an AF_PACKET socket bound to the interface', async () => {
  const { delta, link } = await fired(Hook.SOCKET, () => obj.program('lbt_socket').attachPacketSocket(pod.hostIf), connectToPod);
  assert.equal(link.hook, 'socket_filter');
  assert.ok(delta >= 6, `both directions of the connection, got ${delta}`);
});

test('XDP on the host side of the veth sees packets from the pod', async () => {
  const { delta, link } = await fired(Hook.XDP, () => obj.program('lbt_xdp').attachXdp(pod.hostIf), connectToPod);
  assert.equal(link.hook, 'xdp');
  assert.ok(delta >= 3, `got ${delta}`);
});

test('cgroup_skb, sockops and connect4 fire for a process in our cgroup', async () => {
  const cg = `/sys/fs/cgroup/unified/lbt-${process.pid}`;
  mkdirSync(cg, { recursive: true });
  const links: Link[] = [];
  try {
    links.push(obj.program('lbt_cg_egress').attachCgroup(cg));
    links.push(obj.program('lbt_cg_ingress').attachCgroup(cg, 'ingress'));
    links.push(obj.program('lbt_sockops').attachCgroup(cg));
    links.push(obj.program('lbt_connect4').attachCgroup(cg, 'connect4'));
    assert.equal(links[3]!.target, `${cg}:CGROUP_INET4_CONNECT`);
    const slots = [Hook.CGROUP_SKB_EGRESS, Hook.CGROUP_SKB_INGRESS, Hook.SOCKOPS, Hook.CONNECT4];
    const before = slots.map((s) => counter(counts, s));
    await tcpRoundTripInCgroup(cg, pod.podIp, PORT);
    const delta = slots.map((s, i) => counter(counts, s) - before[i]!);
    assert.ok(delta[0]! >= 3 && delta[1]! >= 3, `cgroup_skb egress/ingress ${delta[0]}/${delta[1]}`);
    assert.equal(delta[2], 1, 'one TCP_CONNECT_CB');
    assert.equal(delta[3], 1, 'one connect()');
    // Our own connections (outside the cgroup) are not seen.
    const mine = counter(counts, Hook.CONNECT4);
    await connectToPod();
    assert.equal(counter(counts, Hook.CONNECT4), mine);
  } finally {
    for (const l of links) l.destroy();
    rmdirSync(cg);
  }
});

test('uprobe on a function of a binary counts every call', async () => {
  const binary = join(BUILD, 'uprobe_target');
  const link = obj.program('lbt_uprobe').attachUprobe(binary, { symbol: 'lbt_uprobe_target' });
  try {
    assert.equal(link.hook, 'uprobe');
    const before = counter(counts, Hook.UPROBE);
    const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin.end('1\n2\n3\n4\n5\n');
    const [out] = (await once(child.stdout, 'data')) as [Buffer];
    assert.equal(out.toString().trim(), '5');
    assert.equal(counter(counts, Hook.UPROBE) - before, 5);
  } finally {
    link.destroy();
  }
});

test('uprobe on a missing symbol throws AttachError', () => {
  assert.throws(() => obj.program('lbt_uprobe').attachUprobe(join(BUILD, 'uprobe_target'), { symbol: 'lbt_no_such_function' }),
    (err: unknown) => err instanceof AttachError && err.hook === 'uprobe' && err.errno > 0);
});

// The kprobe PMU is the independent witness of kprobe support: without it (as on the
// development VMs, see ../shared/KERNEL.md) attach must fail with a typed ENOENT.
const hasKprobes = existsSync('/sys/bus/event_source/devices/kprobe');

test(`kprobe: the program loads; ${hasKprobes ? 'it fires on tcp_connect' : 'attach fails with AttachError ENOENT (no kprobe PMU)'}`, async () => {
  assert.ok(obj.program('lbt_kprobe').fd > 0, 'the verifier accepted the kprobe program');
  if (hasKprobes) {
    const { delta } = await fired(Hook.KPROBE, () => obj.program('lbt_kprobe').attachKprobe('tcp_connect'), connectToPod);
    assert.ok(delta >= 1);
    return;
  }
  assert.throws(() => obj.program('lbt_kprobe').attachKprobe('tcp_connect'), (err: unknown) => {
    assert.ok(err instanceof AttachError);
    assert.equal(err.hook, 'kprobe');
    assert.equal(err.target, 'tcp_connect');
    assert.equal(err.program, 'lbt_kprobe');
    assert.equal(err.code, 'ENOENT');
    assert.match(err.message, /kernel has no kprobe support/);
    return true;
  });
});

test('after close, bpftool shows none of our programs', () => {
  assert.ok(leftoverTestPrograms().some((n) => n.startsWith('lbt_')), 'loaded while open');
  obj.close();
  obj.close();
  assert.deepEqual(leftoverTestPrograms(), []);
});
