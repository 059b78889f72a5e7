// The preferred hooks of the tcp probe on this kernel: the kprobe programs pass
// the verifier but cannot attach (no kprobe PMU), the fentry programs are
// refused at load; both fail with typed errors the capability probe records.
// And the flows probe's socket-filter fallback counts real traffic.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AttachError, BpfObject, features, LoadError } from 'libbpf-ts';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { flowsPlan } from '../../src/probes/flows/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { TCP_FENTRY, TCP_KPROBE } from '../../src/probes/tcp/plan.js';
import { createProbeManager } from '../../src/probes/index.js';
import { PodNet, sh } from './pod-net.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
let net: PodNet;

const records: FlowRecord[] = [];

function context(): ProbeContext {
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  return { nodeName: 'n', clock: new MonotonicClock(), ingress: { ingest: (b) => records.push(...b) }, interfaces, objectDir: BUILD };
}

before(() => {
  net = new PodNet('pfrk', '10.243.8', [{ name: 'a', host: 2 }], { gateway: 1 });
});

after(() => net?.destroy());

test('the kprobe variant of the tcp probe passes the verifier here', () => {
  const obj = BpfObject.open(`${BUILD}tcp_kprobe.bpf.o`);
  try {
    obj.load();
    for (const p of obj.programs) assert.ok(p.fd > 0, `${p.name} loaded`);
    assert.equal(obj.programs.length, 4);
  } finally {
    obj.close();
  }
});

test('attaching the kprobe variant fails with a typed AttachError (ENOENT: no kprobe support), no crash', () => {
  assert.throws(
    () => TCP_KPROBE.attach(context()),
    (err: unknown) => err instanceof AttachError && err.hook === 'kprobe' && err.code === 'ENOENT' && err.target === 'tcp_set_state',
  );
});

test('loading the fentry variant fails with a typed LoadError (EPERM: no trampolines here)', () => {
  assert.throws(() => TCP_FENTRY.attach(context()), (err: unknown) => err instanceof LoadError && err.code === 'EPERM');
});

test('the flows socket-filter fallback counts real traffic on an AF_PACKET socket', async () => {
  const ctx = context();
  const hostIf = net.pod('a').hostIf.name;
  const candidate = flowsPlan({ interfaces: [hostIf], activeTimeoutMs: 5000, idleTimeoutMs: 300 }).candidates.find((c) => c.hook === 'socket_filter');
  assert.ok(candidate);
  const probe = candidate.attach(ctx);
  try {
    assert.equal(probe.hook, 'socket_filter');
    net.exec('a', process.execPath, ['--input-type=module', '-e', `
      import dgram from 'node:dgram';
      const s = dgram.createSocket('udp4');
      for (let i = 0; i < 4; i++) await new Promise((r) => s.send(Buffer.alloc(72), 7779, '${net.gatewayOf('a')}', r));
      s.close();`]);
    const deadline = Date.now() + 30_000;
    let flow: FlowRecord | undefined;
    while (!flow && Date.now() < deadline) {
      await sleep(100);
      probe.tick?.(MonotonicClock.nowNs());
      flow = records.find((r) => r.type === podflow.v1.RecordType.FLOW && r.destination?.port === 7779);
    }
    assert.ok(flow, 'a FLOW record');
    assert.deepEqual([flow.traffic?.packets, flow.traffic?.bytes], [4, 4 * 100]);
    assert.equal(flow.interface?.name, hostIf);
    assert.equal(flow.direction, podflow.v1.Direction.INGRESS);
    assert.equal(flow.observation?.hook, 'socket_filter');
  } finally {
    probe.close();
  }
});

test('an interface that appears but attaches neither TC nor the socket filter is reported as an error, not a record loss', () => {
  const candidate = flowsPlan({ interfaces: ['pfrk-gone*'], activeTimeoutMs: 5000, idleTimeoutMs: 300 }).candidates.find((c) => c.hook === 'tc');
  assert.ok(candidate);
  const probe = candidate.attach(context());
  try {
    // Gone before the attach (a short-lived veth): the kernel refuses both hooks on the dead ifindex.
    const gone = { index: 0x7ffffff0, name: 'pfrk-gone' };
    probe.interfacesChanged?.([gone], []);
    const failures = probe.interfaceFailures?.() ?? [];
    assert.equal(failures.length, 1);
    assert.equal(failures[0], 'interface pfrk-gone (ifindex 2147483632) went away before it could be attached (ENODEV)');
    assert.deepEqual(probe.losses().filter((l) => l.stage !== 'kernel'), [], 'no loss: nothing was counted there');
    probe.interfacesChanged?.([], [gone]);
    assert.deepEqual(probe.interfaceFailures?.(), [], 'forgotten once the interface is gone');
  } finally {
    probe.close();
  }
});

test('an interface name that matches nothing is logged and is the probes\' lastError until it appears, then attached', async () => {
  const name = `pfni${process.pid % 100000}`;
  const warnings: string[] = [];
  const manager = createProbeManager({
    probes: ['flows', 'tcp'],
    interfaces: [name],
    flowActiveTimeoutMs: 5000,
    flowIdleTimeoutMs: 1000,
    interfacePollMs: 100,
    nodeName: 'n',
    ingress: { ingest: () => undefined },
    log: { warn: (_fields, message) => void warnings.push(message) },
  });
  await manager.start();
  try {
    const flows = () => manager.status().find((s) => s.probe === 'flows');
    assert.match(flows()?.lastError ?? '', new RegExp(`no interface matches "${name}" of interfaces \\(present: .*lo.*\\)`));
    assert.equal(manager.status().find((s) => s.probe === 'tcp')?.lastError, undefined, 'not an interface probe');
    assert.equal(warnings.filter((w) => w.includes(name)).length, 1);
    // Nothing attached yet: the hook is the one an interface that appears will get, not the plan's mode name.
    const tcx = process.env.LIBBPF_TS_TCX !== '0' && features.canAttachTcx().supported;
    assert.equal(flows()?.hook, tcx ? 'tcx' : 'tc', 'the hook TC mode will use here');
    sh('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    sh('ip', ['link', 'set', name, 'up']);
    for (const end = Date.now() + 30_000; Date.now() < end && flows()?.lastError !== undefined; ) await sleep(100);
    assert.equal(flows()?.lastError, undefined, 'cleared once the interface is there');
    // The hook names what is attached: TCX links here, else a clsact filter.
    assert.ok(flows()?.hook === 'tcx' || sh('tc', ['filter', 'show', 'dev', name, 'ingress']).includes('packet_tc_ingress'), `attached to it (hook ${flows()?.hook})`);
  } finally {
    await manager.stop();
    try {
      sh('ip', ['link', 'del', name]);
    } catch {
      // Not made: the test failed before.
    }
  }
});

/** A copy of the built objects whose packet.bpf.o the verifier refuses (an unknown opcode opens its TC programs). */
function refusedPacketObject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pfrk-objects-'));
  cpSync(BUILD, dir, { recursive: true });
  const file = join(dir, 'packet.bpf.o');
  const elf = readFileSync(file);
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const [size, count, names] = [elf.readUInt16LE(0x3a), elf.readUInt16LE(0x3c), elf.readUInt16LE(0x3e)];
  const header = (i: number) => elf.subarray(shoff + i * size, shoff + (i + 1) * size);
  const strings = Number(header(names).readBigUInt64LE(0x18));
  const nameOf = (i: number) => {
    const at = strings + header(i).readUInt32LE(0);
    return elf.toString('latin1', at, elf.indexOf(0, at));
  };
  const tc = [...Array(count).keys()].find((i) => nameOf(i) === 'tc');
  assert.ok(tc !== undefined, 'packet.bpf.o has a tc section');
  elf[Number(header(tc).readBigUInt64LE(0x18))] = 0xff;
  writeFileSync(file, elf);
  return dir;
}

test('a packet object the verifier refuses is one failure: tc gives the load error, socket_filter says it is the same object', async () => {
  const objectDir = refusedPacketObject();
  const manager = createProbeManager({
    probes: ['flows', 'dns'], interfaces: [], flowActiveTimeoutMs: 5000, flowIdleTimeoutMs: 1000, nodeName: 'n', ingress: { ingest: () => undefined }, objectDir,
  });
  try {
    await manager.start();
    for (const probe of ['flows', 'dns']) {
      const status = manager.status().find((s) => s.probe === probe);
      assert.equal(status?.attached, false, probe);
      const skipped = status.skipped.filter((s) => s.hook === 'tc' || s.hook === 'socket_filter');
      assert.deepEqual(skipped.map((s) => s.hook), ['tc', 'socket_filter'], probe);
      assert.match(skipped[0]!.reason, /cannot load BPF object packet: program packet_tc_\w+ was rejected/, probe);
      assert.match(skipped[1]!.reason, /^not loaded again: socket_filter uses the same packet object \(packet\.bpf\.o\) as tc, which failed to load \(see tc\)/, probe);
    }
  } finally {
    await manager.stop();
    rmSync(objectDir, { recursive: true, force: true });
  }
});
