import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ipv4Key } from '../../src/enrich/ip.js';
import { parseMetadataFile, StaticFileSource } from '../../src/enrich/sources/static-file.js';
import type { Log } from '../../src/enrich/source.js';
import { MetadataStore } from '../../src/enrich/store.js';
import { FIXTURE_DIR } from '../k8s/fixtures.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-static-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const newStore = (): MetadataStore => new MetadataStore({ deletedPodGraceMs: 200, labelAllowList: ['app', 'team'] });
const podAt = (store: MetadataStore, ip: string): string | undefined => store.pods.lookup(ipv4Key(ip), ip, Date.now(), Date.now())?.pod.name ?? undefined;

test('parseMetadataFile: the issue\'s format, YAML and the same as JSON', () => {
  const yamlText = readFileSync(path.join(FIXTURE_DIR, 'static-metadata.yaml'), 'utf8');
  const fromYaml = parseMetadataFile('m.yaml', yamlText);
  assert.equal(fromYaml.pods.length, 2);
  assert.deepEqual(fromYaml.pods[0], {
    key: 'file:default/frontend-7d9',
    name: 'frontend-7d9',
    namespace: 'default',
    uid: '',
    labels: { app: 'frontend' },
    workload: { kind: 'Deployment', name: 'frontend' },
    node: 'node-a',
    hostNetwork: false,
    ips: ['10.200.1.2'],
    hostIp: '',
    startMs: 0,
    containers: [],
    ports: [],
  });
  assert.equal(fromYaml.pods[1]!.containers[0]!.id, 'af8970a47c32a4760d3b78fc008648f4e62de7fbfab3b4e0175a740de8bdb99d');
  assert.deepEqual(fromYaml.services, [{ key: 'file:0', name: 'backend', namespace: 'default', ips: ['10.96.0.10'], ports: [80] }]);
  assert.deepEqual(fromYaml.networks, [{ cidr: '203.0.113.0/24', name: 'partner-api' }]);
  const json = JSON.stringify({
    pods: [{ ip: '10.200.1.2', name: 'frontend-7d9', namespace: 'default', labels: { app: 'frontend' }, workload: { kind: 'Deployment', name: 'frontend' }, node: 'node-a', extraKey: 1 }],
    services: [{ ip: '10.96.0.10', port: 80, name: 'backend', namespace: 'default' }],
    networks: [{ cidr: '203.0.113.0/24', name: 'partner-api' }],
  });
  const fromJson = parseMetadataFile('m.json', json);
  assert.deepEqual(fromJson.pods[0], fromYaml.pods[0]);
  assert.deepEqual(fromJson.services, fromYaml.services);
});

test('parseMetadataFile: errors name the entry, the field, what was expected and what was given', () => {
  const bad = (text: string): string => {
    try {
      parseMetadataFile('/etc/podflow/meta.yaml', text);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('no error');
  };
  const m1 = bad('pods:\n  - {ip: 10.200.1.2, name: a, namespace: default}\n  - {ip: 10.200.1.300, name: web, namespace: shop}\n');
  assert.match(m1, /\/etc\/podflow\/meta\.yaml: pods\[1\]\.ip \(shop\/web\): expected an IPv4 or IPv6 address, got "10\.200\.1\.300"/);
  const m2 = bad('services:\n  - {ip: 10.96.0.10, port: 70000, name: svc, namespace: default}\n');
  assert.match(m2, /services\[0\]\.port \(default\/svc\): .*got 70000/);
  const m3 = bad('networks:\n  - {cidr: 203.0.113.0, name: partner}\n');
  assert.match(m3, /networks\[0\]\.cidr \(partner\): .*expected address\/prefix/);
  const m4 = bad('pods:\n  - {name: nameless-ip, namespace: default}\n');
  assert.match(m4, /pods\[0\]\.ip \(default\/nameless-ip\): expected "ip" or a non-empty "ips"/);
  const m5 = bad('pods:\n  - {ip: 10.0.0.1, name: x, namespace: default, labels: {version: 1.5}}\n');
  assert.match(m5, /pods\[0\]\.labels\.version \(default\/x\): .*expected string/);
  assert.match(bad('pods: [unclosed\n'), /meta\.yaml: not valid YAML/);
});

test('StaticFileSource: loads, reloads on change (also on atomic replace), keeps the last good version on a bad reload', { timeout: 15_000 }, async () => {
  const file = path.join(dir, 'meta.yaml');
  copyFileSync(path.join(FIXTURE_DIR, 'static-metadata.yaml'), file);
  const store = newStore();
  const source = new StaticFileSource({ file, store, debounceMs: 20 });
  await source.start();
  try {
    assert.ok(source.ready);
    assert.equal(podAt(store, '10.200.1.2'), 'frontend-7d9');
    assert.equal(store.services.clusterIp(ipv4Key('10.96.0.10'), '10.96.0.10', 80)?.name, 'backend');
    assert.equal(store.networks.match(ipv4Key('203.0.113.9'), '203.0.113.9'), 'partner-api');
    assert.equal(store.nodes.lookup(ipv4Key('10.200.0.1'), '10.200.0.1'), 'node-a');

    // In-place write: frontend moves to a new IP, a pod is added.
    let reloaded = source.nextReload();
    writeFileSync(
      file,
      'pods:\n  - {ip: 10.200.1.9, name: frontend-7d9, namespace: default}\n  - {ip: 10.200.1.4, name: worker-1, namespace: jobs}\nservices: []\n',
    );
    await reloaded;
    assert.equal(podAt(store, '10.200.1.9'), 'frontend-7d9');
    assert.equal(podAt(store, '10.200.1.4'), 'worker-1');
    assert.equal(store.services.size, 0);
    assert.equal(store.networks.size, 0);
    // backend-5c2 was removed from the file: it resolves for the grace period, then not.
    assert.equal(podAt(store, '10.200.1.3'), 'backend-5c2');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(podAt(store, '10.200.1.3'), undefined);

    // A bad file: clear error, nothing changes.
    reloaded = source.nextReload();
    writeFileSync(file, 'pods:\n  - {ip: not-an-ip, name: broken, namespace: default}\n');
    await reloaded;
    assert.match(source.lastError ?? '', /pods\[0\]\.ip \(default\/broken\): expected an IPv4 or IPv6 address, got "not-an-ip"/);
    assert.equal(podAt(store, '10.200.1.9'), 'frontend-7d9');
    assert.equal(source.stats().reload_errors, 1);

    // Atomic replace (write a temp file, rename over), as editors and ConfigMap updates do.
    reloaded = source.nextReload();
    writeFileSync(`${file}.tmp`, 'pods:\n  - {ip: 10.200.1.20, name: renamed, namespace: default}\n');
    renameSync(`${file}.tmp`, file);
    await reloaded;
    while (podAt(store, '10.200.1.20') === undefined) await source.nextReload();
    assert.equal(podAt(store, '10.200.1.20'), 'renamed');
    assert.equal(source.lastError, null);
    assert.ok(source.stats().reloads >= 2);
  } finally {
    await source.stop();
  }
});

test('StaticFileSource: a bad version is logged and counted once, however often the directory changes', { timeout: 15_000 }, async () => {
  const sub = mkdtempSync(path.join(dir, 'once-'));
  const file = path.join(sub, 'meta.yaml');
  copyFileSync(path.join(FIXTURE_DIR, 'static-metadata.yaml'), file);
  const errors: string[] = [];
  const noop = (): void => {};
  const log = { info: noop, warn: noop, debug: noop, error: (o: { error: string }) => errors.push(o.error) } as unknown as Log;
  const store = newStore();
  const source = new StaticFileSource({ file, store, log, debounceMs: 10 });
  await source.start();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Rename over the file: a load still reading the previous write never sees it half written.
  const replace = (text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const until = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!done()) {
      if (Date.now() > deadline) assert.fail(`no reload brought ${what}`);
      await Promise.race([source.nextReload(), sleep(200)]);
    }
  };
  // Each change further apart than the debounce, so each could start a reload.
  const churn = async (change: () => void) => {
    for (let i = 0; i < 15; i++) {
      change();
      await sleep(30);
    }
    await sleep(100);
  };
  const appendLog = () => writeFileSync(path.join(sub, 'agent.log'), `line ${Date.now()}\n`, { flag: 'a' });
  try {
    const bad1 = 'pods:\n  - {ip: 10.213.7.300, name: x, namespace: y}\n';
    replace(bad1);
    await until('the first error', () => errors.length === 1);
    // The agent logging into the same directory: not even a reload attempt (Linux names the changed file).
    let attempted = false;
    void source.nextReload().then(() => (attempted = true));
    await churn(appendLog);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.equal(source.stats().reload_errors, 1);
    assert.equal(attempted, false, 'a change to another file in the directory started a reload');
    // The same bad text written again: read, but neither logged nor counted again.
    await churn(() => replace(bad1));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /pods\[0\]\.ip \(y\/x\): expected an IPv4 or IPv6 address, got "10\.213\.7\.300"/);
    assert.deepEqual(source.stats(), { reloads: 0, reload_errors: 1 });
    assert.equal(podAt(store, '10.200.1.2'), 'frontend-7d9', 'the last good version stays');

    const bad2 = 'pods:\n  - {ip: 10.213.7.301, name: x, namespace: y}\n';
    replace(bad2);
    await until('the second error', () => errors.length === 2);
    await churn(appendLog);
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.match(errors[1]!, /got "10\.213\.7\.301"/);
    assert.deepEqual(source.stats(), { reloads: 0, reload_errors: 2 });

    replace('pods:\n  - {ip: 10.213.7.30, name: x, namespace: y}\n');
    await until('the good version', () => source.lastError === null);
    assert.equal(podAt(store, '10.213.7.30'), 'x');
    assert.deepEqual(source.stats(), { reloads: 1, reload_errors: 2 });

    // The last bad text again: a new failure after a good version, so logged and counted.
    replace(bad2);
    await until('the error of the bad version after the good one', () => source.lastError !== null);
    await sleep(100);
    assert.equal(errors.length, 3);
    assert.deepEqual(source.stats(), { reloads: 1, reload_errors: 3 });
  } finally {
    await source.stop();
  }
});

test('StaticFileSource: reloads when a ConfigMap mount swaps its ..data symlink', { timeout: 15_000 }, async () => {
  // The kubelet's layout: meta.yaml -> ..data/meta.yaml, ..data -> ..<timestamp>;
  // an update writes a new timestamp directory and renames ..data_tmp over ..data.
  const mount = mkdtempSync(path.join(dir, 'configmap-'));
  const version = (name: string, text: string): void => {
    mkdirSync(path.join(mount, name));
    writeFileSync(path.join(mount, name, 'meta.yaml'), text);
  };
  version('..2026_01', 'pods:\n  - {ip: 10.200.9.1, name: v1, namespace: default}\n');
  symlinkSync('..2026_01', path.join(mount, '..data'));
  symlinkSync('..data/meta.yaml', path.join(mount, 'meta.yaml'));
  const store = newStore();
  const source = new StaticFileSource({ file: path.join(mount, 'meta.yaml'), store, debounceMs: 20 });
  await source.start();
  try {
    assert.equal(podAt(store, '10.200.9.1'), 'v1');
    version('..2026_02', 'pods:\n  - {ip: 10.200.9.2, name: v2, namespace: default}\n');
    const reloaded = source.nextReload();
    symlinkSync('..2026_02', path.join(mount, '..data_tmp'));
    renameSync(path.join(mount, '..data_tmp'), path.join(mount, '..data'));
    rmSync(path.join(mount, '..2026_01'), { recursive: true });
    await reloaded;
    while (podAt(store, '10.200.9.2') === undefined) await source.nextReload();
    assert.equal(podAt(store, '10.200.9.2'), 'v2');
  } finally {
    await source.stop();
  }
});

test('StaticFileSource: a missing or bad file at start rejects with the reason', async () => {
  const store = newStore();
  await assert.rejects(new StaticFileSource({ file: path.join(dir, 'nope.yaml'), store }).start(), /metadata file .*nope\.yaml: cannot read: ENOENT/);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{"services": [{"ip": "10.96.0.1", "name": "", "namespace": "default"}]}');
  await assert.rejects(new StaticFileSource({ file: bad, store }).start(), /bad\.json: services\[0\]\.name \(default\/\): Too small/);
});
