// KubernetesSource against the test API server (test/k8s/): real HTTP, the
// list/watch protocol, and the failures real API servers produce.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ipv4Key } from '../../src/enrich/ip.js';
import { KubernetesSource, type KubernetesSourceOptions, loadKubeConfig } from '../../src/enrich/sources/kubernetes/source.js';
import { MetadataStore } from '../../src/enrich/store.js';
import { TestApiServer, type TestApiServerOptions } from '../k8s/api-server.js';
import { fixturePod, seedCluster } from '../k8s/fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-k8s-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GRACE_MS = 400;
let nextPort = 19201;

interface Cluster {
  server: TestApiServer;
  store: MetadataStore;
  source: KubernetesSource;
  stop(): Promise<void>;
}

async function cluster(serverOpts: TestApiServerOptions = {}, sourceOpts: Partial<KubernetesSourceOptions> = {}, seed = true): Promise<Cluster> {
  const server = new TestApiServer({ port: nextPort++, bookmarkIntervalMs: 200, ...serverOpts });
  await server.start();
  if (seed) seedCluster(server);
  const store = new MetadataStore({ deletedPodGraceMs: GRACE_MS, labelAllowList: ['app', 'app.kubernetes.io/name', 'k8s-app'] });
  const source = new KubernetesSource({
    store,
    kubeconfig: server.writeKubeconfig(path.join(dir, `kubeconfig-${nextPort}`)),
    backoffInitialMs: 50,
    backoffMaxMs: 400,
    watchTimeoutSeconds: 60,
    idleTimeoutMs: 5000,
    ...sourceOpts,
  });
  return {
    server,
    store,
    source,
    async stop() {
      await source.stop();
      await server.stop();
    },
  };
}

const podAt = (store: MetadataStore, ip: string, timeMs = Date.now()): string | undefined =>
  store.pods.lookup(ipv4Key(ip), ip, timeMs, Date.now())?.pod.name ?? undefined;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - start;
}

/** Synced and every watch open. */
async function connected(c: Cluster): Promise<void> {
  await c.source.start();
  await c.source.synced();
  await waitFor('every watch open', () => c.server.watchCount === 6);
}

function newPod(name: string, ip: string, startTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z')) {
  const p = fixturePod('backend-5c6d7f8b9-k4n2p');
  p.metadata = { ...p.metadata, name, uid: undefined, resourceVersion: undefined };
  delete p.metadata.uid;
  p.status = { ...p.status, podIP: ip, podIPs: [{ ip }], startTime };
  return p;
}

test('first sync: the fixture cluster resolves, workloads named through their owners; ready only after it', { timeout: 15_000 }, async () => {
  const c = await cluster();
  try {
    assert.equal(c.source.ready, false);
    await c.source.start();
    await c.source.synced();
    assert.equal(c.source.ready, true);
    await waitFor('every watch open', () => c.server.watchCount === 6);
    const v4 = (ip: string): number => ipv4Key(ip);
    const pod = (ip: string) => c.store.pods.lookup(v4(ip), ip, Date.now(), Date.now())?.pod;
    assert.deepEqual({ ...pod('10.235.1.10')!.workload }, { kind: 'Deployment', name: 'frontend' });
    assert.deepEqual({ ...pod('10.235.1.10')!.labels }, { app: 'frontend' });
    assert.equal(pod('10.235.1.10')!.uid, '5f1c6a1e-2b7d-4c1e-9d0a-0c2b9f3e8a11');
    assert.deepEqual({ ...pod('10.235.1.30')!.workload }, { kind: 'StatefulSet', name: 'redis' });
    assert.deepEqual({ ...pod('10.235.2.40')!.workload }, { kind: 'DaemonSet', name: 'node-exporter' });
    assert.deepEqual({ ...pod('10.235.2.50')!.workload }, { kind: 'CronJob', name: 'report' });
    // kube-proxy runs on the host network: node-a's IP is the node, port 10249 is kube-proxy.
    assert.equal(pod('10.235.0.1'), undefined);
    assert.equal(c.store.nodes.lookup(v4('10.235.0.1'), '10.235.0.1'), 'node-a');
    assert.equal(c.store.nodes.hostPod(v4('10.235.0.1'), '10.235.0.1', 10249)?.pod.name, 'kube-proxy-q9w8e');
    assert.equal(c.store.services.clusterIp(v4('10.235.200.20'), '10.235.200.20', 8080)?.name, 'backend');
    assert.equal(c.store.services.clusterIp(v4('10.235.200.53'), '10.235.200.53', 53)?.namespace, 'kube-system');
    assert.equal(c.store.services.size, 4);
    assert.equal(c.store.services.backend(v4('10.235.2.20'), '10.235.2.20', 8080)?.name, 'backend');
    // Not ready endpoints are not backends.
    assert.equal(c.store.services.backend(v4('10.235.2.21'), '10.235.2.21', 8080), undefined);
    const redisCtr = fixturePod('redis-0').status.containerStatuses[0].containerID.replace('cri-o://', '');
    assert.equal(c.store.containers.get(redisCtr)?.pod.container, 'redis');
  } finally {
    await c.stop();
  }
});

test('pods created, updated and deleted through the API: resolvable within 500 ms, deleted ones for the grace period', { timeout: 15_000 }, async () => {
  const c = await cluster();
  try {
    await connected(c);
    c.server.create('pods', newPod('backend-5c6d7f8b9-new01', '10.235.2.60'));
    const ms = await waitFor('new pod', () => podAt(c.store, '10.235.2.60') === 'backend-5c6d7f8b9-new01');
    assert.ok(ms < 500, `took ${ms} ms`);
    // Label change reaches the metadata.
    const p = c.server.get('pods', 'default', 'backend-5c6d7f8b9-new01')!;
    p.metadata.labels = { ...p.metadata.labels, app: 'backend-canary' };
    c.server.update('pods', p);
    await waitFor('label update', () => c.store.pods.lookup(ipv4Key('10.235.2.60'), '10.235.2.60', Date.now(), Date.now())?.pod.labels?.app === 'backend-canary');
    // Deleted: still resolves, for the grace period only.
    c.server.delete('pods', 'default', 'backend-5c6d7f8b9-new01');
    await waitFor('delete event', () => c.store.pods.get(p.metadata.uid!)?.deletedMs !== Infinity);
    assert.equal(podAt(c.store, '10.235.2.60'), 'backend-5c6d7f8b9-new01');
    await new Promise((r) => setTimeout(r, GRACE_MS + 50));
    assert.equal(podAt(c.store, '10.235.2.60'), undefined);
    // A finished Job pod releases its IP the same way.
    const job = c.server.get('pods', 'batch', 'report-29408640-hx8vq')!;
    job.status.phase = 'Succeeded';
    c.server.update('pods', job);
    await waitFor('finished pod marked', () => c.store.pods.get(job.metadata.uid!)?.deletedMs !== Infinity);
  } finally {
    await c.stop();
  }
});

test('IP reuse: a new pod with a deleted pod\'s IP owns it from its start time', { timeout: 15_000 }, async () => {
  const c = await cluster();
  try {
    await connected(c);
    const oldStart = Date.parse('2026-11-29T08:14:03Z');
    c.server.delete('pods', 'default', 'backend-5c6d7f8b9-k4n2p');
    const newStart = new Date(Math.floor(Date.now() / 1000) * 1000);
    c.server.create('pods', newPod('backend-5c6d7f8b9-reuse', '10.235.2.20', newStart.toISOString().replace(/\.\d+Z$/, 'Z')));
    await waitFor('new owner', () => podAt(c.store, '10.235.2.20') === 'backend-5c6d7f8b9-reuse');
    assert.equal(podAt(c.store, '10.235.2.20', oldStart + 60_000), 'backend-5c6d7f8b9-k4n2p');
    assert.equal(podAt(c.store, '10.235.2.20', newStart.getTime() + 1), 'backend-5c6d7f8b9-reuse');
  } finally {
    await c.stop();
  }
});

test('a dropped watch resumes from the last resourceVersion, without a re-list', { timeout: 15_000 }, async () => {
  const c = await cluster();
  try {
    await connected(c);
    const rvBefore = c.server.resourceVersion;
    c.server.dropWatches();
    c.server.create('pods', newPod('after-drop', '10.235.2.61'));
    await waitFor('pod created after the drop', () => podAt(c.store, '10.235.2.61') === 'after-drop');
    assert.equal(c.server.requests['pods list'], 1);
    const versions = c.server.watchVersions.pods!;
    assert.ok(versions.length >= 2);
    // Seeding ends with the pods, so the pods watch had seen everything up to rvBefore.
    assert.ok(Number(versions.at(-1)) >= rvBefore, `resumed from ${versions.at(-1)}, expected >= ${rvBefore}`);
  } finally {
    await c.stop();
  }
});

for (const goneAsHttpStatus of [false, true]) {
  test(`410 Gone (${goneAsHttpStatus ? 'HTTP status' : 'ERROR event in the stream'}): re-list; objects deleted meanwhile go, new ones come`, { timeout: 15_000 }, async () => {
    const c = await cluster({ goneAsHttpStatus });
    try {
      await c.source.start();
      await c.source.synced();
      // While the agent is disconnected, a pod goes, another comes, and the history is compacted.
      c.server.dropWatches();
      c.server.delete('pods', 'data', 'redis-0');
      c.server.create('pods', newPod('during-gap', '10.235.2.62'));
      c.server.compact();
      await waitFor('pod from the re-list', () => podAt(c.store, '10.235.2.62') === 'during-gap');
      await waitFor('vanished pod marked deleted', () => c.store.pods.get('c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e74')?.deletedMs !== Infinity);
      assert.ok(c.source.stats().pods_relists_gone! >= 1);
      assert.ok(c.server.requests['pods list']! >= 2);
      // The deleted pod still resolves for the grace period, then not.
      assert.equal(podAt(c.store, '10.235.1.30'), 'redis-0');
      await new Promise((r) => setTimeout(r, GRACE_MS + 50));
      assert.equal(podAt(c.store, '10.235.1.30'), undefined);
    } finally {
      await c.stop();
    }
  });
}

test('API server restart: the cache answers while it is down; changes made meanwhile arrive after reconnect', { timeout: 20_000 }, async () => {
  const c = await cluster();
  try {
    await connected(c);
    await c.server.stop();
    // Down: lookups keep answering from the cache.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(podAt(c.store, '10.235.1.10'), 'frontend-7d9c8b6f4-x2x9k');
    assert.ok(c.source.stats().pods_errors! >= 1, 'the reflector noticed the outage');
    c.server.create('pods', newPod('while-down', '10.235.2.63'));
    c.server.compact();
    await c.server.start();
    await waitFor('pod created while the server was down', () => podAt(c.store, '10.235.2.63') === 'while-down', 8000);
    assert.equal(podAt(c.store, '10.235.1.10'), 'frontend-7d9c8b6f4-x2x9k');
    assert.equal(c.source.ready, true);
    await waitFor('all watches back', () => c.server.watchCount === 6, 8000);
  } finally {
    await c.stop();
  }
});

test('bookmarks move the resourceVersion on: a resumed watch starts past other resources\' changes', { timeout: 15_000 }, async () => {
  const c = await cluster({ bookmarkIntervalMs: 50 });
  try {
    await connected(c);
    const svc = c.server.create('services', { metadata: { name: 'extra', namespace: 'default' }, spec: { clusterIP: '10.235.200.99', clusterIPs: ['10.235.200.99'], ports: [{ port: 80 }] } });
    const svcRv = Number(svc.metadata.resourceVersion);
    await waitFor('a bookmark after the service change', () => c.source.stats().pods_bookmarks! >= 2);
    await new Promise((r) => setTimeout(r, 120));
    c.server.dropWatches();
    await waitFor('pods watch resumed', () => (c.server.watchVersions.pods?.length ?? 0) >= 2);
    assert.ok(Number(c.server.watchVersions.pods!.at(-1)) >= svcRv, `pods watch resumed from ${c.server.watchVersions.pods!.at(-1)}, service at ${svcRv}`);
    assert.equal(c.server.requests['pods list'], 1);
  } finally {
    await c.stop();
  }
});

test('HTTPS with the cluster CA from the kubeconfig, as against a real API server', { timeout: 15_000 }, async () => {
  const c = await cluster({ tls: true });
  try {
    assert.match(c.server.url, /^https:/);
    await connected(c);
    c.server.create('pods', newPod('over-tls', '10.235.2.65'));
    await waitFor('pod over TLS', () => podAt(c.store, '10.235.2.65') === 'over-tls');
    // The certificate is checked: another CA's kubeconfig for the same address is refused.
    const impostorCa = new TestApiServer({ tls: true, port: Number(new URL(c.server.url).port) });
    const kubeconfig = impostorCa.writeKubeconfig(path.join(dir, 'kubeconfig-other-ca'));
    const other = new KubernetesSource({ store: new MetadataStore({ deletedPodGraceMs: 1, labelAllowList: [] }), kubeconfig, backoffInitialMs: 50 });
    try {
      await other.start();
      await waitFor('TLS failure', () => (other.stats().nodes_errors ?? 0) >= 1);
      assert.match(other.errors().nodes ?? '', /self-signed certificate/);
      assert.equal(other.ready, false);
    } finally {
      await other.stop();
    }
  } finally {
    await c.stop();
  }
});

test('lists are paged (limit/continue) and still complete', { timeout: 15_000 }, async () => {
  const c = await cluster({}, { pageSize: 2 });
  try {
    await connected(c);
    assert.equal(c.server.requests['pods list'], 3);
    assert.equal(c.store.pods.size, 5);
    assert.equal(c.store.nodes.hostPodCount, 1);
  } finally {
    await c.stop();
  }
});

test('a silent watch (dead connection) is detected and replaced', { timeout: 15_000 }, async () => {
  const c = await cluster({ bookmarkIntervalMs: 60_000 }, { idleTimeoutMs: 300 });
  try {
    await connected(c);
    await waitFor('idle watch replaced', () => (c.server.watchVersions.pods?.length ?? 0) >= 2, 3000);
    c.server.create('pods', newPod('after-idle', '10.235.2.64'));
    await waitFor('pod after idle reconnect', () => podAt(c.store, '10.235.2.64') === 'after-idle');
  } finally {
    await c.stop();
  }
});

test('a rejected token: not ready, the error says 401, retried with backoff', { timeout: 15_000 }, async () => {
  const c = await cluster({ token: 'right-token' });
  const kubeconfig = c.server.writeKubeconfig(path.join(dir, 'kubeconfig-wrong'), { token: 'wrong-token' });
  const source = new KubernetesSource({ store: c.store, kubeconfig, backoffInitialMs: 50, backoffMaxMs: 100 });
  try {
    await source.start();
    await waitFor('two failed attempts', () => (source.stats().nodes_errors ?? 0) >= 2);
    assert.equal(source.ready, false);
    assert.match(source.errors().nodes ?? '', /HTTP 401/);
  } finally {
    await source.stop();
    await c.stop();
  }
});

test('loadKubeConfig: explicit file, $KUBECONFIG, ~/.kube/config; none at all is a clear error', () => {
  const server = new TestApiServer({ port: 19230 });
  const file = server.writeKubeconfig(path.join(dir, 'kubeconfig-load'));
  assert.equal(loadKubeConfig(file, {}).getCurrentCluster()?.server, 'http://127.0.0.1:19230');
  assert.equal(loadKubeConfig(undefined, { KUBECONFIG: file, HOME: dir }).getCurrentCluster()?.server, 'http://127.0.0.1:19230');
  const home = mkdtempSync(path.join(dir, 'home-'));
  mkdirSync(path.join(home, '.kube'));
  copyFileSync(file, path.join(home, '.kube', 'config'));
  assert.equal(loadKubeConfig(undefined, { HOME: home }).getCurrentCluster()?.server, 'http://127.0.0.1:19230');
  assert.throws(() => loadKubeConfig(undefined, { HOME: dir }), /cannot load kubeconfig: none found: pass --kubeconfig, set KUBECONFIG/);
  assert.throws(() => loadKubeConfig(path.join(dir, 'missing'), {}), /cannot load kubeconfig .*missing: .*ENOENT/);
});
