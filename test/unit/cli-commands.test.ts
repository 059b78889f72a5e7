// The built CLI as a child process, as scripts and people run it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/podflow.js');
const dir = mkdtempSync(join(tmpdir(), 'pfb-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs podflow with a clean PODFLOW_* environment. */
function podflow(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PODFLOW_')));
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As podflow(), without blocking this process (for tests that serve something to the child). */
async function podflowAsync(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

describe('podflow --help and --version', () => {
  test('--version prints the package version and exits 0', () => {
    const r = podflow(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), version);
  });

  test('--help lists every command and the exit codes', () => {
    const r = podflow(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['run', 'observe', 'probes', 'status', 'config']) assert.match(r.stdout, new RegExp(`\\n  ${command} `));
    assert.match(r.stdout, /Exit codes:[\s\S]*2 {2}bad command line or configuration/);
  });

  const binding = ['--config', '--output', '--sink', '--duration', '--interfaces', '--metrics-addr', '--metadata-file', '--file-path', '--kafka-brokers', '--kafka-topic', '--otlp-endpoint', '--dns-ports', '--dns-timeout'];
  test('run --help documents every binding flag', () => {
    const r = podflow(['run', '--help']);
    assert.equal(r.code, 0);
    for (const flag of binding) assert.match(r.stdout, new RegExp(`${flag} `), flag);
    assert.match(r.stdout, /-o, --output <format>/);
  });

  for (const args of [['observe', '--help'], ['probes', '--help'], ['status', '--help'], ['config', '--help'], ['config', 'check', '--help'], ['help', 'run']]) {
    test(`${args.join(' ')} exits 0 with usage`, () => {
      const r = podflow(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: podflow /);
    });
  }

  test('no command prints the help and exits 2', () => {
    const r = podflow([]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^Usage: podflow /);
  });

  test('npx podflow works from the repository root', () => {
    const r = spawnSync('npx', ['--no-install', 'podflow', '--version'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  });
});

describe('usage errors exit 2 before anything starts', () => {
  test('unknown command', () => {
    const r = podflow(['bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'bogus'/);
  });

  test('unknown flag', () => {
    const r = podflow(['run', '--kafka-broker', 'a:1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--kafka-broker'/);
  });

  test('a bad flag value names the field, the value, the flag and what was expected', () => {
    const r = podflow(['run', '--duration', 'forever']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /duration = "forever" \(from --duration\): expected a duration such as "10s"/);
  });

  test('a bad environment value names the variable', () => {
    const r = podflow(['run'], { PODFLOW_OUTPUT: 'xml' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /output = "xml" \(from PODFLOW_OUTPUT\): expected one of "human", "json", "ocsf"/);
  });

  test('an unknown PODFLOW_* variable is a warning, not an error', () => {
    const r = podflow(['config', 'check', join(root, 'examples/podflow.yaml')], { PODFLOW_KAFKA_TOPICS: 'x' });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^podflow: warning: ignoring environment variable PODFLOW_KAFKA_TOPICS: not a podflow option \(did you mean PODFLOW_KAFKA_TOPIC\?\)$/m);
  });

  test('a sink without its setting', () => {
    const r = podflow(['run', '--sink', 'stdout', '--sink', 'kafka']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /kafka\.brokers not set: expected at least one broker \(--kafka-brokers\) because sinks includes "kafka"/);
  });

  test('a bad observe filter names the flag', () => {
    const r = podflow(['observe', '--ip', '10.0.0.0/40', '--observe-socket', join(dir, 'none.sock')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--ip: "10\.0\.0\.0\/40" is not an IP address or CIDR/);
  });

  test('a --not that negates no filter flag (last, doubled, before another option) is refused, not ignored', () => {
    for (const args of [['--port', '53', '--not'], ['--not', '--not', '--port', '53'], ['--not', '--last', '5', '--port', '53']]) {
      const r = podflow(['observe', '--observe-socket', join(dir, 'none.sock'), ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^podflow: --not must be followed by a filter flag \(e\.g\. --not --port 53\), got (nothing|--not again|--last)$/m, args.join(' '));
      assert.doesNotMatch(r.stderr, /starting the probes/);
    }
  });

  test('a command group without its subcommand (`podflow config`) prints its help and exits 2', () => {
    const r = podflow(['config']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Usage: podflow config /);
  });

  test('observe with filters.allow in the config and filter flags, no agent running: refused with the reason', () => {
    const config = file('allow.yaml', 'filters: {allow: [{port: 53}]}\n');
    const r = podflow(['observe', '--config', config, '--type', 'DNS', '--observe-socket', join(dir, 'none.sock')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^podflow: invalid configuration: filters\.allow \(from the config file or PODFLOW_FILTERS_ALLOW\) and the filter flags both select records.*expected one of the two/m);
    assert.doesNotMatch(r.stderr, /starting the probes/);
  });

  test('no probes: --probes= and probes: [] name probes', () => {
    const r = podflow(['run', '--probes=', '--metrics-addr', 'off', '--observe-socket', join(dir, 'no-probes.sock')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^podflow: invalid configuration: probes = \[\] \(from --probes\): expected at least 1 probe/m);
    const c = podflow(['config', 'check', file('no-probes.yaml', 'probes: []\n')]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /probes = \[\] \(from .*no-probes\.yaml\): expected at least 1 probe/);
  });

  test('a sink listed twice', () => {
    const r = podflow(['run', '--sink', 'stdout,stdout', '--metrics-addr', 'off', '--observe-socket', join(dir, 'twice.sock'), '--log-level', 'silent']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^podflow: invalid configuration: sinks\[1\] = "stdout" \(from --sink\): expected each sink once/m);
    const c = podflow(['config', 'check', file('twice.yaml', 'sinks: [stdout, stdout]\n')]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /sinks\[1\] = "stdout" .*: expected each sink once/);
  });

  test('a missing, unreadable or bad metadata file, before anything starts', () => {
    const absent = join(dir, 'absent-metadata.yaml');
    const sock = join(dir, 'meta.sock');
    const r = podflow(['run', '--metrics-addr', 'off', '--observe-socket', sock, '--metadata-file', absent, '--log-level', 'silent']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`^podflow: invalid configuration: metadataFile = "${absent.replace(/[.]/g, '\\.')}" \\(from --metadata-file\\): cannot read: ENOENT`, 'm'));
    assert.equal(existsSync(sock), false, 'no observe socket');
    const o = podflow(['observe', '--observe-socket', sock, '--metadata-file', dir]);
    assert.equal(o.code, 2);
    assert.match(o.stderr, /metadataFile = ".*" \(from --metadata-file\): cannot read: EISDIR/);
    const bad = file('bad-metadata.yaml', 'pods: [{name: web, namespace: shop, ip: 999.1.1.1}]\n');
    const c = podflow(['config', 'check', file('with-metadata.yaml', `metadataFile: ${bad}\n`)]);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /metadataFile = ".*bad-metadata\.yaml" \(from .*with-metadata\.yaml\): bad metadata file: .*pods\[0\]\.ip \(shop\/web\): expected an IPv4 or IPv6 address, got "999\.1\.1\.1"/);
    const good = file('good-metadata.yaml', 'pods: [{name: web, namespace: shop, ip: 10.0.0.1}]\n');
    assert.equal(podflow(['config', 'check', file('with-good-metadata.yaml', `metadataFile: ${good}\n`)]).code, 0);
  });

  test('a bad observe output format', () => {
    const r = podflow(['observe', '-o', 'yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /argument 'yaml' is invalid/);
  });
});

describe('podflow config check', () => {
  test('the example config is valid', () => {
    const r = podflow(['config', 'check', join(root, 'examples/podflow.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /podflow\.yaml: valid/);
  });

  test('--json prints the effective config, environment applied, secrets redacted', () => {
    const path = file('good.yaml', 'sinks: [kafka]\nkafka:\n  brokers: ["k:9092"]\n  sasl: {mechanism: plain, username: u, password: hunter2}\n');
    const r = podflow(['config', 'check', path, '--json'], { PODFLOW_KAFKA_TOPIC: 'from-env' });
    assert.equal(r.code, 0, r.stderr);
    const effective = JSON.parse(r.stdout) as { kafka: { topic: string; brokers: string[]; sasl: { password: string } }; flows: { activeTimeout: number } };
    assert.equal(effective.kafka.topic, 'from-env');
    assert.deepEqual(effective.kafka.brokers, ['k:9092']);
    assert.equal(effective.kafka.sasl.password, '<redacted>');
    assert.equal(effective.flows.activeTimeout, 30_000);
  });

  test('a bad file exits 2 listing every problem with file, field, value and expectation', () => {
    const path = file('bad.yaml', 'output: xml\nqueues:\n  sink: -1\nkafak: {}\n');
    const r = podflow(['config', 'check', path]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`output = "xml" \\(from ${path.replace(/[.]/g, '\\.')}\\): expected one of`));
    assert.match(r.stderr, /queues\.sink = -1 .*: expected a whole number greater than 0/);
    assert.match(r.stderr, /unknown key "kafak" at the top level/);
  });

  test('a missing file exits 2', () => {
    const r = podflow(['config', 'check', join(dir, 'absent.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read config file .*absent\.yaml: ENOENT/);
  });

  test('a missing FILE argument exits 2', () => {
    const r = podflow(['config', 'check']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'file'/);
  });
});

describe('run-time failures exit 1 with the reason, leaving nothing behind', () => {
  // A recursive mkdir under /proc never returns: the file sink must refuse the path before it tries.
  test('a file sink path on procfs or sysfs fails fast, naming the path', () => {
    symlinkSync('/proc/self', join(dir, 'procfs'));
    for (const [path, where] of [['/proc/pfj/flows.jsonl', 'under /proc'], ['/sys/pfj/flows.jsonl', 'under /sys'], [join(dir, 'procfs/pfj/flows.jsonl'), 'on proc']]) {
      const sock = join(dir, 'file-sink.sock');
      const started = Date.now();
      const r = podflow(['run', '--sink', 'file', '--file-path', path, '--metrics-addr', 'off', '--observe-socket', sock, '--log-level', 'silent']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^podflow: (sink file: )?file sink: ${path.replace(/[./]/g, '\\$&')} is ${where}\\b.*; expected a path on a regular filesystem`, 'm'));
      assert.ok(Date.now() - started < 15_000, `failed after ${Date.now() - started} ms`);
      assert.equal(existsSync(sock), false, 'observe socket removed');
    }
  });

  test('a metrics address already in use', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as { port: number }).port;
      const r = await podflowAsync(['run', '--metrics-addr', `127.0.0.1:${port}`, '--observe-socket', join(dir, 'busy.sock'), '--log-level', 'silent']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^podflow: cannot serve metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE \\(another process serves that port, often another podflow agent on this node: stop it, or choose another --metrics-addr, or off\\)$`, 'm'));
    } finally {
      busy.close();
    }
  });
});

describe('without the rights to load BPF programs', () => {
  const open = mkdtempSync(join(tmpdir(), 'pfb-nobody-'));
  chmodSync(open, 0o777);
  after(() => rmSync(open, { recursive: true, force: true }));
  const asNobody = (args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000, uid: 65534, gid: 65534 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  for (const args of [['run'], ['probes'], ['observe']]) {
    test(`podflow ${args[0]} exits 4 and says what is missing`, () => {
      const r = asNobody([...args, '--observe-socket', join(open, `${args[0]}.sock`), ...(args[0] === 'run' ? ['--metrics-addr', 'off', '--log-level', 'silent'] : [])]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /cannot load BPF programs \(effective capabilities 0x0 hold neither CAP_BPF nor CAP_SYS_ADMIN\); run podflow as root/);
    });
  }

  test('podflow status against a running agent\'s socket (root\'s, 0660) says to run as root, not a bare EACCES', async () => {
    const socketPath = join(dir, 'root-only.sock');
    const server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      chmodSync(socketPath, 0o660);
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'status', '--observe-socket', socketPath], { cwd: root, uid: 65534, gid: 65534 });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('close', (code) => resolve({ code, stderr }));
      });
      // Exit 4 (not root), like the commands that need root to load probes.
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /permission denied: it is open to the agent's user and group only; run this command as root/);
    } finally {
      server.close();
    }
  });
});

describe('commands that need the running agent', () => {
  test('status without an agent exits 3 and says how to start one', () => {
    const r = podflow(['status', '--observe-socket', join(dir, 'no-agent.sock')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no podflow agent is running \(nothing serves .*no-agent\.sock: ENOENT\); start one with `podflow run`/);
  });

  test('status --json without an agent also exits 3 with nothing on stdout', () => {
    const r = podflow(['status', '--json', '--observe-socket', join(dir, 'no-agent.sock')]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
  });
});
