// The agent's life on a node without TCX (kernels before 6.6), forced here with
// LIBBPF_TS_TCX=0: classic clsact filters are not owned by a process, so they
// outlive an agent that is killed. Checks: SIGTERM leaves the TC state, the
// loaded programs and the cgroup attachments as they were; after a SIGKILL the
// next agent removes its predecessor's filters (no second copy of the packet
// programs keeps running beside its own) and leaves a live process's alone; a
// pod's veth deleted and created again under the same name (new ifindex) is
// attached again. Root; prefix hr, 10.247.77.0/24.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tcFilters, type TcFilter } from 'libbpf-ts';
import { PodNet, sh } from './pod-net.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/podflow.js');
const SUBNET = '10.247.77';
const dir = mkdtempSync('/tmp/hr-restart-');
// Short flow timeouts: a ping's conversation comes out within about a second.
const CLASSIC = { ...process.env, LIBBPF_TS_TCX: '0', PODFLOW_FLOWS_IDLE_TIMEOUT: '1s', PODFLOW_FLOWS_ACTIVE_TIMEOUT: '2s' };
let net: PodNet;
const children = new Set<ChildProcess>();

before(() => {
  net = new PodNet('hr', SUBNET, [{ name: 'a', host: 2 }, { name: 'b', host: 3 }]);
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  net?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const hostIfs = () => net.hostInterfaces().map((i) => i.name);

/** The packet programs' filters on an interface (bpftool and the kernel name them with 15 characters). */
function packetFilters(dev: string): TcFilter[] {
  return (['ingress', 'egress'] as const).flatMap((d) => tcFilters(dev, d)).filter((f) => f.program.startsWith('packet_tc_'));
}

function tcState(dev: string): string {
  return ['qdisc', 'filter ingress', 'filter egress'].map((what) => {
    const [kind, dir_] = what.split(' ');
    return sh('tc', dir_ ? [kind!, 'show', 'dev', dev, dir_] : [kind!, 'show', 'dev', dev]);
  }).join('---\n');
}

/** Program ids attached to any cgroup (bpftool cgroup tree). */
function cgroupProgramIds(): Set<number> {
  const tree = JSON.parse(sh('bpftool', ['cgroup', 'tree', '-j'])) as { programs?: { id: number }[] }[];
  return new Set(tree.flatMap((c) => (c.programs ?? []).map((p) => p.id)));
}

/** BPF programs the process holds (program fds and the programs of its link fds). */
function programsHeldBy(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target !== 'anon_inode:bpf-prog' && target !== 'anon_inode:bpf_link') continue;
      const id = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (id) ids.add(Number(id[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

/** Which of `ids` are still loaded after up to 2 s (links release their programs from an RCU callback). */
async function stillLoaded(ids: Iterable<number>): Promise<number[]> {
  const end = Date.now() + 2000;
  for (;;) {
    const loaded = new Set((JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number }[]).map((p) => p.id));
    const left = [...ids].filter((id) => loaded.has(id));
    if (left.length === 0 || Date.now() > end) return left;
    await sleep(50);
  }
}

interface Agent {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** An agent on the pods' veths (probes: default all), JSON records on stdout. */
async function startAgent(name: string, probes?: string): Promise<Agent> {
  const child = spawn(process.execPath, [bin, 'run', ...(probes ? ['--probes', probes] : []), '--interfaces', hostIfs().join(','), '--metrics-addr', 'off', '-o', 'json',
    '--observe-socket', join(dir, `${name}.sock`), '--log-level', 'debug'], { cwd: root, env: CLASSIC, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  void exited.then(() => children.delete(child));
  const end = Date.now() + 30_000;
  while (!err.includes('"msg":"agent running"')) {
    if (child.exitCode !== null) assert.fail(`agent ${name} exited ${child.exitCode}: ${err.slice(-3000)}`);
    if (Date.now() > end) assert.fail(`agent ${name} did not start: ${err.slice(-3000)}`);
    await sleep(100);
  }
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function until<T>(what: string, probe: () => T | undefined, detail?: () => string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(200);
  }
}

const ping = () => net.exec('a', 'ping', ['-c', '2', '-i', '0.2', '-W', '1', `${SUBNET}.3`]);

test('SIGTERM on the classic TC path leaves filters, qdiscs, programs and cgroup attachments as they were', { timeout: 90_000 }, async () => {
  const tcBefore = Object.fromEntries(hostIfs().map((d) => [d, tcState(d)]));
  // Every probe: flows, dns and http on TC, rtt's sockops and svc's programs on the cgroup v2 root.
  const agent = await startAgent('clean');
  for (const dev of hostIfs()) {
    assert.equal(packetFilters(dev).length, 2, `${dev}: one classic filter per direction`);
    assert.match(sh('tc', ['qdisc', 'show', 'dev', dev]), /clsact/);
  }
  const held = programsHeldBy(agent.child.pid!);
  const onCgroups = [...cgroupProgramIds()].filter((id) => held.has(id));
  assert.ok(onCgroups.length > 0, 'the agent has programs on the cgroup root');
  agent.child.kill('SIGTERM');
  const [code] = await agent.exited;
  assert.equal(code, 0, agent.stderr().slice(-3000));
  for (const dev of hostIfs()) assert.equal(tcState(dev), tcBefore[dev], `TC state of ${dev} restored`);
  assert.deepEqual(await stillLoaded(held), [], 'no program of the agent is loaded');
  assert.deepEqual([...cgroupProgramIds()].filter((id) => held.has(id)), [], 'nothing of the agent on any cgroup');
});

test('after a SIGKILL the next agent removes its predecessor\'s filters and keeps a live agent\'s', { timeout: 120_000 }, async () => {
  const killed = await startAgent('killed', 'flows');
  const stale = hostIfs().flatMap(packetFilters);
  assert.equal(stale.length, 4);
  killed.child.kill('SIGKILL');
  await killed.exited;
  assert.deepEqual(hostIfs().flatMap(packetFilters), stale, 'the killed agent\'s filters stay, and keep its programs loaded');

  const next = await startAgent('next', 'flows');
  const now = hostIfs().flatMap(packetFilters);
  assert.equal(now.length, 4, `one filter per interface and direction: ${JSON.stringify(now)}`);
  const staleIds = stale.map((f) => f.progId);
  assert.ok(now.every((f) => !staleIds.includes(f.progId)), 'all of them the new agent\'s');
  assert.deepEqual(await stillLoaded(staleIds), [], 'the predecessor\'s programs are unloaded');
  assert.equal(next.stderr().match(/removed a stale TC filter/g)?.length, 4, 'each removal logged');
  // The new agent sees the pods' traffic.
  await until('a FLOW record of the pods', () => {
    ping();
    return next.stdout().split('\n').some((l) => l.includes('"type":"FLOW"') && l.includes(`"${SUBNET}.2"`)) ? true : undefined;
  }, () => `stdout: ${next.stdout().slice(-1500)}\nstderr: ${next.stderr().slice(-3000)}`);

  // A second agent beside it (another observe socket): the running agent's filters are not stale.
  const beside = await startAgent('beside', 'flows');
  assert.equal(hostIfs().flatMap(packetFilters).length, 8, 'both agents attached');
  beside.child.kill('SIGTERM');
  assert.equal((await beside.exited)[0], 0);
  assert.deepEqual(hostIfs().flatMap(packetFilters).map((f) => f.progId).sort(), now.map((f) => f.progId).sort(), 'the first agent\'s filters untouched');

  // A pod deleted and created again: same veth name, new ifindex.
  const old = net.pod('b').hostIf;
  sh('ip', ['link', 'del', old.name]);
  await sleep(1500);
  sh('ip', ['link', 'add', old.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.pod('b').netns]);
  sh('ip', ['link', 'set', old.name, 'master', 'hrbr', 'up']);
  sh('ip', ['-n', net.pod('b').netns, 'addr', 'add', `${SUBNET}.3/24`, 'dev', 'eth0']);
  sh('ip', ['-n', net.pod('b').netns, 'link', 'set', 'eth0', 'up']);
  const index = Number(readFileSync(`/sys/class/net/${old.name}/ifindex`, 'utf8').trim());
  assert.notEqual(index, old.index);
  old.index = index;
  await until(`the agent on the new ${old.name}`, () => (packetFilters(old.name).length === 2 ? true : undefined));

  const held = programsHeldBy(next.child.pid!);
  next.child.kill('SIGTERM');
  assert.equal((await next.exited)[0], 0, next.stderr().slice(-3000));
  for (const dev of hostIfs()) assert.deepEqual(packetFilters(dev), [], `no packet filter left on ${dev}`);
  assert.deepEqual(await stillLoaded(held), []);
});
