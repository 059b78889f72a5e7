import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { CgroupResolver, findCgroup2Root } from '../../src/enrich/cgroup.js';
import { MetadataEnricher } from '../../src/enrich/enricher.js';
import type { PodInfo } from '../../src/enrich/model.js';
import { MetadataStore } from '../../src/enrich/store.js';
import { createEnricher } from '../../src/enrich/index.js';
import { FIXTURE_DIR } from '../k8s/fixtures.js';

function pod(name: string, ip: string, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    key: `uid-${name}`,
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    labels: { app: name, 'pod-template-hash': 'abc' },
    workload: { kind: 'Deployment', name },
    node: 'node-a',
    hostNetwork: false,
    ips: [ip],
    hostIp: '10.235.0.1',
    startMs: Date.parse('2026-11-29T08:00:00Z'),
    containers: [],
    ports: [],
    ...extra,
  };
}

const CTR = 'c'.repeat(64);
const store = new MetadataStore({ deletedPodGraceMs: 60_000, labelAllowList: ['app'] });
store.upsertNode({ name: 'node-a', ips: ['10.235.0.1'] });
store.upsertNode({ name: 'node-b', ips: ['10.235.0.2'] });
store.upsertPod(pod('frontend-7d9', '10.235.1.10', { containers: [{ name: 'frontend', id: CTR }] }));
store.upsertPod(pod('backend-5c2', '10.235.2.20', { node: 'node-b' }));
store.upsertPod(pod('kube-proxy-q9w8e', '10.235.0.1', { hostNetwork: true, ports: [10249], workload: { kind: 'DaemonSet', name: 'kube-proxy' } }));
store.upsertService({ key: 's-backend', name: 'backend', namespace: 'default', ips: ['10.235.200.20'], ports: [8080] });
store.setBackends({ key: 'slice-backend', service: { name: 'backend', namespace: 'default' }, ips: ['10.235.2.20'], ports: [8080] });
store.setNetworks('config', [{ cidr: '203.0.113.0/24', name: 'partner-api' }]);

const cgroupRoot = await findCgroup2Root();
const enricher = new MetadataEnricher({
  store,
  sources: [],
  cgroups: cgroupRoot ? new CgroupResolver({ root: cgroupRoot, minRescanIntervalMs: 10, maxDepth: 6 }) : null,
});
after(() => enricher.stop());

const ts = (iso: string): { seconds: number; nanos: number } => ({ seconds: Date.parse(iso) / 1000, nanos: 0 });

function flow(src: string, sport: number, dst: string, dport: number, extra: Partial<FlowRecord> = {}): FlowRecord {
  return {
    type: podflow.v1.RecordType.FLOW,
    time: ts('2026-11-29T09:00:00Z'),
    source: { ip: src, port: sport },
    destination: { ip: dst, port: dport },
    transport: { protocol: podflow.v1.Protocol.TCP, ipVersion: 4 },
    ...extra,
  };
}

test('enrich: pod to pod, with the destination named as a Service backend (EndpointSlice)', () => {
  const r = flow('10.235.1.10', 40000, '10.235.2.20', 8080);
  enricher.enrich(r);
  assert.deepEqual(podflow.v1.FlowRecord.toObject(podflow.v1.FlowRecord.fromObject(r), { enums: String }).source, {
    ip: '10.235.1.10',
    port: 40000,
    pod: { name: 'frontend-7d9', namespace: 'default', uid: 'uid-frontend-7d9', labels: { app: 'frontend-7d9' }, workload: { kind: 'Deployment', name: 'frontend-7d9' } },
    node: 'node-a',
  });
  assert.equal(r.destination!.pod!.name, 'backend-5c2');
  assert.equal(r.destination!.node, 'node-b');
  assert.deepEqual({ ...r.destination!.service }, { name: 'backend', namespace: 'default' });
  // pod-template-hash is not on the allow-list
  assert.deepEqual(Object.keys(r.source!.pod!.labels!), ['app']);
});

test('enrich: ClusterIP destination and the original destination of a translated connection name the Service', () => {
  const r1 = flow('10.235.1.10', 40001, '10.235.200.20', 8080);
  enricher.enrich(r1);
  assert.equal(r1.destination!.service!.name, 'backend');
  assert.equal(r1.destination!.pod, undefined);
  const r2 = flow('10.235.1.10', 40002, '10.235.2.20', 8080, { originalDestination: { ip: '10.235.200.20', port: 8080 } });
  enricher.enrich(r2);
  assert.equal(r2.originalDestination!.service!.name, 'backend');
  assert.equal(r2.destination!.service!.name, 'backend');
  assert.equal(r2.destination!.pod!.name, 'backend-5c2');
});

test('enrich: node IPs are hostNetwork endpoints; a host-network pod is named by its declared port', () => {
  const r = flow('10.235.0.1', 10249, '10.235.0.2', 10250);
  enricher.enrich(r);
  assert.equal(r.source!.hostNetwork, true);
  assert.equal(r.source!.node, 'node-a');
  assert.equal(r.source!.pod!.name, 'kube-proxy-q9w8e');
  assert.deepEqual({ ...r.source!.pod!.workload }, { kind: 'DaemonSet', name: 'kube-proxy' });
  assert.equal(r.destination!.hostNetwork, true);
  assert.equal(r.destination!.node, 'node-b');
  assert.equal(r.destination!.pod, undefined);
});

test('enrich: external IPs get the configured network name or stay bare', () => {
  const r = flow('10.235.1.10', 40003, '203.0.113.9', 443);
  enricher.enrich(r);
  assert.equal(r.destination!.network, 'partner-api');
  const bare = flow('10.235.1.10', 40004, '198.51.100.7', 443);
  enricher.enrich(bare);
  assert.deepEqual(bare.destination, { ip: '198.51.100.7', port: 443 });
});

test('enrich: metadata objects are shared between records, not rebuilt', () => {
  const a = flow('10.235.1.10', 1, '10.235.2.20', 8080);
  const b = flow('10.235.1.10', 2, '10.235.2.20', 8080);
  enricher.enrich(a);
  enricher.enrich(b);
  assert.equal(a.source!.pod, b.source!.pod);
  assert.equal(a.destination!.service, b.destination!.service);
  assert.ok(Object.isFrozen(a.source!.pod));
});

test('enrich: IP reuse resolves by the record\'s time', () => {
  const s = new MetadataStore({ deletedPodGraceMs: 60_000, labelAllowList: [] });
  const e = new MetadataEnricher({ store: s, sources: [], cgroups: null });
  s.upsertPod(pod('old', '10.235.1.50', { startMs: Date.parse('2026-11-29T08:00:00Z') }));
  s.deletePod('uid-old', Date.now());
  s.upsertPod(pod('new', '10.235.1.50', { startMs: Date.parse('2026-11-29T09:00:00Z') }));
  const before = flow('10.235.1.50', 1, '10.235.2.20', 80, { time: ts('2026-11-29T08:30:00Z') });
  const afterStart = flow('10.235.1.50', 1, '10.235.2.20', 80, { time: ts('2026-11-29T09:00:05Z') });
  e.enrich(before);
  e.enrich(afterStart);
  assert.equal(before.source!.pod!.name, 'old');
  assert.equal(afterStart.source!.pod!.name, 'new');
});

test('enrich: process container id names pod and container of the local end (client or server side)', () => {
  const client = flow('10.235.1.10', 40005, '10.235.2.20', 8080, {
    type: podflow.v1.RecordType.TCP_OPEN,
    process: { pid: 10, command: 'frontend', containerId: CTR },
    observation: { probe: 'tcp', side: podflow.v1.Side.CLIENT },
  });
  enricher.enrich(client);
  assert.equal(client.source!.pod!.container, 'frontend');
  assert.equal(client.source!.pod!.name, 'frontend-7d9');
  const server = flow('10.235.2.20', 40006, '10.235.1.10', 8080, {
    type: podflow.v1.RecordType.TCP_OPEN,
    process: { pid: 11, command: 'frontend', containerId: CTR },
    observation: { probe: 'tcp', side: podflow.v1.Side.SERVER },
  });
  enricher.enrich(server);
  assert.equal(server.destination!.pod!.container, 'frontend');
  assert.equal(server.source!.pod!.container, undefined);
});

test('enrich: process cgroup id -> container id through the real cgroup v2 tree', { timeout: 10_000 }, async () => {
  assert.ok(cgroupRoot, 'no cgroup v2 mount');
  const uid = '11111111-2222-4333-8444-555555555555';
  const dirs = [`pfe-enrich-${process.pid}`, 'kubepods', 'besteffort', `pod${uid}`, CTR].map((_, i, all) => path.join(cgroupRoot, ...all.slice(0, i + 1)));
  for (const d of dirs) mkdirSync(d);
  try {
    const cgroupId = Number(statSync(dirs.at(-1)!).ino);
    const r = (): FlowRecord => flow('10.235.1.10', 40007, '10.235.2.20', 8080, { process: { pid: 12, cgroupId }, observation: { side: podflow.v1.Side.CLIENT } });
    let rec = r();
    enricher.enrich(rec); // first sight: a miss starts a rescan
    const deadline = Date.now() + 5000;
    while (rec.process!.containerId !== CTR && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      rec = r();
      enricher.enrich(rec);
    }
    assert.equal(rec.process!.containerId, CTR);
    assert.equal(rec.source!.pod!.container, 'frontend');
    assert.ok(enricher.counters().process_container > 0);
  } finally {
    for (const d of dirs.reverse()) rmdirSync(d);
  }
});

test('enrich: the enriched record encodes and reads back as canonical JSON', () => {
  const r = flow('10.235.1.10', 40008, '10.235.2.20', 8080);
  enricher.enrich(r);
  const bytes = podflow.v1.FlowRecord.encode(podflow.v1.FlowRecord.fromObject(r)).finish();
  const json = podflow.v1.FlowRecord.toObject(podflow.v1.FlowRecord.decode(bytes), { enums: String, longs: String }) as Record<string, unknown>;
  const src = json.source as { pod: { workload: { kind: string } } };
  assert.equal(src.pod.workload.kind, 'Deployment');
  assert.equal((json.destination as { service: { name: string } }).service.name, 'backend');
  assert.deepEqual(enricher.cacheSizes().pods, 2);
});

test('createEnricher with --metadata-file: the issue\'s example resolves; ready after the load', async () => {
  const e = await createEnricher({ metadataFile: path.join(FIXTURE_DIR, 'static-metadata.yaml'), cgroupRoot: null });
  assert.equal(e.ready, false);
  await e.start();
  try {
    assert.equal(e.ready, true);
    const r = flow('10.200.1.2', 41000, '10.96.0.10', 80);
    const ext = flow('10.200.1.2', 41001, '203.0.113.5', 443);
    e.enrich(r);
    e.enrich(ext);
    const p = r.source!.pod!;
    assert.equal(`${p.namespace}/${p.name} (${p.workload!.kind} ${p.workload!.name})`, 'default/frontend-7d9 (Deployment frontend)');
    assert.equal(r.source!.node, 'node-a');
    assert.deepEqual({ ...r.destination!.service }, { name: 'backend', namespace: 'default' });
    assert.equal(ext.destination!.network, 'partner-api');
    assert.deepEqual(e.sourceStats(), { file_reloads: 0, file_reload_errors: 0 });
  } finally {
    await e.stop();
  }
});

test('enrich: answers kept per address follow every change of pods, Services and backends', () => {
  const s = new MetadataStore({ deletedPodGraceMs: 60_000, labelAllowList: [] });
  const e = new MetadataEnricher({ store: s, sources: [], cgroups: null });
  const at = (iso: string, src: string, dst: string, dport = 8080): FlowRecord => {
    const r = flow(src, 40000, dst, dport, { time: ts(iso) });
    e.enrich(r);
    return r;
  };
  const T = '2026-11-29T09:00:00Z';
  // Neither pod nor Service: the node and network lookups still answer.
  s.upsertNode({ name: 'node-x', ips: ['10.9.0.1'] });
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').source!.node, 'node-x');
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.pod, undefined);
  // A pod takes the address that was unknown.
  s.upsertPod(pod('a', '10.9.1.1', { node: '' }));
  let r = at(T, '10.9.0.1', '10.9.1.1');
  assert.equal(r.destination!.pod!.name, 'a');
  assert.equal(r.destination!.node, undefined); // an empty node name is not set
  // Replaced (same key, new metadata and node), then a backend of a Service on one port only.
  s.upsertPod(pod('a', '10.9.1.1', { node: 'node-x', labels: { v: '2' } }));
  r = at(T, '10.9.0.1', '10.9.1.1');
  assert.equal(r.destination!.node, 'node-x');
  assert.equal(r.destination!.service, undefined);
  s.setBackends({ key: 'slice-a', service: { name: 'svc-a', namespace: 'default' }, ips: ['10.9.1.1'], ports: [8080] });
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.service!.name, 'svc-a');
  assert.equal(at(T, '10.9.0.1', '10.9.1.1', 9090).destination!.service, undefined);
  s.deleteBackends('slice-a');
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.service, undefined);
  // A second owner of the address: the record's time decides again.
  s.deletePod('uid-a', Date.now());
  s.upsertPod(pod('b', '10.9.1.1', { startMs: Date.parse('2026-11-29T10:00:00Z') }));
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.pod!.name, 'a');
  assert.equal(at('2026-11-29T10:00:01Z', '10.9.0.1', '10.9.1.1').destination!.pod!.name, 'b');
  // A ClusterIP on the address wins over the pod; with two Services on it, the port picks.
  s.upsertService({ key: 's1', name: 'one', namespace: 'default', ips: ['10.9.1.1'], ports: [8080] });
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.service!.name, 'one');
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.pod, undefined);
  s.upsertService({ key: 's2', name: 'two', namespace: 'default', ips: ['10.9.1.1'], ports: [53] });
  assert.equal(at(T, '10.9.0.1', '10.9.1.1', 53).destination!.service!.name, 'two');
  assert.equal(at(T, '10.9.0.1', '10.9.1.1', 8080).destination!.service!.name, 'one');
  s.deleteService('s1');
  s.deleteService('s2');
  assert.equal(at('2026-11-29T10:00:01Z', '10.9.0.1', '10.9.1.1').destination!.pod!.name, 'b');
  // Swept after the grace period: only the new pod is left.
  s.sweep(Date.now() + 120_000);
  assert.equal(at(T, '10.9.0.1', '10.9.1.1').destination!.pod!.name, 'b');
  // Addresses that share a cache slot do not answer for each other.
  for (let i = 0; i < 5000; i++) s.upsertPod(pod(`p${i}`, `10.8.${i >> 8}.${i & 255}`));
  for (let i = 0; i < 5000; i++) assert.equal(at(T, '10.9.0.1', `10.8.${i >> 8}.${i & 255}`).destination!.pod!.name, `p${i}`);
  assert.equal(at(T, '10.9.0.1', '10.7.0.1').destination!.pod, undefined);
});
