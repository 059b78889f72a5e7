// The Helm chart and the plain manifests: helm lint and helm template with the
// default and the CI values, every rendered object against the Kubernetes
// OpenAPI schemas (kubernetes-validate), values.schema.json refusing bad
// values, the agent's own config loader accepting the rendered podflow.yaml,
// and the DaemonSet granting exactly the capabilities src/capabilities.ts
// states for the default probes. Tools come from deploy/tools/install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { capabilitiesFor, hookKindsFor, hostPathsFor, kubernetesCapabilityName } from '../../src/capabilities.js';
import { loadConfig } from '../../src/config/index.js';
import { PROBE_NAMES } from '../../src/probes/types.js';
import { assertRefused, CHART, helm, type K8sObject, KUBE_VERSION, render, ROOT, TOOLS, useDeployTools } from './deploy-fixtures.js';

const KUBERNETES_VALIDATE = join(TOOLS, 'venv/bin/kubernetes-validate');
const CI_VALUES = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(CHART, 'ci', f));
/** Default values, then each CI values file. */
const VALUE_SETS: { name: string; args: string[] }[] = [
  { name: 'default values', args: [] },
  ...CI_VALUES.map((file) => ({ name: `ci/${file.split('/').pop()}`, args: ['-f', file] })),
];

// Loose shapes of the rendered objects: only what the tests read.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface VolumeMount { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: VolumeMount[];
}
interface Volume {
  name: string;
  hostPath?: { path: string };
  configMap?: { name: string };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  tolerations?: { operator?: string; key?: string }[];
  serviceAccountName: string;
  initContainers?: Container[];
  containers: Container[];
  volumes: Volume[];
}

const workDir = useDeployTools('podflow-deploy-');

function only<T = K8sObject>(objects: K8sObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}, rendered ${found.length}`);
  return found[0] as T;
}

function podSpecOf(objects: K8sObject[]): PodSpec {
  const ds = only<{ spec: { template: { spec: PodSpec } } }>(objects, 'DaemonSet');
  return ds.spec.template.spec;
}

function agentOf(objects: K8sObject[]): Container {
  const agent = podSpecOf(objects).containers.find((c) => c.name === 'agent');
  assert.ok(agent, 'the DaemonSet has no container named "agent"');
  return agent;
}

/** Runs kubernetes-validate --strict on objects; returns its exit status and the kind/name of each object it passed. */
function validate(objects: K8sObject[], file: string): { status: number | null; passed: Set<string>; output: string } {
  const path = join(workDir(), file);
  writeFileSync(path, objects.map((o) => YAML.stringify(o)).join('---\n'));
  const run = spawnSync(KUBERNETES_VALIDATE, ['--strict', '-k', KUBE_VERSION, path], { encoding: 'utf8' });
  const passed = new Set<string>();
  for (const m of run.stdout.matchAll(/passed for resource (\S+) against/g)) passed.add(m[1]);
  return { status: run.status, passed, output: run.stdout + run.stderr };
}

const objectKey = (o: K8sObject) => `${o.kind.toLowerCase()}/${o.metadata.name}`;

test('helm lint --strict passes with the default and every CI values file', () => {
  for (const set of VALUE_SETS) {
    const run = helm(['lint', '--strict', '--kube-version', KUBE_VERSION, CHART, ...set.args]);
    assert.equal(run.status, 0, `helm lint (${set.name}) failed:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('every rendered object validates against the Kubernetes 1.37 OpenAPI schemas', () => {
  for (const [i, set] of VALUE_SETS.entries()) {
    const objects = render(set.args);
    // ServiceMonitor is a CRD the bundled schemas do not know; its own test checks it against the CRD's schema.
    const core = objects.filter((o) => o.kind !== 'ServiceMonitor');
    const result = validate(core, `objects-${i}.yaml`);
    assert.equal(result.status, 0, `${set.name}: kubernetes-validate failed:\n${result.output}`);
    assert.deepEqual([...result.passed].sort(), core.map(objectKey).sort(), `${set.name}: not every object was validated:\n${result.output}`);
  }
});

test('the validator rejects a DaemonSet with a wrong field (it is not a no-op)', () => {
  const objects = render([]);
  const ds = only<{ spec: { template: { spec: Record<string, unknown> } } }>(objects, 'DaemonSet');
  ds.spec.template.spec.hostNetwrk = true;
  const result = validate(objects, 'broken.yaml');
  assert.notEqual(result.status, 0);
  assert.match(result.output, /did not validate for resource daemonset\/podflow.*hostNetwrk/);
});

test('values.schema.json and the chart refuse bad values with a message naming the field', () => {
  const bad: { why: string; args: string[]; message: RegExp }[] = [
    { why: 'unknown top-level key', args: ['--set', 'replicas=3'], message: /additional properties 'replicas' not allowed/ },
    { why: 'capability with the CAP_ prefix', args: ['--set', 'capabilities[0]=CAP_BPF'], message: /\/capabilities\/0.*must be one of/ },
    { why: 'unknown capability', args: ['--set', 'extraCapabilities[0]=ROOT'], message: /\/extraCapabilities\/0.*must be one of/ },
    { why: 'unknown sink', args: ['--set', 'config.sinks[0]=s3'], message: /\/config\/sinks\/0/ },
    { why: 'unknown probe', args: ['--set', 'config.probes[0]=kprobe'], message: /\/config\/probes\/0/ },
    { why: 'metrics server off (probes need it)', args: ['--set', 'config.metricsAddr=off'], message: /\/config\/metricsAddr.*does not match pattern/ },
    { why: 'kafka sink without brokers', args: ['--set', 'config.sinks[0]=kafka'], message: /\/config.*missing property 'kafka'/ },
    { why: 'otlp sink without endpoint', args: ['--set', 'config.sinks[0]=otlp', '--set', 'config.otlp.protocol=grpc'], message: /\/config\/otlp.*missing property 'endpoint'/ },
    { why: 'otlp endpoint not a URL', args: ['--set', 'config.otlp.endpoint=collector:4317'], message: /\/config\/otlp\/endpoint/ },
    { why: 'no memory limit', args: ['--set', 'resources.limits.memory=null'], message: /resources\.limits\.memory: set a memory limit/ },
    { why: 'memory limit not a quantity', args: ['--set', 'resources.limits.memory=lots'], message: /\/resources\/limits\/memory.*does not match pattern/ },
    { why: 'bad pull policy', args: ['--set', 'image.pullPolicy=Sometimes'], message: /\/image\/pullPolicy/ },
    { why: 'CA that is not PEM', args: ['--set', 'credentials.kafka.caCert=not-a-certificate'], message: /\/credentials\/kafka\/caCert/ },
    { why: 'unknown existing Secret key', args: ['--set', 'credentials.existingSecretKeys[0]=password'], message: /\/credentials\/existingSecretKeys\/0/ },
    { why: 'hostPID not a boolean', args: ['--set-string', 'hostPID=yes'], message: /\/hostPID/ },
    { why: 'Kafka password in the ConfigMap', args: ['--set', 'config.kafka.sasl.password=secret'], message: /config\.kafka\.sasl\.password: put the password in credentials\.kafka\.saslPassword/ },
    { why: 'OTLP headers in the ConfigMap', args: ['--set', 'config.otlp.headers.Authorization=token'], message: /config\.otlp\.headers: put headers in credentials\.otlp\.headers/ },
    { why: 'node name fixed for every node', args: ['--set', 'config.nodeName=node-1'], message: /config\.nodeName: leave it out/ },
    { why: 'ServiceMonitor without the Service', args: ['--set', 'serviceMonitor.enabled=true', '--set', 'service.enabled=false'], message: /serviceMonitor\.enabled needs service\.enabled/ },
  ];
  assertRefused(bad);
});

test('the DaemonSet grants exactly the capabilities src/capabilities.ts states for the default probes', () => {
  const expected = capabilitiesFor(hookKindsFor(PROBE_NAMES)).map(kubernetesCapabilityName).sort();
  assert.deepEqual(expected, ['BPF', 'NET_ADMIN', 'NET_RAW', 'PERFMON']);
  const security = agentOf(render([])).securityContext;
  assert.ok(security?.capabilities);
  assert.deepEqual([...(security.capabilities.add ?? [])].sort(), expected);
  assert.deepEqual(security.capabilities.drop, ['ALL']);
  assert.equal(security.privileged, false);
  assert.equal(security.allowPrivilegeEscalation, false);
  assert.equal(security.readOnlyRootFilesystem, true);
});

test('extraCapabilities cover what src/capabilities.ts states for kernels older than 5.8 (CI values for old kernels)', () => {
  const file = CI_VALUES.find((f) => f.endsWith('existing-secret-values.yaml'));
  assert.ok(file);
  const granted = new Set(agentOf(render(['-f', file])).securityContext?.capabilities?.add);
  const old = capabilitiesFor(hookKindsFor(PROBE_NAMES), { major: 5, minor: 4 }).map(kubernetesCapabilityName);
  assert.ok(old.includes('SYS_ADMIN') && old.includes('SYS_RESOURCE'));
  for (const cap of old) assert.ok(granted.has(cap), `${cap} needed on 5.4 but not granted`);
});

test('the DaemonSet: host network, no host PID, every node, the mounts the hooks need, health probes on the metrics port', () => {
  const objects = render([]);
  const pod = podSpecOf(objects);
  const agent = agentOf(objects);
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.hostPID, false);
  assert.ok(pod.tolerations?.some((t) => t.operator === 'Exists' && t.key === undefined), 'no toleration for every taint');
  const sa = only(objects, 'ServiceAccount');
  assert.equal(pod.serviceAccountName, sa.metadata.name);

  const hostPathOf = new Map(pod.volumes.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
  const mountsByHostPath = new Map<string, VolumeMount>();
  for (const mount of agent.volumeMounts ?? []) {
    const hostPath = hostPathOf.get(mount.name);
    if (hostPath) mountsByHostPath.set(hostPath, mount);
  }
  for (const path of hostPathsFor(hookKindsFor(PROBE_NAMES))) {
    assert.ok(mountsByHostPath.has(path), `host path ${path} (needed by the default probes' hooks) is not mounted`);
  }
  // Every node path read-only: nothing is pinned in bpffs and no other process's /proc is read.
  const expected: Record<string, { mountPath: string; readOnly: boolean }> = {
    '/sys/kernel/tracing': { mountPath: '/sys/kernel/tracing', readOnly: true },
    '/sys/kernel/btf': { mountPath: '/sys/kernel/btf', readOnly: true },
    '/sys/fs/cgroup': { mountPath: '/sys/fs/cgroup', readOnly: true },
  };
  assert.deepEqual([...mountsByHostPath.keys()].sort(), Object.keys(expected).sort());
  for (const [hostPath, want] of Object.entries(expected)) {
    const mount = mountsByHostPath.get(hostPath)!;
    assert.equal(mount.mountPath, want.mountPath, hostPath);
    assert.equal(mount.readOnly ?? false, want.readOnly, `${hostPath} readOnly`);
  }

  const port = agent.ports?.find((p) => p.name === 'metrics');
  assert.equal(port?.containerPort, 9464);
  assert.deepEqual(agent.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(agent.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
  assert.deepEqual(agent.args, ['run', '--config', '/etc/podflow/podflow.yaml']);
  for (const kind of ['requests', 'limits'] as const) {
    assert.ok(agent.resources?.[kind]?.memory, `no memory ${kind}`);
  }
  const service = only<{ spec: { ports: { port: number; targetPort: string }[]; publishNotReadyAddresses?: boolean } }>(objects, 'Service');
  assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[9464, 'metrics']]);
  // /readyz is 503 while a sink cannot deliver; the metrics of such an agent must still be scraped.
  assert.equal(service.spec.publishNotReadyAddresses, true);
});

test('no privileged container, no init container and no Bidirectional mount, with every values set (least privilege)', () => {
  for (const set of VALUE_SETS) {
    const pod = podSpecOf(render(set.args));
    assert.deepEqual(pod.initContainers ?? [], [], `${set.name}: init containers rendered`);
    for (const container of pod.containers) {
      assert.notEqual(container.securityContext?.privileged, true, `${set.name}: ${container.name} is privileged`);
      for (const mount of container.volumeMounts ?? []) {
        assert.notEqual(mount.mountPropagation, 'Bidirectional', `${set.name}: ${container.name} mounts ${mount.mountPath} Bidirectional`);
      }
    }
  }
});

test('a system-*-critical priority class comes with the ResourceQuota that admits it in the release namespace (GKE)', () => {
  const objects = render([]);
  const priorityClassName = (podSpecOf(objects) as PodSpec & { priorityClassName?: string }).priorityClassName;
  assert.equal(priorityClassName, 'system-node-critical');
  const quota = only<K8sObject & { spec: { hard: Record<string, string>; scopeSelector: { matchExpressions: { scopeName: string; operator: string; values: string[] }[] } } }>(objects, 'ResourceQuota');
  assert.equal(quota.metadata.namespace, 'podflow');
  assert.deepEqual(quota.spec.scopeSelector.matchExpressions, [{ scopeName: 'PriorityClass', operator: 'In', values: [priorityClassName] }]);
  assert.ok(quota.spec.hard.pods, 'the quota allows pods');
  for (const args of [['--set', 'priorityClassName='], ['--set', 'priorityClassName=podflow-high'], ['--set', 'criticalPodsQuota=false']]) {
    assert.equal(render(args).filter((o) => o.kind === 'ResourceQuota').length, 0, `ResourceQuota rendered with ${args.join(' ')}`);
  }
});

test('RBAC: list/watch on exactly the collections the Kubernetes source\'s reflectors list and watch, nothing else', () => {
  // Each reflector lists and watches one collection path (src/enrich/sources/kubernetes/source.ts); none gets a single object.
  const source = readFileSync(join(ROOT, 'src/enrich/sources/kubernetes/source.ts'), 'utf8');
  const watched = [...source.matchAll(/make\('\/(?:api\/v1|apis\/([^/']+)\/v1)\/([a-z]+)'/g)].map((m) => `${m[1] ?? 'core'}/${m[2]}`).sort();
  assert.deepEqual(watched, ['apps/replicasets', 'batch/jobs', 'core/nodes', 'core/pods', 'core/services', 'discovery.k8s.io/endpointslices']);
  const objects = render([]);
  const role = only<K8sObject & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }>(objects, 'ClusterRole');
  const granted = role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}`))).sort();
  assert.deepEqual(granted, watched);
  for (const rule of role.rules) assert.deepEqual([...rule.verbs].sort(), ['list', 'watch']);
  const binding = only<{ roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] }>(objects, 'ClusterRoleBinding');
  assert.equal(binding.roleRef.name, role.metadata.name);
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: only(objects, 'ServiceAccount').metadata.name, namespace: 'podflow' }]);
  type TokenSpec = PodSpec & { automountServiceAccountToken?: boolean };
  assert.equal((podSpecOf(objects) as TokenSpec).automountServiceAccountToken, true);
  // Without Kubernetes enrichment the agent calls no API: no role, no token.
  const offline = render(['--set', 'config.kubernetes.enabled=false']);
  assert.deepEqual(offline.filter((o) => o.kind.startsWith('ClusterRole')), []);
  assert.equal((podSpecOf(offline) as TokenSpec).automountServiceAccountToken, false);
});

/**
 * What the agent would see on a node: podflow.yaml from the ConfigMap and the
 * container's environment (downward API and Secret keys resolved), loaded by
 * the agent's own config loader.
 */
function agentConfigOf(objects: K8sObject[], existingSecret?: Record<string, string>) {
  const configMap = only<{ data: Record<string, string> }>(objects, 'ConfigMap');
  const file = join(workDir(), `podflow-${objects.length}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, configMap.data['podflow.yaml']);
  const secret = objects.find((o) => o.kind === 'Secret') as { data: Record<string, string> } | undefined;
  const secretValue = (key: string) => {
    if (secret) return Buffer.from(secret.data[key], 'base64').toString('utf8');
    assert.ok(existingSecret && key in existingSecret, `the env refers to Secret key ${key}, which no Secret holds`);
    return existingSecret[key];
  };
  const env: NodeJS.ProcessEnv = {};
  for (const variable of agentOf(objects).env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[variable.name] = 'node-a';
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = secretValue(variable.valueFrom.secretKeyRef.key);
    else assert.fail(`unexpected env source for ${variable.name}`);
  }
  return loadConfig({ file, env });
}

/** The files the credentials volume puts under its mount path. */
function credentialFiles(objects: K8sObject[]): string[] {
  const pod = podSpecOf(objects);
  const volume = pod.volumes.find((v) => v.secret);
  if (!volume) return [];
  const mount = agentOf(objects).volumeMounts?.find((m) => m.name === volume.name);
  assert.ok(mount, 'the credentials volume is not mounted');
  return (volume.secret!.items ?? []).map((item) => `${mount.mountPath}/${item.path}`);
}

test('the rendered podflow.yaml loads with the agent\'s config loader (default values)', () => {
  const config = agentConfigOf(render([]));
  assert.equal(config.nodeName, 'node-a');
  assert.deepEqual(config.sinks, ['stdout']);
  assert.deepEqual(config.probes, [...PROBE_NAMES]);
  assert.equal(config.kubernetes.enabled, true);
  assert.equal(config.metricsAddr, '0.0.0.0:9464');
});

test('Kafka + OTLP + TLS values: the config points at the Secret files, headers come from the Secret', () => {
  const file = CI_VALUES.find((f) => f.endsWith('kafka-otlp-tls-values.yaml'));
  assert.ok(file);
  const objects = render(['-f', file]);
  const config = agentConfigOf(objects);
  const files = credentialFiles(objects);
  assert.deepEqual(config.sinks, ['kafka', 'otlp']);
  assert.equal(config.kafka.tls.enabled, true);
  for (const path of [config.kafka.tls.caFile, config.kafka.tls.certFile, config.kafka.tls.keyFile, config.kafka.sasl?.passwordFile, config.otlp.tls.caFile]) {
    assert.ok(path && files.includes(path), `${path} is not a mounted Secret file (${files.join(', ')})`);
  }
  assert.equal(config.kafka.sasl?.mechanism, 'scram-sha-512');
  assert.equal(config.otlp.tls.serverName, 'otel-collector.observability.svc');
  assert.deepEqual(config.otlp.headers, { Authorization: 'Bearer otlp-token-for-ci', 'X-Scope-OrgID': 'tenant-a' });
  const configMap = only<{ data: Record<string, string> }>(objects, 'ConfigMap');
  assert.doesNotMatch(configMap.data['podflow.yaml'], /kafka-password-for-ci|otlp-token-for-ci|BEGIN/, 'a credential leaked into the ConfigMap');
});

test('new credentials roll the agents (they read them once, at start-up); the same ones do not', () => {
  const file = CI_VALUES.find((f) => f.endsWith('kafka-otlp-tls-values.yaml'));
  assert.ok(file);
  const template = (args: string[]) => JSON.stringify((only<{ spec: { template: unknown } }>(render(['-f', file, ...args]), 'DaemonSet')).spec.template);
  const before = template([]);
  assert.equal(template([]), before);
  assert.notEqual(template(['--set', 'credentials.kafka.saslPassword=rotated']), before, 'a new Kafka password leaves the pods as they are');
  assert.notEqual(template(['--set', 'credentials.otlp.headers.Authorization=Bearer rotated']), before, 'a new OTLP token leaves the pods as they are');
});

test('existingSecret values: no Secret rendered, the config uses the listed keys of the existing Secret', () => {
  const file = CI_VALUES.find((f) => f.endsWith('existing-secret-values.yaml'));
  assert.ok(file);
  const objects = render(['-f', file]);
  assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0);
  const volume = podSpecOf(objects).volumes.find((v) => v.secret);
  assert.equal(volume?.secret?.secretName, 'podflow-kafka');
  const config = agentConfigOf(objects, {});
  const files = credentialFiles(objects);
  assert.deepEqual(files.map((f) => f.split('/').pop()).sort(), ['kafka-ca.crt', 'kafka-sasl-password']);
  assert.ok(files.includes(config.kafka.sasl!.passwordFile!));
  assert.ok(files.includes(config.kafka.tls.caFile!));
  assert.equal(config.kafka.tls.certFile, undefined);
});

test('ServiceMonitor (when enabled) is valid for the Prometheus Operator CRD and scrapes the metrics Service port on /metrics', () => {
  const file = CI_VALUES.find((f) => f.endsWith('existing-secret-values.yaml'));
  assert.ok(file);
  const objects = render(['-f', file]);
  const monitor = only<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; interval: string }[] } }>(objects, 'ServiceMonitor');
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  new ServiceMonitor(monitor as ConstructorParameters<typeof ServiceMonitor>[0]).validate();
  const broken = structuredClone(monitor);
  broken.spec.endpoints[0].interval = 'twice a minute';
  assert.throws(() => new ServiceMonitor(broken as ConstructorParameters<typeof ServiceMonitor>[0]).validate(), /interval must match pattern/);
  const service = only<K8sObject & { metadata: { labels: Record<string, string> }; spec: { ports: { name: string }[] } }>(objects, 'Service');
  for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(service.metadata.labels[key], value, key);
  assert.deepEqual(monitor.spec.endpoints.map((e) => [e.port, e.path]), [['metrics', '/metrics']]);
  assert.ok(service.spec.ports.some((p) => p.name === 'metrics'));
  assert.equal(render([]).filter((o) => o.kind === 'ServiceMonitor').length, 0, 'ServiceMonitor rendered by default');
});

test('deploy/manifests/podflow.yaml is the chart rendered with default values (run deploy/tools/render-manifests)', () => {
  const expected = execFileSync('bash', [join(ROOT, 'deploy/tools/render-manifests'), '--stdout'], { encoding: 'utf8' });
  const committed = readFileSync(join(ROOT, 'deploy/manifests/podflow.yaml'), 'utf8');
  assert.ok(committed === expected, 'deploy/manifests/podflow.yaml is stale: run deploy/tools/render-manifests');
  const objects = YAML.parseAllDocuments(committed).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
  const result = validate(objects, 'manifests.yaml');
  assert.equal(result.status, 0, result.output);
  assert.equal(result.passed.size, objects.length);
});
