// Classic TC filters outlive their process: a process killed before it detached
// leaves them running. The next attach with removeStale removes those whose owner
// is gone and keeps a live process's; a clsact qdisc we created stays when
// another program's filter was added to it (deleting the qdisc deletes its
// filters). Root needed; a veth pair hr<pid>a/b in the host namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject, features, tcFilters } from '../src/index.js';
import { objectPath, run, sleep } from './helpers.js';

const DEV = `hr${process.pid % 100000}a`;
const PEER = `hr${process.pid % 100000}b`;
const INDEX = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');
let obj: BpfObject;
const children = new Set<ChildProcess>();

function removeDev(): void {
  try {
    run('ip', ['link', 'del', DEV]);
  } catch {
    // absent
  }
}

before(() => {
  removeDev();
  run('ip', ['link', 'add', DEV, 'type', 'veth', 'peer', 'name', PEER]);
  run('ip', ['link', 'set', DEV, 'up']);
  obj = BpfObject.open(objectPath('hooks'));
  obj.load();
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  obj?.close();
  removeDev();
});

/** Another process attaching lbt_tc_ingress to DEV's ingress on the classic path; resolves once attached. */
async function attachingProcess(): Promise<ChildProcess> {
  const code = `import { BpfObject } from ${JSON.stringify(INDEX)};
    const o = BpfObject.open(${JSON.stringify(objectPath('hooks'))}); o.load();
    o.program('lbt_tc_ingress').attachTc(${JSON.stringify(DEV)}, 'ingress', { preferTcx: false });
    console.log('attached'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(line.toString(), /attached/);
  return child;
}

const ours = () => tcFilters(DEV, 'ingress').filter((f) => f.program === 'lbt_tc_ingress');

test('a killed process\'s classic filter is removed by the next attach; a live process\'s stays', async () => {
  const killed = await attachingProcess();
  const [stale] = ours();
  assert.ok(stale, 'the filter of the running process is listed');
  assert.equal(stale.kind, 'bpf');
  killed.kill('SIGKILL');
  await once(killed, 'exit');
  assert.deepEqual(ours(), [stale], 'the filter outlives its process');

  const live = await attachingProcess();
  const [alive] = ours().filter((f) => f.progId !== stale.progId);
  const link = obj.program('lbt_tc_ingress').attachTc(DEV, 'ingress', { preferTcx: false, removeStale: true });
  try {
    const progIds = ours().map((f) => f.progId);
    assert.ok(!progIds.includes(stale.progId), 'the dead process\'s filter is gone');
    assert.ok(progIds.includes(alive.progId), 'the live process\'s filter is kept');
    assert.equal(progIds.length, 2);
    // The program went with its filter: nothing else held it. The kernel frees it after an RCU grace
    // period, which a loaded machine can stretch to seconds.
    const listed = new RegExp(`^${stale.progId}: `, 'm');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && listed.test(run('bpftool', ['prog', 'show']))) await sleep(50);
    assert.doesNotMatch(run('bpftool', ['prog', 'show']), listed);
  } finally {
    link.destroy();
    live.kill('SIGKILL');
    await once(live, 'exit');
    run('tc', ['qdisc', 'del', 'dev', DEV, 'clsact']);
  }
});

test('without removeStale, or for another program\'s name, nothing of anyone else is removed', async () => {
  const killed = await attachingProcess();
  killed.kill('SIGKILL');
  await once(killed, 'exit');
  try {
    const before = ours();
    assert.equal(before.length, 1);
    obj.program('lbt_tc_ingress').attachTc(DEV, 'ingress', { preferTcx: false }).destroy();
    obj.program('lbt_tc_egress').attachTc(DEV, 'ingress', { preferTcx: false, removeStale: true }).destroy();
    assert.deepEqual(ours(), before);
  } finally {
    run('tc', ['qdisc', 'del', 'dev', DEV, 'clsact']);
  }
});

test('the clsact qdisc we created stays while another program\'s filter is on it', () => {
  const link = obj.program('lbt_tc_egress').attachTc(DEV, 'egress', { preferTcx: false });
  try {
    // Another agent (a CNI) attaches after us, on our qdisc.
    run('tc', ['filter', 'add', 'dev', DEV, 'ingress', 'prio', '1', 'handle', '1', 'bpf', 'da', 'obj', objectPath('hooks'), 'sec', 'tc']);
    link.destroy();
    assert.match(run('tc', ['qdisc', 'show', 'dev', DEV]), /clsact/);
    assert.deepEqual(tcFilters(DEV, 'ingress').map((f) => [f.priority, f.handle, f.kind]), [[1, 1, 'bpf']], 'the other filter is still there');
    assert.deepEqual(tcFilters(DEV, 'egress'), [], 'ours is gone');
  } finally {
    run('tc', ['qdisc', 'del', 'dev', DEV, 'clsact']);
  }
  // With nothing else on it, our qdisc goes with our last filter.
  obj.program('lbt_tc_egress').attachTc(DEV, 'egress', { preferTcx: false }).destroy();
  assert.doesNotMatch(run('tc', ['qdisc', 'show', 'dev', DEV]), /clsact/);
  assert.deepEqual(tcFilters(DEV, 'ingress'), [], 'no clsact: no filters');
});

test('LIBBPF_TS_TCX=0 makes the classic path the default', () => {
  process.env.LIBBPF_TS_TCX = '0';
  try {
    const link = obj.program('lbt_tc_ingress').attachTc(DEV, 'ingress');
    assert.equal(link.hook, 'tc');
    link.destroy();
  } finally {
    delete process.env.LIBBPF_TS_TCX;
  }
  const link = obj.program('lbt_tc_ingress').attachTc(DEV, 'ingress');
  assert.equal(link.hook, features.canAttachTcx().supported ? 'tcx' : 'tc');
  link.destroy();
});
