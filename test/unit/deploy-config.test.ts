// What the chart's pod hands the agent, checked by the agent itself: for the
// default values, every CI values file and further realistic combinations,
// the rendered ConfigMap and Secret are laid out as the DaemonSet mounts them,
// the container's environment is resolved (downward API, Secret keys), and
// the real `podflow config check --json` must accept the result. Every file
// the effective config names must exist in a mount, and what the agent writes
// (the observe socket, the file sink) must be on a writable one: the root
// filesystem is read-only. Values the agent would refuse at start-up, or that
// would make a healthy pod fail, are refused by `helm template` instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import { assertRefused, CHART, helmTemplate, type K8sObject, render, ROOT, useDeployTools } from './deploy-fixtures.js';

const CLI = join(ROOT, 'dist/src/cli/main.js');
const NODE_NAME = 'node-a';

interface VolumeMount { name: string; mountPath: string; readOnly?: boolean }
interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  emptyDir?: object;
  hostPath?: { path: string };
}
interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }
interface PodSpec { containers: { name: string; env?: EnvVar[]; volumeMounts?: VolumeMount[] }[]; volumes: Volume[] }

const workDir = useDeployTools('podflow-deploy-config-');


/** The parts of `config check --json`'s effective configuration these tests read. */
interface TlsFiles { caFile?: string; certFile?: string; keyFile?: string }
interface EffectiveConfig {
  nodeName: string;
  sinks: string[];
  observeSocket: string;
  metadataFile?: string;
  file: { path?: string };
  kafka: { sasl?: { passwordFile?: string }; tls: TlsFiles };
  otlp: { tls: TlsFiles };
}

/** The effective configuration the agent would run with, and the mounts it would see. */
interface PodView {
  config: EffectiveConfig;
  /** A path in the container -> the same path in the test's copy of the pod's files. */
  local: (path: string) => string;
  mounts: (VolumeMount & { volume: Volume })[];
}

/**
 * Lays out the ConfigMap and Secret volumes under a directory as the DaemonSet
 * mounts them, resolves the container's environment, and runs the real
 * `podflow config check --json` on the mounted podflow.yaml. Container paths
 * in the config and the environment are rewritten to the copy (the agent
 * sees them at their mount paths).
 */
function checkAsThePodWould(name: string, objects: K8sObject[], existingSecret: Record<string, string> = {}): PodView {
  const ds = objects.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } };
  const pod = ds.spec.template.spec;
  const agent = pod.containers.find((c) => c.name === 'agent');
  assert.ok(agent, `${name}: no agent container`);
  const root = join(workDir(), name.replace(/[^a-z0-9]+/gi, '-'));
  const local = (path: string) => join(root, path);
  const byName = (kind: string, n: string) => objects.find((o) => o.kind === kind && o.metadata.name === n);
  const secretData = (secretName: string): Record<string, string> => {
    const secret = byName('Secret', secretName);
    if (!secret) return existingSecret;
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  };
  const mounts = (agent.volumeMounts ?? []).map((m) => {
    const volume = pod.volumes.find((v) => v.name === m.name);
    assert.ok(volume, `${name}: mount ${m.mountPath} names no volume ${m.name}`);
    return { ...m, volume };
  });
  const rewrites: [string, string][] = [];
  for (const mount of mounts) {
    const { volume } = mount;
    let files: Record<string, string> | undefined;
    if (volume.configMap) {
      const configMap = byName('ConfigMap', volume.configMap.name);
      assert.ok(configMap?.data, `${name}: the DaemonSet mounts ConfigMap ${volume.configMap.name}, which the chart does not render`);
      files = configMap.data;
    } else if (volume.secret) {
      const data = secretData(volume.secret.secretName);
      const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      files = Object.fromEntries(items.map((item) => {
        assert.ok(item.key in data, `${name}: Secret ${volume.secret!.secretName} has no key ${item.key}`);
        return [item.path, data[item.key]];
      }));
    }
    mkdirSync(local(mount.mountPath), { recursive: true });
    for (const [file, text] of Object.entries(files ?? {})) writeFileSync(join(local(mount.mountPath), file), text);
    rewrites.push([`${mount.mountPath}/`, `${local(mount.mountPath)}/`]);
  }
  // One pass, longest mount path first, and only at the start of a path: /tmp/ must not match inside a rewritten path.
  const escape = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(?<![\\w./-])(${rewrites.map(([from]) => from).sort((a, b) => b.length - a.length).map(escape).join('|')})`, 'g');
  const rewrite = (text: string) => text.replace(pattern, (from) => rewrites.find(([f]) => f === from)![1]);

  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const variable of agent.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = rewrite(variable.value);
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[variable.name] = NODE_NAME;
    else if (variable.valueFrom?.secretKeyRef) {
      const data = secretData(variable.valueFrom.secretKeyRef.name);
      assert.ok(variable.valueFrom.secretKeyRef.key in data, `${name}: ${variable.name} reads Secret key ${variable.valueFrom.secretKeyRef.key}, which is not there`);
      env[variable.name] = data[variable.valueFrom.secretKeyRef.key];
    } else assert.fail(`${name}: unexpected env source for ${variable.name}`);
  }

  const configPath = local('/etc/podflow/podflow.yaml');
  assert.ok(existsSync(configPath), `${name}: nothing mounted at /etc/podflow/podflow.yaml (the container's --config)`);
  writeFileSync(configPath, rewrite(readFileSync(configPath, 'utf8')));
  const run = spawnSync(process.execPath, [CLI, 'config', 'check', configPath, '--json'], { encoding: 'utf8', env });
  assert.equal(run.status, 0, `${name}: podflow config check refused the rendered config:\n${run.stderr}`);
  assert.equal(run.stderr, '', `${name}: podflow config check warned:\n${run.stderr}`);
  const config = JSON.parse(run.stdout) as EffectiveConfig;
  assert.equal(config.nodeName, NODE_NAME, `${name}: nodeName is not the node's (spec.nodeName)`);
  return { config, local, mounts };
}

/** The mount a container path lies on (the longest matching mount path). */
function mountOf(view: PodView, path: string) {
  return view.mounts.filter((m) => path.startsWith(`${m.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
}

/** Files the effective config reads (paths in the copy where they lie on a mount). */
function filesRead(view: PodView): string[] {
  const c = view.config;
  return [c.metadataFile, c.kafka.sasl?.passwordFile, c.kafka.tls.caFile, c.kafka.tls.certFile, c.kafka.tls.keyFile,
    c.otlp.tls.caFile, c.otlp.tls.certFile, c.otlp.tls.keyFile].filter((p): p is string => typeof p === 'string');
}

const CI = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml')).sort();
/** Combinations an operator writes, beyond the CI values files. */
const COMBINATIONS: { name: string; args: string[]; existingSecret?: Record<string, string> }[] = [
  { name: 'default values', args: [] },
  ...CI.map((f) => ({
    name: `ci/${f}`,
    args: ['-f', join(CHART, 'ci', f)],
    // existing-secret-values.yaml names a Secret the operator made: these are its keys.
    existingSecret: { 'kafka-sasl-password': 'from-the-operators-secret\n', 'kafka-ca.crt': '-----BEGIN CERTIFICATE-----\n' },
  })),
  { name: 'file sink with its default path', args: ['--set', 'config.sinks={file}'] },
  { name: 'OTLP over HTTP with a token only', args: ['--set', 'config.sinks={otlp}', '--set', 'config.otlp.endpoint=http://otel-collector:4318', '--set', 'credentials.otlp.headers.Authorization=Bearer t'] },
  { name: 'Kafka with SASL/PLAIN, no TLS', args: ['--set', 'config.sinks={kafka}', '--set', 'config.kafka.brokers={kafka:9092}', '--set', 'config.kafka.sasl.mechanism=plain', '--set', 'config.kafka.sasl.username=podflow', '--set', 'credentials.kafka.saslPassword=pw'] },
  { name: 'sampling, filters and a metadata file', args: ['--set-json', 'config.sampling={"rate":0.5,"byType":{"FLOW":0.1}}', '--set-json', 'config.filters={"allow":[{"namespace":["shop"]}],"deny":[{"port":[53]}]}', '--set-json', 'metadata={"pods":[{"name":"vm-1","namespace":"legacy","ip":"10.9.0.4"}]}'] },
];

test('every rendered config passes the agent\'s own `podflow config check`, with the pod\'s environment and mounts', () => {
  for (const { name, args, existingSecret } of COMBINATIONS) {
    const view = checkAsThePodWould(name, render(args), existingSecret);
    for (const path of filesRead(view)) {
      assert.ok(path.startsWith(view.local('/')) && existsSync(path), `${name}: the config names ${path}, which no mount provides`);
    }
    // What the agent creates must be on a writable volume, not the read-only root filesystem.
    const writes = [view.config.observeSocket, ...(view.config.sinks.includes('file') ? [view.config.file.path!] : [])];
    for (const raw of writes) {
      const path = raw.startsWith(view.local('/')) ? raw.slice(view.local('/').length - 1) : raw;
      const mount = mountOf(view, path);
      assert.ok(mount && !mount.readOnly && (mount.volume.emptyDir || mount.volume.hostPath), `${name}: the agent writes ${path}, which is not on a writable mount`);
    }
  }
});

test('a metadata file is mounted where the config names it and passes the agent\'s check; a bad entry is refused by the same check', () => {
  const args = ['--set-json', 'metadata={"services":[{"name":"db","namespace":"ext","ip":"10.9.0.5","port":5432}]}'];
  const view = checkAsThePodWould('metadata', render(args));
  assert.equal(view.config.metadataFile, view.local('/etc/podflow/metadata.yaml'));
  const bad = render(['--set-json', 'metadata={"services":[{"name":"db","namespace":"ext","ip":"999.1.1.1"}]}']);
  assert.throws(() => checkAsThePodWould('metadata-bad', bad), /bad metadata file.*999\.1\.1\.1/s);
});

test('the file sink writes to the node directory fileSink.hostPath, mounted read-write', () => {
  const objects = render(['--set', 'config.sinks={stdout,file}', '--set', 'fileSink.hostPath=/data/podflow']);
  const view = checkAsThePodWould('file sink', objects);
  const mount = mountOf(view, '/var/log/podflow/records.log');
  assert.equal(mount?.volume.hostPath?.path, '/data/podflow');
  assert.equal(view.config.file.path, view.local('/var/log/podflow/records.log'));
  assert.equal(mount?.readOnly ?? false, false);
  assert.ok(!render([]).some((o) => o.kind === 'DaemonSet' && JSON.stringify(o).includes('/var/log/podflow')), 'file sink mount without the file sink');
});

test('values.schema.json knows exactly the agent\'s configuration keys (a typo fails helm, not the pods)', () => {
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as { properties: { config: { properties: Record<string, unknown>; additionalProperties?: boolean } } };
  assert.equal(schema.properties.config.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.properties.config.properties).sort(), Object.keys(configSchema.shape).sort());
});

test('values the agent would refuse, or that would make a healthy pod fail, are refused by helm template naming the field', () => {
  const bad: { why: string; args: string[]; message: RegExp }[] = [
    { why: 'misspelt config key', args: ['--set', 'config.kafak.brokers={kafka:9092}'], message: /\/config.*additional properties 'kafak' not allowed/ },
    { why: 'metrics port out of range', args: ['--set', 'config.metricsAddr=0.0.0.0:70000'], message: /\/config\/metricsAddr/ },
    { why: 'metrics server on loopback (kubelet probes the node address)', args: ['--set', 'config.metricsAddr=127.0.0.1:9464'], message: /config\.metricsAddr: 127\.0\.0\.1:9464 listens on loopback only/ },
    { why: 'SASL without a password', args: ['--set', 'config.sinks={kafka}', '--set', 'config.kafka.brokers={kafka:9092}', '--set', 'config.kafka.sasl.mechanism=plain', '--set', 'config.kafka.sasl.username=u'], message: /config\.kafka\.sasl: set credentials\.kafka\.saslPassword/ },
    { why: 'client certificate without its key', args: ['--set-string', 'credentials.kafka.clientCert=-----BEGIN CERTIFICATE-----'], message: /credentials\.kafka\.clientCert and clientKey go together/ },
    { why: 'existing Secret with an OTLP key but no certificate', args: ['--set', 'credentials.existingSecret=s', '--set', 'credentials.existingSecretKeys={otlp-tls.key}'], message: /credentials\.otlp\.clientCert and clientKey go together/ },
    { why: 'file sink outside the mounted directory', args: ['--set', 'config.sinks={file}', '--set', 'config.file.path=/var/log/flows.json'], message: /config\.file\.path: \/var\/log\/flows\.json is not in \/var\/log\/podflow/ },
    { why: 'file sink path escaping the directory', args: ['--set', 'config.sinks={file}', '--set', 'config.file.path=/var/log/podflow/../flows.json'], message: /config\.file\.path/ },
    { why: 'metadata file the pod cannot see', args: ['--set', 'config.metadataFile=/etc/podflow/meta.yaml'], message: /config\.metadataFile: put the file's content under metadata/ },
    { why: 'observe socket on the read-only root filesystem', args: ['--set', 'config.observeSocket=/var/lib/podflow.sock'], message: /config\.observeSocket: \/var\/lib\/podflow\.sock is on the read-only root filesystem/ },
    { why: 'a kubeconfig file the pod does not have', args: ['--set', 'config.kubernetes.kubeconfig=/root/.kube/config'], message: /config\.kubernetes\.kubeconfig: leave it out/ },
    { why: 'an agent that stops by itself', args: ['--set', 'config.duration=1h'], message: /config\.duration: leave it out/ },
    { why: 'shutdown deadline beyond the grace period', args: ['--set', 'config.shutdownDeadline=30s'], message: /config\.shutdownDeadline: 30s, plus the 5s .* exceeds terminationGracePeriodSeconds \(30\)/ },
    { why: 'shutdown deadline in minutes beyond the grace period', args: ['--set', 'config.shutdownDeadline=1m0.5s', '--set', 'terminationGracePeriodSeconds=65'], message: /config\.shutdownDeadline: 1m0\.5s/ },
    { why: 'shutdown deadline not a duration', args: ['--set', 'config.shutdownDeadline=10'], message: /\/config\/shutdownDeadline/ },
    { why: 'a surge: two agents on one node bind one metrics port', args: ['--set', 'updateStrategy.rollingUpdate.maxSurge=1', '--set', 'updateStrategy.rollingUpdate.maxUnavailable=0'], message: /updateStrategy\.rollingUpdate\.maxSurge: 1 starts the new agent on a node while the old one runs/ },
    { why: 'a surge in percent', args: ['--set', 'updateStrategy.rollingUpdate.maxSurge=10%'], message: /updateStrategy\.rollingUpdate\.maxSurge: 10%/ },
  ];
  assertRefused(bad);
  // The edges that must still pass: deadline + 5 s exactly the grace period, a decimal deadline, IPv6 any.
  for (const args of [
    ['--set', 'config.shutdownDeadline=25s'],
    ['--set', 'config.shutdownDeadline=1m0.5s', '--set', 'terminationGracePeriodSeconds=66'],
    ['--set', 'config.metricsAddr=[::]:9464'],
    ['--set', 'updateStrategy.rollingUpdate.maxSurge=0'],
    ['--set', 'updateStrategy.type=OnDelete', '--set', 'updateStrategy.rollingUpdate=null'],
  ]) {
    const run = helmTemplate(args);
    assert.equal(run.status, 0, `helm template refused ${args.join(' ')}:\n${run.stderr}`);
  }
});
