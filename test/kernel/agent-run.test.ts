// `podflow run` as operators run it: a child process as root, two "pods"
// (test/kernel/pod-net.ts: network namespaces behind veths on a bridge) talking, static
// metadata naming them. Checks the human lines on stdout, /readyz, /metrics,
// `podflow status/observe/probes` against the running agent, then SIGTERM: exit
// 0, and every BPF program the agent held and the TC state of its interfaces
// back to where they were. Then `podflow observe` without an agent, and the
// agent delivering to a real Kafka broker and a real OpenTelemetry Collector
// (test/peers).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RecordType } from '../../src/pipeline/types.js';
import { PROBE_NAMES } from '../../src/probes/types.js';
import { decodeFlowRecord } from '../../src/proto/protobuf.js';
import { PodNet, sh } from './pod-net.js';
import { attributesOf, consumeTopic, logRecordsFor, outputOffset, protocDecode, readCollectorOutput, releasePeer, startPeer, waitFor } from '../peers/peers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/podflow.js');
const SUBNET = '10.244.1';
const PODS = [{ name: 'a', host: 2, pod: 'frontend-1' }, { name: 'b', host: 3, pod: 'backend-1' }] as const;
const CLIENT = `${SUBNET}.2`;
const SERVER = `${SUBNET}.3`;
const SERVER_PORT = 8080;
const HTTP_PORT = 8081;
/** The client port of the connection made just before the SIGTERM (below the ephemeral range). */
const LAST_CLIENT_PORT = 23456;
const SHUTDOWN_DEADLINE_MS = 5000;

const dir = mkdtempSync('/tmp/pfs-agent-');
const socket = join(dir, 'observe.sock');
const config = join(dir, 'podflow.yaml');
const metadata = join(dir, 'metadata.yaml');
let metricsPort = 0;
let net: PodNet | undefined;
let agent: ChildProcess | undefined;
/** Every child this file starts (agents hold BPF programs): SIGKILLed in after() if a test failed before it ended them. */
const children = new Set<ChildProcess>();
function tracked(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
let stdout = '';
let stderr = '';

/** The pods' host-side veths: the interfaces the agent attaches to and must restore. */
const hostIfs = () => net!.hostInterfaces().map((i) => i.name);

/** What the agent may change on an interface: qdiscs, TC filters, and BPF programs attached there (TC or TCX). */
function tcState(dev: string): string {
  return [
    sh('tc', ['qdisc', 'show', 'dev', dev]),
    sh('tc', ['filter', 'show', 'dev', dev, 'ingress']),
    sh('tc', ['filter', 'show', 'dev', dev, 'egress']),
    sh('bpftool', ['net', 'show', 'dev', dev]),
  ].join('\n---\n');
}

function loadedProgramIds(): Set<number> {
  return new Set((JSON.parse(sh('bpftool', ['prog', 'show', '-j'])) as { id: number }[]).map((p) => p.id));
}

/** Which of `held` are still loaded once the kernel had up to 30 s to free them: tp_btf links
 * release their programs from a deferred (RCU) callback some milliseconds after the process exits
 * (seconds on a loaded machine). */
async function stillLoaded(held: Set<number>): Promise<number[]> {
  const end = Date.now() + 30_000;
  for (;;) {
    const loaded = loadedProgramIds();
    const left = [...held].filter((id) => loaded.has(id));
    if (left.length === 0 || Date.now() > end) return left;
    await sleep(50);
  }
}

/** BPF programs a process holds open (its program fds and the programs of its link fds), from /proc. */
function programsHeldBy(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf-prog' && target !== 'anon_inode:bpf_link') continue;
    const id = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (id) ids.add(Number(id[1]));
  }
  return ids;
}

function podflow(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args, '--observe-socket', socket], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}\n--- agent stdout (tail) ---\n${stdout.slice(-2000)}\n--- agent stderr (tail) ---\n${stderr.slice(-4000)}`);
    await sleep(200);
  }
}

async function http(path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Client connections from pod A to the server in pod B, each sending and reading some bytes. */
/** A script's statement: one connection to SERVER_PORT (from `localPort`, if given) sending 20,000 bytes. */
const connection = (localPort?: number): string => `
    await new Promise((resolve, reject) => {
      const s = connect({ host: '${SERVER}', port: ${SERVER_PORT}${localPort === undefined ? '' : `, localPort: ${localPort}`} }, () => s.end(Buffer.alloc(20000, 97)));
      s.on('data', () => {});
      s.on('close', resolve);
      s.on('error', reject);
    });`;

function traffic(connections: number): void {
  const script = `
    import { connect } from 'node:net';
    import { get } from 'node:http';
    await new Promise((resolve, reject) => get('http://${SERVER}:${HTTP_PORT}/api/users', (res) => res.resume().on('end', resolve)).on('error', reject));
    for (let i = 0; i < ${connections}; i++) {${connection()}
    }`;
  net!.exec('a', process.execPath, ['--input-type=module', '-e', script]);
}

const before_: { tc: Record<string, string>; programs: Set<number> } = { tc: {}, programs: new Set() };

before(async () => {
  net = new PodNet('pfs', SUBNET, PODS);
  const server = tracked(net.spawn('b', process.execPath, ['--input-type=module', '-e', `
    import { createServer } from 'node:net';
    import { createServer as createHttpServer } from 'node:http';
    createHttpServer((req, res) => res.end('users')).listen(${HTTP_PORT}, '${SERVER}');
    createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end(Buffer.alloc(50000, 98))); s.on('error', () => {}); })
      .listen(${SERVER_PORT}, '${SERVER}', () => console.log('ready'));`]));
  await PodNet.ready(server, 'the pod servers');
  // The tcp probe sees every connection on this shared machine: a deep --last
  // history keeps the pods' records in it while other tests make traffic.
  writeFileSync(config, 'flows:\n  activeTimeout: 2s\n  idleTimeout: 1s\nlossInterval: 1s\nshutdownDeadline: 5s\nqueues:\n  observeHistory: 20000\n');
  writeFileSync(metadata, `pods:\n${PODS.map((p) => `  - { name: ${p.pod}, namespace: shop, ip: ${SUBNET}.${p.host} }`).join('\n')}\n`);
  for (const dev of hostIfs()) before_.tc[dev] = tcState(dev);
  before_.programs = loadedProgramIds();
});

after(() => {
  for (const child of children) child.kill('SIGKILL');
  net?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('podflow run: records on stdout, metrics, status, observe; SIGTERM leaves nothing behind', { timeout: 120_000 }, async (t) => {
  // Every probe (the default), on this test's interfaces only.
  agent = tracked(spawn(process.execPath, [bin, 'run',
    '--config', config,
    '--interfaces', hostIfs().join(','),
    // Port 0: the agent binds a free port itself (no window for another process to take it) and logs it.
    '--metrics-addr', '127.0.0.1:0',
    '--metadata-file', metadata,
    '--observe-socket', socket,
    '--duration', '100s',
  ], { cwd: root, env: { ...process.env, PODFLOW_NODE_NAME: 'pfb-node', PODFLOW_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] }));
  agent.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  agent.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(agent, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const t0 = Date.now();
  const running = () => {
    if (agent!.exitCode !== null) assert.fail(`the agent exited ${agent!.exitCode}:\n${stderr.slice(-3000)}`);
  };
  metricsPort = await until('the metrics server address in the log', 30_000, () => {
    running();
    const port = /"address":"127\.0\.0\.1:(\d+)","msg":"serving \/metrics/.exec(stderr)?.[1];
    return port === undefined ? undefined : Number(port);
  });
  const readiness = await until('/readyz to answer 200', 30_000, async () => {
    running();
    const r = await http('/readyz');
    return r?.status === 200 ? r.body : undefined;
  });
  assert.deepEqual(JSON.parse(readiness), { ready: true, probes: true, enrichment: true, sinks: true });
  assert.equal((await http('/healthz'))?.status, 200);

  const tReady = Date.now() - t0;
  traffic(5);
  // TCP lines name the pods from the metadata file; FLOW lines come from TC on the pods' veths.
  const tcpLine = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} shop/frontend-1:\\d+ -> shop/backend-1:${SERVER_PORT} TCP open`, 'm');
  const flowLine = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} shop/frontend-1:\\d+ -> shop/backend-1:${SERVER_PORT} FLOW TCP \\S+ \\d+pkt`, 'm');
  await until('a TCP open line for the pods', 20_000, () => (tcpLine.test(stdout) ? true : undefined));
  await until('a FLOW line for the pods', 20_000, () => (flowLine.test(stdout) ? true : undefined));
  const httpLine = /^\d\d:\d\d:\d\d\.\d{3} shop\/frontend-1 -> shop\/backend-1 HTTP GET \/api\/users 200 \d/m;
  await until('an HTTP line for the pods', 20_000, () => (httpLine.test(stdout) ? true : undefined));
  assert.doesNotMatch(stdout, /"level"/, 'logs stay on stderr');
  t.diagnostic(`ready after ${tReady} ms, human lines for the pods after ${Date.now() - t0} ms`);

  const metrics = (await http('/metrics'))!;
  assert.equal(metrics.status, 200);
  const value = (series: string) => {
    const line = metrics.body.split('\n').find((l) => l.startsWith(series + ' '));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  assert.ok(value('podflow_probe_events_total{probe="tcp"}')! > 0, 'tcp events counted');
  assert.ok(value('podflow_probe_events_total{probe="process"}')! > 0, 'process context rides on the tcp events: counted with them');
  assert.ok(value('podflow_probe_events_total{probe="flows"}')! > 0, 'flow events counted');
  assert.equal(value('podflow_probe_attached{probe="flows",hook="tcx"}') ?? value('podflow_probe_attached{probe="flows",hook="tc"}'), 1);
  assert.ok(value('podflow_stage_received_total{stage="ingest"}')! > 0);
  assert.ok(value('podflow_sink_records_written_total{sink="stdout"}')! > 0);
  assert.ok(value('podflow_sink_write_duration_seconds_count{sink="stdout"}')! > 0);
  assert.equal(value('podflow_sink_write_duration_seconds_bucket{sink="stdout",le="+Inf"}'), value('podflow_sink_write_duration_seconds_count{sink="stdout"}'));
  assert.equal(value('podflow_queue_capacity{queue="ingest"}'), 65536);
  assert.notEqual(value('podflow_queue_depth{queue="ingest"}'), undefined);
  assert.equal(value('podflow_enrich_cache_entries{cache="pods"}'), 2, 'the two pods of the metadata file');
  assert.equal(value('podflow_ready'), 1);
  // The rtt probe's kernel histogram (sockops) as a Prometheus histogram.
  assert.ok(value('podflow_tcp_srtt_seconds_count')! > 0, 'smoothed RTT samples exported');
  assert.equal(value('podflow_tcp_srtt_seconds_bucket{le="+Inf"}'), value('podflow_tcp_srtt_seconds_count'));
  assert.equal(value('podflow_stage_failed_total{stage="enrich"}'), 0);
  assert.ok(value('process_resident_memory_bytes')! > 0, 'default process metrics');

  const status = podflow(['status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as {
    agent: { nodeName: string; readiness: { ready: boolean } };
    probes: { probe: string; attached: boolean; eventsSeen: number }[];
    pipeline: { stages: { stage: string; received: number }[]; sinks: { name: string; ready: boolean; written: number }[] };
  };
  assert.equal(s.agent.nodeName, 'pfb-node', 'PODFLOW_NODE_NAME reached the agent');
  assert.equal(s.agent.readiness.ready, true);
  assert.deepEqual(s.probes.map((p) => [p.probe, p.attached]).sort(), [...PROBE_NAMES].sort().map((p) => [p, true]));
  assert.ok(s.pipeline.stages.find((st) => st.stage === 'ingest')!.received > 0);
  const stdoutSink = s.pipeline.sinks.find((k) => k.name === 'stdout')!;
  assert.equal(stdoutSink.ready, true);
  assert.ok(stdoutSink.written > 0);
  const human = podflow(['status']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /ready: yes/);
  assert.match(human.stdout, /^tcp +tp_btf\//m);

  const probes = podflow(['probes', '--json']);
  assert.equal(probes.code, 0, probes.stderr);
  assert.deepEqual((JSON.parse(probes.stdout) as { probe: string }[]).map((p) => p.probe).sort(), [...PROBE_NAMES].sort());

  const observed = podflow(['observe', '--last', '20', '-o', 'json', '--to-pod', 'shop/backend-1', '--type', 'TCP_OPEN']);
  assert.equal(observed.code, 0, observed.stderr);
  const records = observed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; nodeName: string; destination: { ip: string; pod: { name: string } } });
  assert.ok(records.length > 0 && records.length <= 20, `${records.length} records`);
  for (const r of records) {
    assert.equal(r.type, 'TCP_OPEN');
    assert.equal(r.destination.pod.name, 'backend-1');
    assert.equal(r.destination.ip, SERVER);
    assert.equal(r.nodeName, 'pfb-node');
  }
  const table = podflow(['observe', '--last', '3', '-o', 'table', '--from-ip', CLIENT]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TIME +SOURCE +DESTINATION +SUMMARY\n/);
  assert.match(table.stdout, /shop\/frontend-1:\d+ +shop\/backend-1:8080 +(FLOW|TCP)/);

  const held = programsHeldBy(agent.pid!);
  assert.ok(held.size >= 2, `the agent holds its programs (${[...held].join(', ')})`);
  // A last connection, ended well within the idle timeout (1 s) of the SIGTERM: only the shutdown flush reports its flow.
  net!.exec('a', process.execPath, ['--input-type=module', '-e', `import { connect } from 'node:net';${connection(LAST_CLIENT_PORT)}`]);
  const atStop = stdout.length;
  const stoppedAt = Date.now();
  const stopMs = () => Date.now() - stoppedAt;
  agent.kill('SIGTERM');
  const [code, signal] = await exited;
  assert.equal(signal, null);
  assert.equal(code, 0, stderr.slice(-3000));
  assert.ok(stopMs() < SHUTDOWN_DEADLINE_MS + 3000, `stopped in ${stopMs()} ms`);
  t.diagnostic(`SIGTERM to exit: ${stopMs()} ms`);
  assert.match(stderr, /"msg":"pipeline drained"/);
  const lastFlow = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} shop/frontend-1:${LAST_CLIENT_PORT} -> shop/backend-1:${SERVER_PORT} FLOW TCP `, 'm');
  assert.match(stdout.slice(atStop), lastFlow, 'the last connection\'s flow flushed at shutdown');

  assert.deepEqual(await stillLoaded(held), [], 'no program of the agent is still loaded');
  assert.deepEqual([...held].filter((id) => before_.programs.has(id)), [], 'the agent\'s programs were its own');
  for (const dev of hostIfs()) assert.equal(tcState(dev), before_.tc[dev], `TC state of ${dev} restored`);
  assert.equal(existsSync(socket), false, 'observe socket removed');
  assert.equal(await http('/healthz'), undefined, 'metrics server closed');
});

test('SIGINT, a SIGTERM during start-up, and a closed stdout all stop the agent cleanly', { timeout: 60_000 }, async () => {
  const args = [bin, 'run', '--probes', 'tcp,rtt', '--metrics-addr', 'off', '--observe-socket', join(dir, 'sigint.sock')];
  const run = tracked(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(run, 'exit') as Promise<[number | null]>;
  await until('the agent to run', 20_000, () => (err.includes('"msg":"agent running"') ? true : undefined));
  const held = programsHeldBy(run.pid!);
  run.kill('SIGINT');
  assert.equal((await exited)[0], 0, err.slice(-2000));
  assert.deepEqual(await stillLoaded(held), []);

  // Stopped while the probes load: whatever attached is detached again.
  const early = tracked(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] }));
  let earlyErr = '';
  early.stderr!.on('data', (d: Buffer) => (earlyErr += d.toString()));
  const earlyExit = once(early, 'exit') as Promise<[number | null]>;
  await until('the observe socket (start-up under way)', 20_000, () => (earlyErr.includes('serving podflow observe/status') ? true : undefined));
  early.kill('SIGTERM');
  assert.equal((await earlyExit)[0], 0, earlyErr.slice(-2000));
  assert.match(earlyErr, /"msg":"agent stopped"/);
  assert.equal(existsSync(join(dir, 'sigint.sock')), false);

  // `podflow run | head -1`: the reader goes away, the agent stops cleanly.
  const piped = tracked(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  let pipedErr = '';
  piped.stderr!.on('data', (d: Buffer) => (pipedErr += d.toString()));
  const pipedExit = once(piped, 'exit') as Promise<[number | null]>;
  await until('the agent to run', 20_000, () => (pipedErr.includes('"msg":"agent running"') ? true : undefined));
  let firstLine = false;
  piped.stdout!.once('data', () => (firstLine = true));
  await until('a first record line on the pipe', 20_000, () => {
    if (firstLine) return true;
    traffic(1);
    return undefined;
  });
  piped.stdout!.destroy();
  traffic(1);
  assert.equal((await pipedExit)[0], 0, pipedErr.slice(-2000));
  assert.match(pipedErr, /"reason":"stdout closed \(EPIPE\)"/);
});

test('/readyz and /metrics answer while the packet object is verified (seconds), saying the probes are not attached yet', { timeout: 60_000 }, async () => {
  const run = tracked(spawn(process.execPath, [bin, 'run', '--probes', 'flows,dns,http', '--interfaces', hostIfs().join(','),
    '--metrics-addr', '127.0.0.1:0', '--observe-socket', join(dir, 'loading.sock')], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(run, 'exit') as Promise<[number | null]>;
  const port = await until('the metrics server', 20_000, () => /"address":"127\.0\.0\.1:(\d+)"/.exec(err)?.[1]);
  // Before: the load ran on the JS thread, and nothing answered for its 3-7 s on this VM (a liveness probe's timeout is 5 s).
  const answers: { at: number; body: string }[] = [];
  while (!err.includes('"msg":"agent running"')) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    answers.push({ at: Date.now(), body: await res.text() });
    await sleep(25);
  }
  const loading = answers.filter((a) => JSON.parse(a.body).probes === false);
  assert.ok(loading.length >= 3, `${loading.length} answers while the probes loaded`);
  const gaps = answers.slice(1).map((a, i) => a.at - answers[i]!.at);
  assert.ok(Math.max(...gaps) < 2000, `the longest wait between answers during start-up: ${Math.max(...gaps)} ms`);
  run.kill('SIGTERM');
  assert.equal((await exited)[0], 0, err.slice(-2000));
});

test('a file sink on a full disk: logged once, not ready (/readyz 503, podflow_sink_ready 0, podflow status) while its writes fail', { timeout: 60_000 }, async () => {
  const full = join(dir, 'full');
  sh('mkdir', ['-p', full]);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', full]);
  let run: ChildProcess | undefined;
  try {
    const sock = join(dir, 'full.sock');
    run = tracked(spawn(process.execPath, [bin, 'run', '--probes', 'tcp', '--sink', 'file', '--file-path', join(full, 'flows.jsonl'),
      '--metrics-addr', '127.0.0.1:0', '--observe-socket', sock], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] }));
    let err = '';
    run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = once(run, 'exit') as Promise<[number | null]>;
    await until('the agent to run', 30_000, () => (err.includes('"msg":"agent running"') ? true : undefined));
    const port = Number(/"address":"127\.0\.0\.1:(\d+)"/.exec(err)![1]);
    const get = async (path: string) => { const res = await fetch(`http://127.0.0.1:${port}${path}`); return { status: res.status, body: await res.text() }; };
    // Before: the file sink kept saying ready (its file is open), /readyz 200, and nothing was logged.
    const readyz = await until('/readyz to say the file sink cannot deliver', 30_000, async () => {
      traffic(3);
      const r = await get('/readyz');
      return r.status === 503 ? r : undefined;
    });
    assert.deepEqual(JSON.parse(readyz.body), { ready: false, probes: true, enrichment: true, sinks: false });
    assert.match((await get('/metrics')).body, /^podflow_sink_ready\{sink="file"\} 0$/m);
    const status = spawnSync(process.execPath, [bin, 'status', '--json', '--observe-socket', sock], { encoding: 'utf8' });
    const sinks = (JSON.parse(status.stdout) as { pipeline: { sinks: { name: string; ready: boolean; writeErrors: number }[] } }).pipeline.sinks;
    const file = sinks.find((k) => k.name === 'file')!;
    assert.equal(file.ready, false);
    assert.ok(file.writeErrors > 1, 'several writes failed');
    const logged = err.split('\n').filter((l) => l.includes('"level":50') && l.includes('ENOSPC'));
    assert.equal(logged.length, 1, 'the failure is logged once, not once per write');
    assert.match(logged[0], /file sink: a write failed \(ENOSPC: no space left on device, write\); its records are lost \(sink:file\/write_failed\)/);
    run.kill('SIGTERM');
    assert.equal((await exited)[0], 0, err.slice(-2000));
  } finally {
    // The agent holds its file open: gone before the unmount, also when an assertion failed.
    if (run && run.exitCode === null && run.signalCode === null) {
      run.kill('SIGKILL');
      await once(run, 'exit');
    }
    sh('umount', [full]);
  }
});

test('podflow observe without an agent starts the probes itself, prints N records and detaches', { timeout: 60_000 }, async () => {
  const observe = tracked(spawn(process.execPath, [bin, 'observe', '--last', '3', '-o', 'json', '--probes', 'tcp', '--from-ip', CLIENT, '--type', 'TCP_OPEN',
    '--observe-socket', join(dir, 'no-agent.sock'), '--metadata-file', metadata], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  observe.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  observe.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(observe, 'exit') as Promise<[number | null]>;
  await until('the standalone probes to run', 20_000, () => (err.includes('"msg":"agent running"') ? true : undefined));
  const held = programsHeldBy(observe.pid!);
  assert.ok(held.size >= 1, 'the observe process holds the tcp programs');
  let done = false;
  void exited.then(() => (done = true));
  await until('observe to print 3 records and exit', 30_000, () => {
    if (done) return true;
    traffic(1);
    return undefined;
  });
  const [code] = await exited;
  assert.equal(code, 0, err.slice(-2000));
  const records = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; source: { ip: string; pod: { name: string } } });
  assert.equal(records.length, 3);
  for (const r of records) {
    assert.equal(r.type, 'TCP_OPEN');
    assert.equal(r.source.ip, CLIENT);
    assert.equal(r.source.pod.name, 'frontend-1', 'enriched from the metadata file');
  }
  assert.match(err, /no agent is running: starting the probes for this observe session/);
  assert.deepEqual(await stillLoaded(held), [], 'the standalone probes detached');
});

/** Runs the agent (tcp probe) with one sink while the pods open 3 connections, then stops it with SIGTERM (exit 0). */
async function runAgentThroughTraffic(sink: 'kafka' | 'otlp', sinkArgs: string[]): Promise<void> {
  const run = tracked(spawn(process.execPath, [bin, 'run', '--config', config, '--probes', 'tcp', '--sink', sink, ...sinkArgs,
    '--metrics-addr', 'off', '--observe-socket', join(dir, `${sink}.sock`), '--metadata-file', metadata],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  let err = '';
  run.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(run, 'exit') as Promise<[number | null]>;
  await until(`the agent with the ${sink} sink to run`, 60_000, () => {
    if (run.exitCode !== null) assert.fail(`the agent exited ${run.exitCode}: ${err.slice(-3000)}`);
    return err.includes('"msg":"agent running"') ? true : undefined;
  });
  traffic(3);
  await sleep(1000);
  run.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0, err.slice(-3000));
}

test('podflow run --sink kafka: the pods\' records reach a real broker, read back by kcat and decoded by protoc', { timeout: 15 * 60_000 }, async () => {
  const kafka = await startPeer('kafka');
  try {
    const topic = `pfb.agent.${Date.now().toString(36)}`;
    await runAgentThroughTraffic('kafka', ['--kafka-brokers', kafka.bootstrap, '--kafka-topic', topic, '--node-name', 'pfb-kafka-node']);

    const messages = await consumeTopic(kafka.bootstrap, topic);
    const records = messages.map((m) => decodeFlowRecord(m.value));
    const opens = records.filter((r) => r.type === RecordType.TCP_OPEN && r.source?.ip === CLIENT && r.destination?.port === SERVER_PORT);
    assert.ok(opens.length >= 3, `${opens.length} TCP_OPEN records of the pods in ${records.length} messages`);
    for (const r of opens) {
      assert.equal(r.nodeName, 'pfb-kafka-node');
      assert.equal(r.source?.pod?.name, 'frontend-1');
      assert.equal(r.destination?.pod?.name, 'backend-1');
    }
    const opened = messages[records.indexOf(opens[0])];
    const text = await protocDecode(opened.value);
    assert.match(text, /type: TCP_OPEN/);
    assert.match(text, /name: "frontend-1"/);
  } finally {
    await releasePeer('kafka');
  }
});

test('podflow run --sink otlp: the pods\' records reach a real OpenTelemetry Collector as log records', { timeout: 15 * 60_000 }, async () => {
  const otelcol = await startPeer('otelcol');
  try {
    const offset = await outputOffset(otelcol.output);
    const node = `pfb-otlp-${Date.now().toString(36)}`;
    await runAgentThroughTraffic('otlp', ['--otlp-endpoint', otelcol['otlp-http'], '--node-name', node]);

    const opens = await waitFor('TCP_OPEN log records of the pods', async () => {
      const logs = logRecordsFor(await readCollectorOutput(otelcol.output, offset), node)
        .map((l) => attributesOf(l.record.attributes))
        .filter((a) => a['source.address'] === CLIENT && a['destination.port'] === SERVER_PORT && JSON.stringify(a).includes('TCP_OPEN'));
      return logs.length >= 3 ? logs : undefined;
    });
    for (const a of opens) {
      assert.equal(a['source.k8s.pod.name'], 'frontend-1');
      assert.equal(a['destination.k8s.pod.name'], 'backend-1');
    }
  } finally {
    await releasePeer('otelcol');
  }
});
