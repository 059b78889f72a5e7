// The probe manager with every probe on (the default) on real traffic: dns and
// http attach as its own plans with the svc programs, DNS and HTTP records come
// out of a real dnsmasq and a real HTTP server, and stop() removes every
// program the manager loaded (compared by id, so others' programs do not count).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { createProbeManager } from '../../src/probes/index.js';
import { PROBE_NAMES, type ProbeManager } from '../../src/probes/types.js';
import { DNS_CLIENT, HTTP_CLIENT, HTTP_SERVER, parseClientOutput, waitFor, type DnsClientResult } from './l7-net.js';
import { PodNet, sh } from './pod-net.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const SUBNET = '10.240.1';
const DNS_SERVER = `${SUBNET}.53`;
const WEB = `${SUBNET}.80`;
/** The programs of the dns, http and svc objects, as bpftool names them (at most 15 characters). */
const L7_PROGRAMS = ['packet_tc_ingress', 'packet_tc_egress', 'packet_socket', 'http_sweep', 'svc_connect4', 'svc_connect6', 'svc_sendmsg4', 'svc_sendmsg6', 'svc_egress', 'svc_create', 'svc_release'];

let net: PodNet;
let manager: ProbeManager | undefined;
const records: FlowRecord[] = [];

function programIds(names: readonly string[]): number[] {
  const progs = JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number; name?: string }[];
  return progs.filter((p) => names.some((n) => n.slice(0, 15) === (p.name ?? '').slice(0, 15))).map((p) => p.id);
}

before(async () => {
  net = new PodNet('pfim', SUBNET, [
    { name: 'dns', host: 53 },
    { name: 'web', host: 80 },
    { name: 'cli', host: 2 },
  ]);
  net.spawn('dns', 'dnsmasq', [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--user=root',
    '--bind-interfaces', `--listen-address=${DNS_SERVER}`, '--local=/pfi.test/', `--host-record=web.pfi.test,${WEB}`,
  ]);
  await PodNet.ready(net.spawn('web', process.execPath, ['-e', HTTP_SERVER, WEB, '8080']), 'the HTTP server');
  // dnsmasq prints nothing when ready: ask it until it answers.
  await waitFor('dnsmasq to answer', () => {
    try {
      return net.exec('cli', 'dig', [`@${DNS_SERVER}`, '+short', '+tries=1', '+time=1', 'web.pfi.test']).trim() === WEB;
    } catch {
      return false;
    }
  });
});

after(async () => {
  try {
    await manager?.stop();
  } finally {
    net?.destroy();
  }
});

test('all probes on: dns and http attach with svc, give DNS and HTTP records from real traffic, and stop() unloads what they loaded', async () => {
  const before = new Set(programIds(L7_PROGRAMS));
  manager = createProbeManager({
    probes: PROBE_NAMES,
    interfaces: ['pfim*'],
    flowActiveTimeoutMs: 5000,
    flowIdleTimeoutMs: 1000,
    nodeName: 'pfi-node',
    interfacePollMs: 200,
    dnsTimeoutMs: 2000,
    ingress: { ingest: (batch) => void records.push(...batch.filter((r) => r.source?.ip?.startsWith(`${SUBNET}.`))) },
  });
  await manager.start();
  const loaded = programIds(L7_PROGRAMS).filter((id) => !before.has(id));

  const status = new Map(manager.status().map((s) => [s.probe, s]));
  assert.deepEqual([...status.keys()].sort(), [...PROBE_NAMES].sort());
  for (const probe of ['dns', 'http'] as const) {
    const s = status.get(probe);
    assert.equal(s?.attached, true, `${probe} attached: ${JSON.stringify(s)}`);
    assert.match(s?.hook ?? '', /^tcx?$/, `${probe} runs on TC`);
    assert.deepEqual(s?.skipped, [], `${probe}: nothing skipped, the svc programs included`);
  }
  // The packet object's four programs (TC ingress and egress, the socket filter: flows, dns and http in
  // one; http's sweep), seven svc programs.
  assert.equal(loaded.length, 11, `programs loaded by the manager: ${loaded.join(', ')}`);

  const lookup = JSON.parse(await net.run('cli', process.execPath, ['-e', DNS_CLIENT, DNS_SERVER, 'web.pfi.test', '1'])) as DnsClientResult;
  await waitFor('the DNS record', () => records.some((r) => r.type === podflow.v1.RecordType.DNS && r.dns?.id === lookup.id));
  const dns = records.find((r) => r.type === podflow.v1.RecordType.DNS && r.dns?.id === lookup.id);
  assert.deepEqual([dns?.dns?.query, dns?.dns?.qtype, dns?.dns?.rcode, dns?.dns?.answers], ['web.pfi.test', 'A', 'NOERROR', [WEB]]);
  assert.deepEqual([dns?.source?.port, dns?.destination?.ip], [lookup.port, DNS_SERVER]);

  const [exchange] = parseClientOutput(await net.run('cli', process.execPath, ['-e', HTTP_CLIENT, WEB, '8080', 'GET /api/users?id=7']));
  await waitFor('the HTTP record', () => records.some((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === exchange?.localPort));
  const http = records.find((r) => r.type === podflow.v1.RecordType.HTTP && r.source?.port === exchange?.localPort);
  assert.deepEqual([http?.http?.method, http?.http?.path, http?.http?.status, http?.http?.host], ['GET', '/api/users?id=7', 200, 'backend.pfl.test']);
  assert.deepEqual(http?.destination, newEndpoint(WEB, 8080));

  const running = new Map(manager.status().map((s) => [s.probe, s]));
  assert.ok((running.get('dns')?.eventsSeen ?? 0) >= 2, 'dns counted the query and the response');
  assert.ok((running.get('http')?.eventsSeen ?? 0) >= 1);

  const stopping = manager;
  await manager.stop();
  manager = undefined;
  // The totals stay answerable after stop (the agent's last LOSS records are made then), with those known
  // only at stop.
  const final = new Set(stopping.losses().map((l) => l.reason));
  for (const reason of ['http:pending_at_stop', 'dns:pending_at_stop', 'http:ringbuf_full', 'flows:map_full']) assert.ok(final.has(reason), `${reason} after stop: ${[...final].join(', ')}`);
  // The kernel frees a program after its last reference in deferred work: allow it a moment.
  let left = loaded;
  for (let i = 0; i < 40 && left.length > 0; i++) {
    await sleep(50);
    const now = new Set(programIds(L7_PROGRAMS));
    left = loaded.filter((id) => now.has(id));
  }
  assert.deepEqual(left, [], 'every dns, http and svc program the manager loaded is gone');
});

test('when the svc programs cannot attach, dns and http run without them, status() says why and it is logged', async () => {
  const warnings: string[] = [];
  // A failed test before this one left its manager running: stopped here, else its timers keep this file alive.
  await manager?.stop();
  manager = createProbeManager({
    log: { warn: (_fields, message) => void warnings.push(message) },
    probes: ['dns', 'http'],
    interfaces: ['pfim*'],
    flowActiveTimeoutMs: 5000,
    flowIdleTimeoutMs: 1000,
    nodeName: 'pfi-node',
    cgroupRoot: '/nonexistent-pfi-cgroup',
    ingress: { ingest: (batch) => void records.push(...batch) },
  });
  await manager.start();
  try {
    for (const s of manager.status()) {
      assert.equal(s.attached, true, s.probe);
      assert.equal(s.skipped.length, 1, `${s.probe}: ${JSON.stringify(s.skipped)}`);
      assert.match(s.skipped[0]?.hook ?? '', /^svc \(svc_connect4/);
      assert.match(s.skipped[0]?.reason ?? '', /service translation .* off: .*nonexistent-pfi-cgroup/);
    }
    assert.equal(warnings.length, 1, 'one warning, for the svc object dns and http share');
    assert.match(warnings[0] ?? '', /nonexistent-pfi-cgroup/);
  } finally {
    await manager.stop();
    manager = undefined;
  }
});
