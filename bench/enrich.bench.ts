// Enrichment at the example cluster size (500 nodes, 10,000 pods,
// 2,000 services): the Kubernetes source syncs it from the test API server
// over real HTTP, then we measure cache heap, enrich() throughput, and the
// time from a pod's creation in the API to its first enriched record.
// The API server runs in a child process so that the heap measured here is
// the enrichment cache alone.
// Run: node dist/bench/enrich.bench.js   (last line: one JSON result object)
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { podflow } from '../src/proto/gen/flow.js';
import type { FlowRecord } from '../src/pipeline/types.js';
import { MetadataEnricher } from '../src/enrich/enricher.js';
import { ipv4Key } from '../src/enrich/ip.js';
import { KubernetesSource } from '../src/enrich/sources/kubernetes/source.js';
import { MetadataStore } from '../src/enrich/store.js';
import { type KubeObject, TestApiServer } from '../test/k8s/api-server.js';
import { loadFixture } from '../test/k8s/fixtures.js';

const NODES = 500;
const PODS = 10_000;
const SERVICES = 2_000;
const DEPLOYMENTS = 2_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1048576;
};

const ip = (base: number, i: number): string => `10.235.${base + Math.floor(i / 250)}.${(i % 250) + 1}`;
const nodeIp = (i: number): string => ip(1, i);
const podIp = (i: number): string => ip(16, i);
const serviceIp = (i: number): string => ip(200, i);
const hex = (n: number): string => n.toString(16).padStart(64, '0');

function clusterObjects(): Record<'nodes' | 'replicasets' | 'services' | 'endpointslices' | 'pods', KubeObject[]> {
  const [nodeT] = loadFixture('nodes');
  const [rsT] = loadFixture('replicasets');
  const svcT = loadFixture('services')[1]!;
  const sliceT = loadFixture('endpointslices')[0]!;
  const podT = loadFixture('pods')[0]!;
  const nodes = Array.from({ length: NODES }, (_, i) => {
    const n = structuredClone(nodeT!);
    n.metadata = { ...n.metadata, name: `node-${i}`, uid: undefined };
    delete n.metadata.uid;
    n.status.addresses = [{ type: 'InternalIP', address: nodeIp(i) }, { type: 'Hostname', address: `node-${i}` }];
    return n;
  });
  const replicasets = Array.from({ length: DEPLOYMENTS }, (_, d) => {
    const r = structuredClone(rsT!);
    r.metadata = { ...r.metadata, name: `app-${d}-7d9c8b6f4`, namespace: `ns-${d % 50}`, uid: undefined };
    delete r.metadata.uid;
    r.metadata.ownerReferences[0].name = `app-${d}`;
    return r;
  });
  const services = Array.from({ length: SERVICES }, (_, s) => {
    const o = structuredClone(svcT);
    o.metadata = { ...o.metadata, name: `app-${s}`, namespace: `ns-${s % 50}`, uid: undefined };
    delete o.metadata.uid;
    o.spec.clusterIP = serviceIp(s);
    o.spec.clusterIPs = [serviceIp(s)];
    return o;
  });
  const pods = Array.from({ length: PODS }, (_, i) => podObject(podT, i));
  const endpointslices = Array.from({ length: SERVICES }, (_, s) => {
    const o = structuredClone(sliceT);
    o.metadata = { ...o.metadata, name: `app-${s}-x1`, namespace: `ns-${s % 50}`, uid: undefined };
    delete o.metadata.uid;
    o.metadata.labels['kubernetes.io/service-name'] = `app-${s}`;
    o.endpoints = [0, 1, 2, 3, 4].map((k) => ({ addresses: [podIp(s * 5 + k)], conditions: { ready: true } }));
    return o;
  });
  return { nodes, replicasets, services, endpointslices, pods };
}

function podObject(template: KubeObject, i: number, ipOverride?: string): KubeObject {
  const p = structuredClone(template);
  const d = Math.floor(i / 5) % DEPLOYMENTS;
  p.metadata = { ...p.metadata, name: `app-${d}-7d9c8b6f4-${i.toString(36)}`, namespace: `ns-${d % 50}`, uid: undefined };
  delete p.metadata.uid;
  p.metadata.labels = { ...p.metadata.labels, app: `app-${d}` };
  p.metadata.ownerReferences[0].name = `app-${d}-7d9c8b6f4`;
  p.spec.nodeName = `node-${i % NODES}`;
  const addr = ipOverride ?? podIp(i);
  p.status.podIP = addr;
  p.status.podIPs = [{ ip: addr }];
  p.status.hostIP = nodeIp(i % NODES);
  p.status.containerStatuses = p.status.containerStatuses.map((c: { containerID: string }, k: number) => ({ ...c, containerID: `containerd://${hex(i * 4 + k + 1)}` }));
  return p;
}

const log = (msg: string): void => console.log(msg);
const PORT = 19250;
const NEW_POD_TEMPLATE = 'frontend-7d9c8b6f4-x2x9k';

/** Child process: the API server with the cluster loaded; creates pod k on request. */
async function serveApi(kubeconfig: string): Promise<void> {
  const server = new TestApiServer({ port: PORT, bookmarkIntervalMs: 10_000 });
  await server.start();
  const objects = clusterObjects();
  for (const r of ['nodes', 'replicasets', 'services', 'endpointslices', 'pods'] as const) for (const o of objects[r]) server.create(r, o);
  const podJsonBytes = objects.pods.reduce((n, p) => n + JSON.stringify(p).length, 0);
  server.writeKubeconfig(kubeconfig);
  const template = loadFixture('pods').find((p) => p.metadata.name === NEW_POD_TEMPLATE)!;
  process.on('message', (m: { create?: number; stop?: boolean }) => {
    if (m.create !== undefined) server.create('pods', podObject(template, PODS + m.create, newPodIp(m.create)));
    if (m.stop) void server.stop().then(() => process.exit(0));
  });
  process.send!({ ready: true, podJsonBytes });
}

const newPodIp = (k: number): string => `10.235.120.${k + 1}`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-bench-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--api-server', kubeconfig], { stdio: 'inherit' });
  const { podJsonBytes } = await new Promise<{ podJsonBytes: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { podJsonBytes: number }));
    child.once('exit', (code) => reject(new Error(`API server process exited with ${code}`)));
  });
  const heapBefore = heapMb();

  const store = new MetadataStore({ deletedPodGraceMs: 30_000, labelAllowList: ['app', 'app.kubernetes.io/name'] });
  const source = new KubernetesSource({ store, kubeconfig, watchTimeoutSeconds: 600 });
  const enricher = new MetadataEnricher({ store, sources: [source], cgroups: null });
  const t0 = performance.now();
  await enricher.start();
  await source.synced();
  const syncMs = performance.now() - t0;
  const heapAfter = heapMb();
  const cacheMb = heapAfter - heapBefore;
  log(`synced ${JSON.stringify(enricher.cacheSizes())} in ${syncMs.toFixed(0)} ms; pods as API JSON: ${(podJsonBytes / 1048576).toFixed(1)} MB; cache heap: ${cacheMb.toFixed(1)} MB`);

  // Throughput: a mix of pod->pod, pod->ClusterIP, pod->node and pod->external records.
  const N = 100_000;
  const records: FlowRecord[] = [];
  const nowSec = Math.floor(Date.now() / 1000);
  for (let i = 0; i < N; i++) {
    const src = podIp((i * 7919) % PODS);
    const kind = i % 4;
    const dst = kind === 0 ? podIp((i * 104729) % PODS) : kind === 1 ? serviceIp(i % SERVICES) : kind === 2 ? nodeIp(i % NODES) : `198.51.100.${i % 250}`;
    records.push({
      type: podflow.v1.RecordType.FLOW,
      time: { seconds: nowSec, nanos: 0 },
      source: { ip: src, port: 30000 + (i % 30000) },
      destination: { ip: dst, port: kind === 1 ? 8080 : 443 },
    });
  }
  for (const r of records) enricher.enrich(r); // warm-up
  // Per CPU second (this process's user+system time): the machine may be shared, wall time is noisy.
  let enriched = 0;
  const tThroughput = performance.now();
  const cpu0 = process.cpuUsage();
  while (performance.now() - tThroughput < 3000) {
    for (let i = 0; i < N; i++) enricher.enrich(records[i]!);
    enriched += N;
  }
  const cpu = process.cpuUsage(cpu0);
  const secs = (cpu.user + cpu.system) / 1e6;
  const perSec = enriched / secs;
  const perWallSec = enriched / ((performance.now() - tThroughput) / 1000);
  const resolved = records.filter((r) => r.source?.pod && (r.destination?.pod || r.destination?.service || r.destination?.node)).length;
  log(`enrich: ${(perSec / 1e6).toFixed(2)} M records per CPU second (${((2 * perSec) / 1e6).toFixed(2)} M endpoint lookups; wall: ${(perWallSec / 1e6).toFixed(2)} M/s); resolved both ends: ${resolved}/${N} (a quarter are external by design)`);

  // Creation in the API -> resolvable: 200 pods, one at a time.
  const latencies: number[] = [];
  for (let k = 0; k < 200; k++) {
    const addr = newPodIp(k);
    const key = ipv4Key(addr);
    const start = performance.now();
    child.send({ create: k });
    await new Promise<void>((resolve) => {
      const poll = (): void => {
        if (store.pods.lookup(key, addr, Date.now(), Date.now())) resolve();
        else setImmediate(poll);
      };
      poll();
    });
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  const p50 = latencies[Math.floor(latencies.length * 0.5)]!;
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  log(`pod created in the API -> resolvable: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);

  await enricher.stop();
  child.send({ stop: true });
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  console.log(
    JSON.stringify({
      name: 'enrich_records_per_second',
      value: Math.round(perSec),
      unit: 'records/cpu-s',
      records_per_wall_second: Math.round(perWallSec),
      endpoint_lookups_per_second: Math.round(2 * perSec),
      cache_heap_mb: Number(cacheMb.toFixed(1)),
      pods: PODS,
      services: SERVICES,
      nodes: NODES,
      sync_ms: Math.round(syncMs),
      create_to_resolvable_p50_ms: Number(p50.toFixed(2)),
      create_to_resolvable_p99_ms: Number(p99.toFixed(2)),
      node: process.version,
    }),
  );
}

if (process.argv[2] === '--api-server') await serveApi(process.argv[3]!);
else await main();
