import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4Key } from '../../src/enrich/ip.js';
import { type PodInfo, podMeta } from '../../src/enrich/model.js';
import { PodIndex } from '../../src/enrich/pod-index.js';
import { ServiceIndex } from '../../src/enrich/service-index.js';
import { MetadataStore } from '../../src/enrich/store.js';

function pod(name: string, ip: string, startMs: number, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    key: `uid-${name}`,
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    labels: { app: name, secret: 'x' },
    workload: { kind: 'Deployment', name },
    node: 'node-a',
    hostNetwork: false,
    ips: [ip],
    hostIp: '10.235.0.1',
    startMs,
    containers: [],
    ports: [],
    ...extra,
  };
}

const at = (idx: PodIndex, ip: string, t: number, now = t): string | undefined => idx.lookup(ipv4Key(ip), ip, t, now)?.pod.name ?? undefined;

test('PodIndex: IP reuse resolves by record time, deleted pods stay for the grace period', () => {
  const idx = new PodIndex(30_000);
  const a = pod('old', '10.235.1.5', 1000);
  idx.upsert(a.key, podMeta(a, a.labels), a.node, a.ips, a.startMs);
  assert.equal(at(idx, '10.235.1.5', 2000), 'old');
  idx.markDeleted(a.key, 5000);
  const b = pod('new', '10.235.1.5', 6000);
  idx.upsert(b.key, podMeta(b, b.labels), b.node, b.ips, b.startMs);
  // A late record from before the new pod started still belongs to the old pod.
  assert.equal(at(idx, '10.235.1.5', 4000, 7000), 'old');
  assert.equal(at(idx, '10.235.1.5', 6500, 7000), 'new');
  // After the grace period the old pod is gone even for old records.
  assert.equal(at(idx, '10.235.1.5', 4000, 5000 + 30_001), 'new');
  idx.sweep(5000 + 30_001);
  assert.equal(idx.size, 1);
  assert.equal(idx.get(a.key), undefined);
});

test('PodIndex: a deleted pod alone resolves until its grace ends, then is swept', () => {
  const idx = new PodIndex(1000);
  const a = pod('gone', '10.235.1.6', 0);
  idx.upsert(a.key, podMeta(a, a.labels), a.node, a.ips, a.startMs);
  idx.markDeleted(a.key, 10_000);
  assert.equal(at(idx, '10.235.1.6', 10_500, 10_900), 'gone');
  assert.equal(at(idx, '10.235.1.6', 10_500, 11_001), undefined);
  idx.sweep(11_001);
  assert.equal(idx.size, 0);
});

test('PodIndex: an updated pod moves to its new IP; IPv6 works', () => {
  const idx = new PodIndex(1000);
  const a = pod('mover', '10.235.1.7', 0);
  idx.upsert(a.key, podMeta(a, a.labels), a.node, a.ips, 0);
  idx.upsert(a.key, podMeta(a, a.labels), a.node, ['10.235.1.8', 'fd00:235::8'], 0);
  assert.equal(at(idx, '10.235.1.7', 5), undefined);
  assert.equal(at(idx, '10.235.1.8', 5), 'mover');
  assert.equal(idx.lookup(-1, 'fd00:235::8', 5, 5)?.pod.name, 'mover');
});

test('ServiceIndex: ClusterIP with port choice, EndpointSlice backends, removal', () => {
  const idx = new ServiceIndex();
  idx.upsert({ key: 's1', name: 'web', namespace: 'default', ips: ['10.235.200.10'], ports: [80] });
  idx.upsert({ key: 's2', name: 'web-admin', namespace: 'default', ips: ['10.235.200.10'], ports: [9000] });
  const v4 = ipv4Key('10.235.200.10');
  assert.equal(idx.clusterIp(v4, '10.235.200.10', 80)?.name, 'web');
  assert.equal(idx.clusterIp(v4, '10.235.200.10', 9000)?.name, 'web-admin');
  idx.setBackends({ key: 'slice-1', service: { name: 'web', namespace: 'default' }, ips: ['10.235.1.10'], ports: [8080] });
  const b = ipv4Key('10.235.1.10');
  assert.equal(idx.backend(b, '10.235.1.10', 8080)?.name, 'web');
  assert.equal(idx.backend(b, '10.235.1.10', 22), undefined);
  idx.removeBackends('slice-1');
  assert.equal(idx.backend(b, '10.235.1.10', 8080), undefined);
  idx.remove('s1');
  assert.equal(idx.clusterIp(v4, '10.235.200.10', 80)?.name, 'web-admin');
});

test('MetadataStore: labels filtered by the allow-list, metadata frozen and shared', () => {
  const store = new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: ['app', 'team.example.com/*'] });
  store.upsertPod(pod('web', '10.235.1.9', 0, { labels: { app: 'web', 'team.example.com/owner': 'shop', secret: 'no' } }));
  const e1 = store.pods.lookup(ipv4Key('10.235.1.9'), '10.235.1.9', 1, 1)!;
  const e2 = store.pods.lookup(ipv4Key('10.235.1.9'), '10.235.1.9', 2, 2)!;
  assert.deepEqual({ ...e1.pod.labels }, { app: 'web', 'team.example.com/owner': 'shop' });
  assert.equal(e1.pod, e2.pod);
  assert.ok(Object.isFrozen(e1.pod) && Object.isFrozen(e1.pod.labels) && Object.isFrozen(e1.pod.workload));
});

test('MetadataStore: host-network pods resolve by node IP and declared port, not by IP alone', () => {
  const store = new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: [] });
  store.upsertNode({ name: 'node-a', ips: ['10.235.0.1'] });
  store.upsertPod(pod('kube-proxy', '10.235.0.1', 0, { hostNetwork: true, ports: [10249] }));
  const v4 = ipv4Key('10.235.0.1');
  assert.equal(store.pods.lookup(v4, '10.235.0.1', 1, 1), undefined);
  assert.equal(store.nodes.lookup(v4, '10.235.0.1'), 'node-a');
  assert.equal(store.nodes.hostPod(v4, '10.235.0.1', 10249)?.pod.name, 'kube-proxy');
  assert.equal(store.nodes.hostPod(v4, '10.235.0.1', 22), undefined);
  store.deletePod('uid-kube-proxy', 5);
  assert.equal(store.nodes.hostPod(v4, '10.235.0.1', 10249), undefined);
});

test('MetadataStore: containers map to pod+container, and outlive a deleted pod for the grace period', () => {
  const store = new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: ['app'] });
  const id = 'a'.repeat(64);
  store.upsertPod(pod('api', '10.235.1.11', 0, { containers: [{ name: 'server', id }] }));
  const c = store.containers.get(id)!;
  assert.equal(c.pod.name, 'api');
  assert.equal(c.pod.container, 'server');
  store.deletePod('uid-api', 10_000);
  store.sweep(10_500);
  assert.ok(store.containers.get(id));
  store.sweep(11_001);
  assert.equal(store.containers.get(id), undefined);
  assert.equal(store.pods.size, 0);
});
