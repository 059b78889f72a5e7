// Enrichment end to end on the real kernel: two "pods" (network namespaces
// with the fixture cluster's pod IPs), the probe manager, the pipeline with the
// Kubernetes enricher fed by the test API server, and real TCP traffic; the
// records read back as the JSON lines the file sink wrote. The client runs
// inside a cgroup named the way containerd names the frontend container's, so
// socket records resolve cgroup id -> container -> pod.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pipeline } from '../../src/pipeline/pipeline.js';
import { FileSink } from '../../src/pipeline/sinks/file.js';
import { createProbeManager } from '../../src/probes/index.js';
import type { ProbeManager } from '../../src/probes/types.js';
import { createEnricher, findCgroup2Root, type MetadataEnricher } from '../../src/enrich/index.js';
import { TestApiServer } from '../k8s/api-server.js';
import { fixturePod, seedCluster } from '../k8s/fixtures.js';
import { PodNet, sh } from './pod-net.js';

// The fixture cluster's pod IPs (test/k8s/fixtures.ts), on two /24s routed by the node.
const FRONTEND = { name: 'front', ip: '10.235.1.10' };
const BACKEND = { name: 'back', ip: '10.235.2.20' };
const CLUSTER_IP = '10.235.200.20';
const FRONTEND_CONTAINER = String(fixturePod('frontend-7d9c8b6f4-x2x9k').status.containerStatuses[0].containerID).replace('containerd://', '');
const FRONTEND_UID_ = String(fixturePod('frontend-7d9c8b6f4-x2x9k').metadata.uid).replaceAll('-', '_');
let net: PodNet;

function quiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // cleanup of something that may not exist
  }
}

const SERVER = `
import net from 'node:net';
net.createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); s.on('end', () => s.end('pong')); })
  .listen(8080, '0.0.0.0', () => console.log('ready'));
`;

// Connects to argv[1]:8080 argv[2] times; prints each local port.
const CLIENT = `
import net from 'node:net';
const [host, count] = [process.argv[1], Number(process.argv[2])];
for (let i = 0; i < count; i++) {
  await new Promise((resolve, reject) => {
    const s = net.connect(8080, host);
    s.on('error', reject);
    s.on('connect', () => { console.log(s.localPort); s.end('ping'.repeat(100)); });
    s.on('data', () => {});
    s.on('close', resolve);
  });
}
`;

/** What these tests read of a record in proto3 JSON (enums by name). */
interface JsonEndpoint {
  ip?: string;
  port?: number;
  node?: string;
  pod?: { name?: string; namespace?: string; container?: string; workload?: unknown; labels?: unknown };
  service?: { name?: string; namespace?: string };
}
interface JsonRecord {
  type: string;
  source?: JsonEndpoint;
  destination?: JsonEndpoint;
  observation?: { side?: string };
  process?: { containerId?: string };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-e2e-'));
const recordsFile = path.join(dir, 'records.jsonl');

/** The records of the pods' addresses the file sink has written so far (complete lines only). */
function records(): JsonRecord[] {
  if (!existsSync(recordsFile)) return [];
  const text = readFileSync(recordsFile, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as JsonRecord)
    .filter((r) => [r.source?.ip, r.destination?.ip].some((ip) => ip?.startsWith('10.235.')));
}
const api = new TestApiServer({ port: 19240 });
let enricher: MetadataEnricher;
let pipeline: Pipeline;
let manager: ProbeManager;
const cgroupDirs: string[] = [];

before(async () => {
  net = new PodNet('pfre', '10.235.1', [FRONTEND, BACKEND], { gateway: 1 });
  // kube-proxy's job, done with nftables inside the client pod: ClusterIP:8080 -> backend pod.
  net.exec(FRONTEND.name, 'nft', ['-f', '-'], `table ip pfe_nat {
  chain output { type nat hook output priority -100; ip daddr ${CLUSTER_IP} tcp dport 8080 dnat to ${BACKEND.ip}:8080; }
}
`);
  const root = findCgroup2Root();
  assert.ok(root, 'cgroup v2 mount');
  const parts = [`pfe-e2e-${process.pid}`, 'kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${FRONTEND_UID_}.slice`, `cri-containerd-${FRONTEND_CONTAINER}.scope`];
  for (let i = 1; i <= parts.length; i++) {
    const d = path.join(root, ...parts.slice(0, i));
    mkdirSync(d);
    cgroupDirs.push(d);
  }

  await api.start();
  seedCluster(api);
  enricher = await createEnricher({
    kubernetes: { kubeconfig: api.writeKubeconfig(path.join(dir, 'kubeconfig')) },
    labelAllowList: ['app'],
    cgroupRoot: root,
  });
  await enricher.start();
  const deadline = Date.now() + 60_000;
  while (!enricher.ready && Date.now() < deadline) await sleep(20);
  assert.ok(enricher.ready, 'enricher synced with the API server');

  pipeline = new Pipeline({ nodeName: 'node-a', sinks: [new FileSink({ path: recordsFile, format: 'json', productVersion: 'test' })], enricher, lossIntervalMs: 0 });
  await pipeline.start();
  manager = createProbeManager({
    probes: ['flows', 'tcp'],
    interfaces: net.hostInterfaces().map((i) => i.name),
    flowActiveTimeoutMs: 2000,
    flowIdleTimeoutMs: 500,
    nodeName: 'node-a',
    interfacePollMs: 200,
    ingress: pipeline,
    cgroupRoot: root,
  });
  await manager.start();
  await PodNet.ready(net.spawn(BACKEND.name, process.execPath, ['--input-type=module', '-e', SERVER]), 'the server');
});

after(async () => {
  try {
    await manager?.stop();
    await pipeline?.stop(2000);
    await enricher?.stop();
    await api.stop();
  } finally {
    net?.destroy(); // also kills the server
    for (const d of cgroupDirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // still populated for a moment after the client exits
        await sleep(200);
        quiet('rmdir', [d]);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the client in the frontend pod's netns and container cgroup; returns its local ports. */
async function clientConnects(host: string, count: number): Promise<number[]> {
  const out = await net.run(FRONTEND.name, process.execPath, ['--input-type=module', '-e', CLIENT, host, String(count)], cgroupDirs.at(-1));
  return out.trim().split('\n').map(Number);
}

async function waitRecords(what: string, pick: (r: JsonRecord) => boolean, count: number): Promise<JsonRecord[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const all = records();
    const got = all.filter(pick);
    if (got.length >= count) return got;
    if (Date.now() > deadline) assert.fail(`${what}: expected ${count}, got ${got.length} (of ${all.length} records)`);
    await sleep(50);
  }
}

test('flows between the pods carry pod, workload, node and the backend\'s Service', async () => {
  const ports = new Set(await clientConnects(BACKEND.ip, 3));
  const flows = await waitRecords('FLOW records of the connections', (r) => r.type === 'FLOW' && ports.has(r.source?.port ?? 0) && r.destination?.port === 8080, 1);
  for (const r of flows) {
    assert.equal(r.source?.ip, FRONTEND.ip);
    assert.equal(r.source?.pod?.name, 'frontend-7d9c8b6f4-x2x9k');
    assert.equal(r.source?.pod?.namespace, 'default');
    assert.deepEqual(r.source?.pod?.workload, { kind: 'Deployment', name: 'frontend' });
    assert.deepEqual(r.source?.pod?.labels, { app: 'frontend' });
    assert.equal(r.source?.node, 'node-a');
    assert.equal(r.destination?.pod?.name, 'backend-5c6d7f8b9-k4n2p');
    assert.equal(r.destination?.node, 'node-b');
    assert.equal(r.destination?.service?.name, 'backend');
  }
});

test('socket records: the client\'s cgroup names its container; a connect to the ClusterIP names the Service', async () => {
  const ports = new Set(await clientConnects(CLUSTER_IP, 2));
  const opens = await waitRecords('client TCP_OPEN', (r) => r.type === 'TCP_OPEN' && r.observation?.side === 'CLIENT' && ports.has(r.source?.port ?? 0), 2);
  for (const r of opens) {
    assert.equal(r.destination?.ip, CLUSTER_IP, 'the socket\'s destination is the ClusterIP it connected to');
    assert.equal(r.destination?.service?.name, 'backend');
    assert.equal(r.destination?.service?.namespace, 'default');
    assert.equal(r.process?.containerId, FRONTEND_CONTAINER);
    assert.equal(r.source?.pod?.name, 'frontend-7d9c8b6f4-x2x9k');
    assert.equal(r.source?.pod?.container, 'frontend');
  }
  // The packets on the wire went to the backend pod (after DNAT).
  const flows = await waitRecords('FLOW to the backend', (r) => r.type === 'FLOW' && ports.has(r.source?.port ?? 0) && r.destination?.ip === BACKEND.ip, 1);
  assert.equal(flows[0]!.destination?.service?.name, 'backend');
  assert.equal(flows[0]!.destination?.pod?.name, 'backend-5c6d7f8b9-k4n2p');
});

test('a pod created in the API is on the next records', async () => {
  const before = performance.now();
  const pod = fixturePod('backend-5c6d7f8b9-k4n2p');
  pod.metadata.name = 'backend-5c6d7f8b9-late1';
  delete pod.metadata.uid;
  pod.status.podIP = '10.235.2.30';
  pod.status.podIPs = [{ ip: '10.235.2.30' }];
  api.create('pods', pod);
  net.exec(BACKEND.name, 'ip', ['addr', 'add', '10.235.2.30/24', 'dev', 'eth0']);
  const ports = new Set(await clientConnects('10.235.2.30', 1));
  const [r] = await waitRecords('FLOW to the new pod', (x) => x.type === 'FLOW' && ports.has(x.source?.port ?? 0), 1);
  assert.equal(r!.destination?.pod?.name, 'backend-5c6d7f8b9-late1');
  assert.ok(performance.now() - before < 10_000);
});
