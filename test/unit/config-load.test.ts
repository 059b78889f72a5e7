import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, flagLayer, loadConfig, validateConfig } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pfb-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function yamlFile(text: string): string {
  const file = join(dir, `c${files++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The one problem message of a config that must be rejected. */
function rejection(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems.join('\n');
  }
  assert.fail('the configuration was accepted');
}

describe('config: layering', () => {
  test('defaults alone make a valid config', () => {
    const c = loadConfig({ env: {} });
    assert.deepEqual(c.sinks, ['stdout']);
    assert.equal(c.output, 'human');
    assert.equal(c.flows.activeTimeout, 30_000);
    assert.equal(c.shutdownDeadline, 10_000);
    assert.equal(c.memoryLimit, 256 * 1024 * 1024);
    assert.equal(c.duration, undefined);
    assert.ok(c.nodeName.length > 0);
  });

  test('YAML < PODFLOW_* environment < flags, mappings merged key by key', () => {
    const file = yamlFile(`
nodeName: from-file
output: json
kafka:
  topic: file-topic
  clientId: file-client
flows:
  activeTimeout: 1m
`);
    const env = { PODFLOW_OUTPUT: 'ocsf', PODFLOW_KAFKA_TOPIC: 'env-topic', PODFLOW_NODE_NAME: 'from-env' };
    const flags = flagLayer([
      { path: ['kafka', 'topic'], flag: '--kafka-topic', value: 'flag-topic' },
      { path: ['output'], flag: '--output', value: undefined },
    ]);
    const c = loadConfig({ file, env, flags });
    assert.equal(c.kafka.topic, 'flag-topic');
    assert.equal(c.kafka.clientId, 'file-client', 'file values survive where nothing overrides them');
    assert.equal(c.output, 'ocsf', 'env beats file when no flag is given');
    assert.equal(c.nodeName, 'from-env');
    assert.equal(c.flows.activeTimeout, 60_000);
  });

  test('unknown PODFLOW_* variables are reported and ignored, with the option a typo was probably meant for', () => {
    const warnings: string[] = [];
    const c = loadConfig({ env: { PODFLOW_KAFKA_BROKER: 'a:1', PODFLOW_PEERS_CACHE: '/var/cache', PODFLOW_OUTPUT: 'json' }, warn: (m) => warnings.push(m) });
    assert.equal(c.output, 'json');
    assert.deepEqual(c.kafka.brokers, []);
    assert.deepEqual(warnings.sort(), [
      'ignoring environment variable PODFLOW_KAFKA_BROKER: not a podflow option (did you mean PODFLOW_KAFKA_BROKERS?)',
      'ignoring environment variable PODFLOW_PEERS_CACHE: not a podflow option',
    ]);
  });

  test('PODFLOW_CONFIG names the file', () => {
    const file = yamlFile('nodeName: via-env-file\n');
    assert.equal(loadConfig({ env: { PODFLOW_CONFIG: file } }).nodeName, 'via-env-file');
  });

  test('environment strings take each option\'s type: lists, numbers, booleans, durations, sizes, mappings', () => {
    const c = loadConfig({
      env: {
        PODFLOW_SINKS: 'stdout, kafka',
        PODFLOW_KAFKA_BROKERS: 'kafka-0.kafka:9092,[fd00::5]:9093',
        PODFLOW_QUEUES_SINK: '1024',
        PODFLOW_KAFKA_TLS_ENABLED: 'true',
        PODFLOW_DNS_PORTS: '53,5353',
        PODFLOW_SHUTDOWN_DEADLINE: '1m30s',
        PODFLOW_MEMORY_LIMIT: '96MiB',
        PODFLOW_OTLP_HEADERS: '{authorization: "Bearer x"}',
        PODFLOW_FILTERS_DENY: '[{namespace: kube-system}]',
      },
    });
    assert.deepEqual(c.sinks, ['stdout', 'kafka']);
    assert.deepEqual(c.kafka.brokers, ['kafka-0.kafka:9092', '[fd00::5]:9093']);
    assert.equal(c.queues.sink, 1024);
    assert.equal(c.kafka.tls.enabled, true);
    assert.deepEqual(c.dns.ports, [53, 5353]);
    assert.equal(c.shutdownDeadline, 90_000);
    assert.equal(c.memoryLimit, 96 * 1024 * 1024);
    assert.deepEqual(c.otlp.headers, { authorization: 'Bearer x' });
    assert.deepEqual(c.filters.deny, [{ namespace: ['kube-system'] }]);
  });

  test('a repeated --sink flag and a comma list both give a list', () => {
    const flags = flagLayer([
      { path: ['sinks'], flag: '--sink', value: ['stdout', 'file'] },
      { path: ['file', 'path'], flag: '--file-path', value: '/tmp/x.jsonl' },
      { path: ['interfaces'], flag: '--interfaces', value: 'eth0,veth*' },
    ]);
    const c = loadConfig({ env: {}, flags });
    assert.deepEqual(c.sinks, ['stdout', 'file']);
    assert.deepEqual(c.interfaces, ['eth0', 'veth*']);
  });

  test('sampling, redaction and filters keep the pipeline\'s shapes', () => {
    const c = validateConfig({
      sampling: { rate: 0.5, byType: { HTTP: 1 } },
      redaction: { rules: [{ field: 'http.path', pattern: '/users/\\d+' }] },
      filters: { allow: [{ namespace: 'default', port: 80, type: ['http'] }] },
    });
    assert.deepEqual(c.sampling, { rate: 0.5, byType: { HTTP: 1 } });
    assert.deepEqual(c.redaction.rules, [{ field: 'http.path', pattern: '/users/\\d+', replacement: '[redacted]' }]);
    assert.deepEqual(c.filters.allow, [{ namespace: ['default'], port: [80], type: ['HTTP'] }]);
  });
});

describe('config: bad input is rejected naming the field, the value and what was expected', () => {
  const cases: { kind: string; input?: Record<string, unknown>; yaml?: string; env?: Record<string, string>; expect: RegExp[] }[] = [
    { kind: 'unknown top-level key', input: { kafak: { brokers: [] } }, expect: [/unknown key "kafak" at the top level/, /expected one of: .*kafka/] },
    { kind: 'unknown nested key', input: { kafka: { broker: 'a:1' } }, expect: [/unknown key "broker" in kafka/, /brokers/] },
    // An unknown key inside a list item lists the item's keys, exactly.
    { kind: 'unknown key in a filter', input: { filters: { allow: [{ ip: '10.0.0.1', bogus: 1 }] } }, expect: [/unknown key "bogus" in filters\.allow\[0\]; expected one of: namespace, fromNamespace, .*, node$/] },
    { kind: 'unknown key in a network', input: { networks: [{ name: 'a', cidr: '10.0.0.0/8', cdir: 'x' }] }, expect: [/unknown key "cdir" in networks\[0\]; expected one of: name, cidr$/] },
    { kind: 'unknown key in a redaction rule', input: { redaction: { rules: [{ field: 'http.path', pattern: 'x', replace: 'y' }] } }, expect: [/unknown key "replace" in redaction\.rules\[0\]; expected one of: field, pattern, replacement$/] },
    { kind: 'unknown key in a filter from the environment', env: { PODFLOW_FILTERS_DENY: '[{namespce: kube-system}]' }, expect: [/unknown key "namespce" in filters\.deny\[0\] \(from PODFLOW_FILTERS_DENY\); expected one of: namespace, fromNamespace, /] },
    // Before: "filters.deny = ... expected a list", of a value that is one with a syntax error.
    { kind: 'a YAML syntax error in a structured variable', env: { PODFLOW_FILTERS_DENY: '[{namespace: [kube-system]' }, expect: [/^filters\.deny = "\[\{namespace: \[kube-system\]" \(from PODFLOW_FILTERS_DENY\): YAML syntax error: Flow map .* at line 1, column 27; expected a YAML or JSON value$/] },
    // Before: accepted; Node bound a cut-off path and the agent failed with "ENOENT ... chmod".
    { kind: 'an observe socket path longer than a unix socket address holds', input: { observeSocket: `/run/${'x'.repeat(100)}/observe.sock` }, expect: [/^observeSocket = "\/run\/x+\/observe\.sock": expected a unix socket path of at most 107 bytes \(the kernel's limit\)/] },
    { kind: 'no probes', input: { probes: [] }, expect: [/probes = \[\]: expected at least 1 probe \(of flows, tcp, /] },
    { kind: 'no probes from an empty --probes', env: { PODFLOW_PROBES: '' }, expect: [/probes = \[\] \(from PODFLOW_PROBES\): expected at least 1 probe/] },
    { kind: 'a sink twice', input: { sinks: ['stdout', 'file', 'stdout'], file: { path: '/tmp/x' } }, expect: [/sinks\[2\] = "stdout"/, /expected each sink once/] },
    { kind: 'wrong type', input: { nodeName: 42 }, expect: [/nodeName = 42/, /expected a string/] },
    { kind: 'wrong type for a list', input: { probes: 'flows' }, expect: [/probes = "flows"/, /expected a list/] },
    { kind: 'bad CIDR in a filter', input: { filters: { allow: [{ ip: '10.0.0.0/33' }] } }, expect: [/filters\.allow\[0\]\.ip\[0\] = "10\.0\.0\.0\/33"/, /expected an IP address or CIDR/] },
    { kind: 'bad CIDR in networks', input: { networks: [{ name: 'partner', cidr: '300.1.2.0/24' }] }, expect: [/networks\[0\]\.cidr = "300\.1\.2\.0\/24"/, /expected a CIDR/] },
    { kind: 'bad duration', input: { flows: { idleTimeout: '10 parsecs' } }, expect: [/flows\.idleTimeout = "10 parsecs"/, /expected a duration such as "10s"/] },
    { kind: 'zero timeout', input: { http: { timeout: '0s' } }, expect: [/http\.timeout = "0s"/, /greater than 0/] },
    { kind: 'duration without unit', input: { shutdownDeadline: 10 }, expect: [/shutdownDeadline = 10/, /expected a duration/] },
    { kind: 'broker address without port', input: { sinks: ['kafka'], kafka: { brokers: ['kafka-0'] } }, expect: [/kafka\.brokers\[0\] = "kafka-0"/, /expected an address HOST:PORT/] },
    { kind: 'broker port out of range', input: { kafka: { brokers: ['kafka-0:99999'] } }, expect: [/kafka\.brokers\[0\] = "kafka-0:99999"/, /HOST:PORT/] },
    { kind: 'bad URL', input: { otlp: { endpoint: 'otel-collector:4317' } }, expect: [/otlp\.endpoint = "otel-collector:4317"/, /expected an http:\/\/ or https:\/\/ URL/] },
    { kind: 'bad enum', input: { output: 'xml' }, expect: [/output = "xml"/, /expected one of "human", "json", "ocsf"/] },
    { kind: 'unknown sink', input: { sinks: ['stdout', 'splunk'] }, expect: [/sinks\[1\] = "splunk"/, /"kafka"/] },
    { kind: 'negative capacity', input: { queues: { sink: -5 } }, expect: [/queues\.sink = -5/, /expected a whole number greater than 0/] },
    { kind: 'fractional capacity', input: { queues: { ingest: 1.5 } }, expect: [/queues\.ingest = 1\.5/, /whole number/] },
    { kind: 'bad size', input: { memoryLimit: 'lots' }, expect: [/memoryLimit = "lots"/, /expected a size such as "256MiB"/] },
    { kind: 'bad flows map memory', input: { flows: { kernelMapMemory: '-1MiB' } }, expect: [/flows\.kernelMapMemory = "-1MiB"/, /expected a size such as "256MiB"/] },
    { kind: 'queues that cannot fit the memory limit', input: { memoryLimit: '64MiB', queues: { ingest: 100000 } }, expect: [/memoryLimit = "64MiB"/, /expected at least 149MiB: the queues hold up to 135328 records/, /podflow observe up to 17MiB/] },
    { kind: 'observe buffers that cannot fit the memory limit', input: { memoryLimit: '128MiB', queues: { observeClients: 64 } }, expect: [/memoryLimit = "128MiB"/, /expected at least 163MiB: .*podflow observe up to 65MiB \(queues\.observeClients x queues\.observeClientBytes/] },
    { kind: 'negative observe history', input: { queues: { observeHistory: -1 } }, expect: [/queues\.observeHistory = -1/, /expected a whole number >= 0/] },
    { kind: 'sampling rate above 1', input: { sampling: { rate: 2 } }, expect: [/sampling\.rate = 2/, /expected a fraction between 0 and 1/] },
    { kind: 'LOSS records cannot be sampled', input: { sampling: { byType: { LOSS: 0.5 } } }, expect: [/unknown key "LOSS" in sampling\.byType; expected one of: FLOW, .*HTTP$/] },
    { kind: 'bad regular expression', input: { redaction: { rules: [{ field: 'http.path', pattern: '(' }] } }, expect: [/redaction\.rules\[0\]\.pattern = "\("/, /expected a valid regular expression/] },
    { kind: 'field that cannot be redacted', input: { redaction: { rules: [{ field: 'source.ip', pattern: '.' }] } }, expect: [/redaction\.rules\[0\]\.field = "source\.ip"/, /"http\.path"/] },
    { kind: 'bad label selector', input: { filters: { deny: [{ label: '=web' }] } }, expect: [/filters\.deny\[0\] = \{"label":"=web"\}/, /expected a valid filter: .*bad label selector term "=web"/] },
    { kind: 'bad workload reference', input: { filters: { allow: [{ workload: 'a/b/c/d' }] } }, expect: [/filters\.allow\[0\]/, /is not a workload/] },
    { kind: 'port out of range', input: { dns: { ports: [70000] } }, expect: [/dns\.ports\[0\] = 70000/, /port number/] },
    { kind: 'sink without its setting', input: { sinks: ['file'] }, expect: [/file\.path not set/, /because sinks includes "file"/] },
    { kind: 'idle timeout above active timeout', input: { flows: { activeTimeout: '10s', idleTimeout: '1m' } }, expect: [/flows\.idleTimeout/, /at most flows\.activeTimeout/] },
    { kind: 'client certificate without key', input: { kafka: { tls: { enabled: true, certFile: '/c.pem' } } }, expect: [/kafka\.tls/, /certFile and keyFile together/] },
    { kind: 'SASL without password', input: { kafka: { sasl: { mechanism: 'plain', username: 'u' } } }, expect: [/kafka\.sasl/, /exactly one of password or passwordFile/] },
    { kind: 'bad SASL mechanism', input: { kafka: { sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } } }, expect: [/kafka\.sasl\.mechanism = "gssapi"/, /"scram-sha-256"/] },
    { kind: 'bad metrics address', input: { metricsAddr: '9464' }, expect: [/metricsAddr = "9464"/, /HOST:PORT/] },
    { kind: 'port 0 for a broker (only a listen address takes any free port)', input: { kafka: { brokers: ['kafka-0:0'] } }, expect: [/kafka\.brokers\[0\] = "kafka-0:0"/, /HOST:PORT/] },
    { kind: 'environment value of the wrong type', env: { PODFLOW_QUEUES_SINK: 'many' }, expect: [/queues\.sink = "many" \(from PODFLOW_QUEUES_SINK\)/, /whole number/] },
    { kind: 'YAML syntax error', yaml: 'kafka:\n  brokers: [a:1\n', expect: [/YAML syntax error/] },
    { kind: 'YAML duplicate key', yaml: 'output: json\noutput: human\n', expect: [/YAML syntax error/, /[Mm]ap keys must be unique/] },
    { kind: 'YAML that is not a mapping', yaml: '- run\n', expect: [/expected a YAML mapping of options at the top level, found a list/] },
  ];
  for (const c of cases) {
    test(c.kind, () => {
      const message = rejection(() => (c.yaml !== undefined || c.env
        ? loadConfig({ file: c.yaml !== undefined ? yamlFile(c.yaml) : undefined, env: c.env ?? {} })
        : validateConfig(c.input!)));
      for (const re of c.expect) assert.match(message, re);
    });
  }

  test('metricsAddr and the DNS settings from flags: port 0 takes any free port, --dns-ports a list', () => {
    const flags = flagLayer([
      { path: ['metricsAddr'], flag: '--metrics-addr', value: '127.0.0.1:0' },
      { path: ['dns', 'ports'], flag: '--dns-ports', value: '53,5353' },
      { path: ['dns', 'timeout'], flag: '--dns-timeout', value: '2s' },
    ]);
    const c = loadConfig({ env: {}, flags });
    assert.equal(c.metricsAddr, '127.0.0.1:0');
    assert.deepEqual(c.dns, { ports: [53, 5353], timeout: 2000 });
  });

  test('a value from the file names the file', () => {
    const file = yamlFile('queues:\n  ingest: 0\n');
    assert.match(rejection(() => loadConfig({ file, env: {} })), new RegExp(`queues\\.ingest = 0 \\(from ${file.replace(/[.]/g, '\\.')}\\)`));
  });

  test('a value from a flag names the flag', () => {
    const flags = flagLayer([{ path: ['duration'], flag: '--duration', value: 'soon' }]);
    assert.match(rejection(() => loadConfig({ env: {}, flags })), /duration = "soon" \(from --duration\): expected a duration/);
  });

  test('every problem is reported at once', () => {
    const message = rejection(() => validateConfig({ output: 'xml', queues: { sink: 0 }, bogus: 1 }));
    assert.match(message, /output/);
    assert.match(message, /queues\.sink/);
    assert.match(message, /bogus/);
  });

  test('secrets never appear in messages', () => {
    const message = rejection(() => validateConfig({
      kafka: { sasl: { mechanism: 'plain', username: 'u', password: 'hunter2', passwordFile: '/s' } },
      otlp: { headers: { authorization: 42 } },
    }));
    assert.doesNotMatch(message, /hunter2/);
    assert.match(message, /<redacted>/);
  });
});
