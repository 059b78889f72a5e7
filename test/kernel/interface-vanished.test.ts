// An interface that vanishes between the poll that found it and the attach (a
// short-lived veth): the probe manager lists the node's interfaces from a
// directory of this test, where such an interface is an entry whose ifindex no
// interface has. flows, dns and http share the packet object: the event is
// logged once, naming the interface and the three probes, it is their
// lastError while the interface is listed, and gone once it is not; likewise
// when it is listed at start next to one that attaches.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProbeManager } from '../../src/probes/index.js';
import type { ProbeManager, ProbeName, ProbeStatus } from '../../src/probes/types.js';
import { sh } from './pod-net.js';

const dir = mkdtempSync('/tmp/sgt-ifs-');
const REAL = 'sgtv0';

after(() => {
  rmSync(dir, { recursive: true, force: true });
  try {
    sh('ip', ['link', 'del', REAL]);
  } catch {
    // Not made: the test failed before.
  }
});

function list(name: string, index: number): void {
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, name, 'ifindex'), `${index}\n`);
}

function veth(name: string): void {
  sh('ip', ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  list(name, Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')));
}

type Warning = { probes?: string[]; message: string };

/** A probe manager listing the interfaces of this test's directory, its warnings kept in `warnings`. */
function managerOf(probes: ProbeName[], warnings: Warning[]): ProbeManager {
  return createProbeManager({
    probes,
    interfaces: [],
    interfaceDir: dir,
    flowActiveTimeoutMs: 5000,
    flowIdleTimeoutMs: 1000,
    interfacePollMs: 100,
    nodeName: 'n',
    cgroupRoot: null,
    ingress: { ingest: () => undefined },
    log: { warn: (fields, message) => void warnings.push({ ...(fields as { probes?: string[] }), message }) },
  });
}

/** Polls `cond` for up to 30 s (the interface poll runs every 100 ms; a loaded machine delays it). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 30_000; Date.now() < end && !cond(); ) await sleep(100);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('an interface gone before its attach: one log line naming it and the probes, their lastError until it is gone', async () => {
  const warnings: Warning[] = [];
  const manager = managerOf(['flows', 'dns', 'http', 'tcp'], warnings);
  await manager.start();
  const byProbe = () => new Map<string, ProbeStatus>(manager.status().map((s) => [s.probe, s]));
  const interfaceProbes = ['flows', 'dns', 'http'];
  try {
    for (const p of interfaceProbes) assert.equal(byProbe().get(p)?.attached, true, `${p} attached (to no interface yet)`);
    list('sgtgone', 0x7ffffff0);
    await until('the attach failure', () => interfaceProbes.every((p) => byProbe().get(p)?.lastError !== undefined));
    const about = warnings.filter((w) => w.message.includes('sgtgone'));
    assert.equal(about.length, 1, `logged once: ${JSON.stringify(about)}`);
    assert.equal(about[0]!.message, 'interface sgtgone (ifindex 2147483632) went away before it could be attached (ENODEV)');
    assert.deepEqual(about[0]!.probes?.slice().sort(), ['dns', 'flows', 'http']);
    for (const p of interfaceProbes) assert.equal(byProbe().get(p)?.lastError, about[0]!.message, p);
    assert.equal(byProbe().get('tcp')?.lastError, undefined, 'not an interface probe');

    rmSync(join(dir, 'sgtgone'), { recursive: true });
    await until('the error cleared', () => interfaceProbes.every((p) => byProbe().get(p)?.lastError === undefined));
    assert.equal(warnings.filter((w) => w.message.includes('sgtgone')).length, 1, 'its going is not logged');

    // An interface that is there attaches, without an error or a log line: two new TCX links (ingress, egress;
    // this bpftool shows a TCX link's type as 11 and no interface), else a clsact filter. The hook names the
    // mode before anything is attached, so it cannot tell.
    const tcxLinks = () => (JSON.parse(sh('bpftool', ['link', 'show', '-j'])) as { id: number; type: string | number }[])
      .filter((l) => l.type === 'tcx' || l.type === 11).map((l) => l.id);
    const linksBefore = new Set(tcxLinks());
    veth(REAL);
    await until(`attached to ${REAL}`, () => tcxLinks().filter((id) => !linksBefore.has(id)).length >= 2
      || sh('tc', ['filter', 'show', 'dev', REAL, 'ingress']).includes('packet_tc_ingress'));
    for (const p of interfaceProbes) assert.equal(byProbe().get(p)?.lastError, undefined, p);
    assert.deepEqual(warnings.filter((w) => w.message.includes(REAL)), []);
  } finally {
    await manager.stop();
  }
});

test('at start, an interface that cannot be attached next to one that can: logged once, the probes\' lastError', async () => {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  sh('ip', ['link', 'del', REAL]);
  veth(REAL);
  list('sgtgone', 0x7ffffff1);
  const warnings: Warning[] = [];
  const manager = managerOf(['flows', 'dns', 'http'], warnings);
  await manager.start();
  try {
    const message = 'interface sgtgone (ifindex 2147483633) went away before it could be attached (ENODEV)';
    assert.deepEqual(warnings.filter((w) => w.message.includes('sgtgone')).map((w) => [w.message, w.probes?.slice().sort()]), [[message, ['dns', 'flows', 'http']]]);
    for (const s of manager.status()) assert.deepEqual([s.probe, s.attached, s.lastError], [s.probe, true, message]);
  } finally {
    await manager.stop();
  }
});
