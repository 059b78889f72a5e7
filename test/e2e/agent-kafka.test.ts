// `podflow run --sink kafka` as a child process (root, the real kernel, the
// tcp probe) delivering to the real broker of test/peers/kafka, with two
// "pods" (network namespaces, test/kernel/pod-net.ts) making connections whose
// 4-tuples the test chose. Read back with kcat; values decoded by protoc.
// 1. N known connections -> exactly the matching TCP_OPEN and TCP_CLOSE
//    records, per side, with one key per conversation and the right headers.
// 2. The broker stopped for 20 s mid-stream: the agent keeps running (one pid,
//    exit 0 on SIGTERM), its RSS stays bounded, everything its buffer held is
//    delivered, and what it shed is counted alike in LOSS records and /metrics.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CONTENT_TYPES, SCHEMA_VERSION } from '../../src/pipeline/sinks/kafka-message.js';
import { decodeFlowRecord } from '../../src/proto/protobuf.js';
import { RecordType } from '../../src/pipeline/types.js';
import { PodNet } from '../kernel/pod-net.js';
import { consumeTopic, protocDecode, releasePeer, startPeer, withPeerStopped, type ConsumedMessage } from '../peers/peers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/podflow.js');
const SUBNET = '10.242.30';
const CLIENT = `${SUBNET}.2`;
const SERVER = `${SUBNET}.3`;
/** Known connections: server port SERVER_PORT + i, client port CLIENT_PORT + i. */
const SERVER_PORT = 7100;
const CLIENT_PORT = 40100;
const KNOWN = 20;
/** The outage test's background load goes to this port from ephemeral client ports (50000-60999 in the pod). */
const LOAD_PORT = 7300;
const BUFFER_BYTES = 2 * 1024 * 1024;
const QUEUES = { ingest: 8192, sink: 4096, lossRecords: 256, sinkBatch: 512, sinkInFlight: 2 };

const dir = mkdtempSync('/tmp/pfk-agent-');
const config = join(dir, 'podflow.yaml');
const metadata = join(dir, 'metadata.yaml');
let net: PodNet | undefined;
let kafka: Record<string, string>;
const children = new Set<ChildProcess>();

before(async () => {
  kafka = await startPeer('kafka');
  net = new PodNet('pfk', SUBNET, [{ name: 'client', host: 2 }, { name: 'server', host: 3 }]);
  // The load's ephemeral ports stay clear of the known client ports.
  net.exec('client', 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=50000 60999']);
  // The server ends every connection first (its side keeps the TIME_WAIT, the client's ports are free at once).
  const ports = [...Array.from({ length: 3 * KNOWN }, (_, i) => SERVER_PORT + i), LOAD_PORT];
  const server = net.spawn('server', process.execPath, ['--input-type=module', '-e', `
    import { createServer } from 'node:net';
    let listening = 0;
    for (const port of ${JSON.stringify(ports)}) {
      createServer((s) => { s.once('data', () => s.end('ok')); s.on('error', () => {}); })
        .listen(port, '${SERVER}', () => { if (++listening === ${ports.length}) console.log('ready'); });
    }`]);
  children.add(server);
  await PodNet.ready(server, 'the pod server');
  writeFileSync(metadata, `pods:\n  - { name: client-0, namespace: pfk, ip: ${CLIENT} }\n  - { name: server-0, namespace: pfk, ip: ${SERVER} }\n`);
  writeFileSync(config, [
    'lossInterval: 1s',
    'shutdownDeadline: 10s',
    // Only this test's pods (the tcp probe sees every socket of the machine); LOSS records always pass.
    'filters:',
    `  allow: [{ ip: ['${SUBNET}.0/24'] }]`,
    'queues:',
    ...Object.entries(QUEUES).map(([k, v]) => `  ${k}: ${v}`),
    'kafka:',
    `  bufferSize: ${BUFFER_BYTES}`,
    '',
  ].join('\n'));
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  net?.destroy();
  rmSync(dir, { recursive: true, force: true });
  await releasePeer('kafka');
});

interface Agent {
  child: ChildProcess;
  pid: number;
  stderr: () => string;
  metric: (series: string) => Promise<number | undefined>;
  stop: () => Promise<number | null>;
}

/** `podflow run` with the tcp probe and the kafka sink, until "agent running". */
async function startAgent(topic: string, node: string): Promise<Agent> {
  const child = spawn(process.execPath, [bin, 'run', '--config', config, '--probes', 'tcp', '--sink', 'kafka',
    '--kafka-brokers', kafka.bootstrap, '--kafka-topic', topic, '--node-name', node, '--metadata-file', metadata,
    '--metrics-addr', '127.0.0.1:0', '--observe-socket', join(dir, `${node}.sock`)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!err.includes('"msg":"agent running"')) {
    if (child.exitCode !== null) assert.fail(`the agent exited ${child.exitCode}: ${err.slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`the agent did not start: ${err.slice(-3000)}`);
    await sleep(100);
  }
  const port = /"address":"127\.0\.0\.1:(\d+)","msg":"serving \/metrics/.exec(err)?.[1];
  assert.ok(port, 'the agent logged its metrics address');
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    metric: async (series) => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    },
    stop: async () => {
      child.kill('SIGTERM');
      const [code] = await exited;
      children.delete(child);
      return code;
    },
  };
}

/** `count` connections from the client pod, one after another: client port CLIENT_PORT + first + i to SERVER_PORT + first + i. */
async function knownConnections(first: number, count: number): Promise<void> {
  await net!.run('client', process.execPath, ['--input-type=module', '-e', `
    import { connect } from 'node:net';
    for (let i = ${first}; i < ${first + count}; i++) {
      await new Promise((resolve, reject) => {
        const s = connect({ host: '${SERVER}', port: ${SERVER_PORT} + i, localAddress: '${CLIENT}', localPort: ${CLIENT_PORT} + i }, () => s.write('x'));
        s.on('data', () => {});
        s.on('end', () => s.end());
        s.on('close', resolve);
        s.on('error', reject);
      });
    }`]);
}

/** The client-side port of a known connection's record, or undefined for any other record. */
function knownIndex(r: ReturnType<typeof decodeFlowRecord>): number | undefined {
  const i = (r.source?.port ?? 0) - CLIENT_PORT;
  const match = r.source?.ip === CLIENT && r.destination?.ip === SERVER && i >= 0 && i < 3 * KNOWN && r.destination?.port === SERVER_PORT + i;
  return match ? i : undefined;
}

/** protoc's text format (proto field names, snake_case) as nested objects (repeated fields: the last one). */
function parseTextFormat(text: string): Record<string, unknown> {
  const stack: Record<string, unknown>[] = [{}];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const top = stack[stack.length - 1];
    if (line === '}') stack.pop();
    else if (line.endsWith(' {')) {
      const child = {};
      top[line.slice(0, -2)] = child;
      stack.push(child);
    } else {
      const colon = line.indexOf(': ');
      const value = line.slice(colon + 2);
      top[line.slice(0, colon)] = value.startsWith('"') ? JSON.parse(value) : /^-?\d+$/.test(value) ? Number(value) : value;
    }
  }
  return stack[0];
}

/** Messages with distinct record ids (the first of each), as a consumer de-duplicates after a producer retry. */
function distinctById(messages: ConsumedMessage[]): { unique: ConsumedMessage[]; duplicates: number } {
  const seen = new Map<string, ConsumedMessage>();
  for (const m of messages) {
    const id = m.headers['record-id'];
    const first = seen.get(id);
    if (first) assert.ok(first.value.equals(m.value), `duplicates of ${id} carry the same record`);
    else seen.set(id, m);
  }
  return { unique: [...seen.values()], duplicates: messages.length - seen.size };
}

test('N known connections between two pods -> exactly their TCP_OPEN and TCP_CLOSE records per side in Kafka, decoded by protoc', { timeout: 5 * 60_000 }, async (t: TestContext) => {
  const topic = `pfk.records.${Date.now().toString(36)}`;
  const node = 'pfk-node-records';
  const agent = await startAgent(topic, node);
  try {
    await knownConnections(0, KNOWN);
    await sleep(1000);
  } finally {
    assert.equal(await agent.stop(), 0, agent.stderr().slice(-3000));
  }

  const { unique, duplicates } = distinctById(await consumeTopic(kafka.bootstrap, topic));
  t.diagnostic(`${unique.length} distinct records in the topic, ${duplicates} duplicates dropped by record id`);
  const ours = unique.filter((m) => knownIndex(decodeFlowRecord(m.value)) !== undefined);
  const seen = new Map<string, number>();
  const keys = new Map<number, { key: string; partition: number }>();
  for (const m of ours) {
    // protoc, not podflow's decoder, says what the record is.
    const r = parseTextFormat(await protocDecode(m.value)) as {
      id: string; type: string; node_name: string; conversation_id: string;
      source: { ip: string; port: number; pod?: { name: string } }; destination: { ip: string; port: number; pod?: { name: string } };
      transport: { protocol: string }; observation: { probe: string; side: string };
    };
    const i = r.source.port - CLIENT_PORT;
    assert.equal(r.source.ip, CLIENT);
    assert.equal(r.destination.ip, SERVER);
    assert.equal(r.destination.port, SERVER_PORT + i, 'the 4-tuple is one of the known ones');
    assert.ok(i >= 0 && i < KNOWN, `client port ${r.source.port}`);
    assert.equal(r.transport.protocol, 'TCP');
    assert.equal(r.observation.probe, 'tcp');
    assert.equal(r.node_name, node);
    assert.equal(r.source.pod?.name, 'client-0');
    assert.equal(r.destination.pod?.name, 'server-0');
    assert.deepEqual(m.headers, {
      'content-type': CONTENT_TYPES.protobuf, 'schema-version': SCHEMA_VERSION, 'record-type': r.type, 'record-id': r.id, node,
    }, `headers of ${r.id}`);
    // Both sides and both directions of a conversation: one key (its conversation id), one partition.
    assert.equal(m.key, r.conversation_id);
    const conv = keys.get(i) ?? { key: m.key, partition: m.partition };
    keys.set(i, conv);
    assert.deepEqual({ key: m.key, partition: m.partition }, conv, `connection ${i}: one key and partition for every record`);
    const what = `${i} ${r.type} ${r.observation.side}`;
    seen.set(what, (seen.get(what) ?? 0) + 1);
  }
  const expected = new Map<string, number>();
  for (let i = 0; i < KNOWN; i++) for (const type of ['TCP_OPEN', 'TCP_CLOSE']) for (const side of ['CLIENT', 'SERVER']) expected.set(`${i} ${type} ${side}`, 1);
  assert.deepEqual(new Map([...seen].sort()), new Map([...expected].sort()), 'exactly one TCP_OPEN and one TCP_CLOSE per side of each known connection');
  assert.equal(new Set([...keys.values()].map((k) => k.key)).size, KNOWN, 'each connection has its own key');
});

/** Resident set size of a process in bytes (/proc/<pid>/status VmRSS). */
function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb, `VmRSS of ${pid}`);
  return Number(kb) * 1024;
}

test('the broker stopped for 20 s mid-stream: the agent keeps running with bounded RSS, delivers what its buffer held, and counts the rest in LOSS records and /metrics alike', { timeout: 10 * 60_000 }, async (t: TestContext) => {
  const topic = `pfk.outage.${Date.now().toString(36)}`;
  const node = 'pfk-node-outage';
  const agent = await startAgent(topic, node);
  const stillRunning = () => assert.equal(agent.child.exitCode, null, `the agent exited: ${agent.stderr().slice(-3000)}`);
  let load = startLoad();
  const lossSeries = 'podflow_loss_total{stage="sink:kafka",reason="buffer_full"}';
  let peakRss = 0;
  let baselineRss: number;
  try {
    await knownConnections(0, KNOWN); // before the outage
    await sleep(3000);
    stillRunning();
    baselineRss = rssBytes(agent.pid);
    assert.equal(await agent.metric(lossSeries) ?? 0, 0, 'nothing shed while the broker is up');

    // The load pauses while the broker stops (its shutdown takes a few seconds), so the buffer is not yet full when
    // the second known connections are made.
    load.kill('SIGKILL');
    kafka = await withPeerStopped('kafka', async () => {
      const stoppedAt = Date.now();
      await knownConnections(KNOWN, KNOWN);
      await sleep(500);
      assert.equal(await agent.metric(lossSeries) ?? 0, 0, 'the buffer held everything when the second known connections reached it');
      load = startLoad();
      while (Date.now() - stoppedAt < 20_000) {
        stillRunning();
        peakRss = Math.max(peakRss, rssBytes(agent.pid));
        await sleep(200);
      }
      assert.ok((await agent.metric(lossSeries) ?? 0) > 0, 'the buffer filled and the rest was shed');
      assert.equal(await agent.metric('podflow_sink_ready{sink="kafka"}'), 0, 'not ready while the broker is away');
    });
    stillRunning();
    await waitForMetric(agent, 'podflow_sink_ready{sink="kafka"}', 1, 60_000);
    load.kill('SIGKILL');
    await knownConnections(2 * KNOWN, KNOWN); // after the outage
    // Quiet: nothing shed any more, and the loss counter has been reported in LOSS records (lossInterval 1s).
    await sleep(3000);
    stillRunning();
  } finally {
    load.kill('SIGKILL');
  }
  const shed = (await agent.metric(lossSeries))!;
  const written = (await agent.metric('podflow_sink_records_written_total{sink="kafka"}'))!;
  assert.equal(await agent.stop(), 0, `exit 0 on SIGTERM: ${agent.stderr().slice(-3000)}`);

  // What the configured buffer bounds: encoded bytes held (bufferSize, in 1 MiB slabs) and the LOSS reserve, at most
  // twice bufferSize with the message objects; the queues, at about 1 KiB a record; and 32 MiB for V8's heap growth.
  const queued = QUEUES.ingest + QUEUES.sink + QUEUES.lossRecords + QUEUES.sinkInFlight * QUEUES.sinkBatch;
  const bound = baselineRss + 2 * BUFFER_BYTES + queued * 1024 + 32 * 1024 * 1024;
  t.diagnostic(`RSS before the outage ${(baselineRss / 2 ** 20).toFixed(1)} MiB, peak during it ${(peakRss / 2 ** 20).toFixed(1)} MiB, bound ${(bound / 2 ** 20).toFixed(1)} MiB; shed ${shed}, written ${written}`);
  assert.ok(peakRss <= bound, `RSS ${peakRss} within ${bound}`);

  const { unique, duplicates } = distinctById(await consumeTopic(kafka.bootstrap, topic));
  const data = unique.filter((m) => m.headers['record-type'] !== 'LOSS');
  t.diagnostic(`${unique.length} distinct records delivered (${duplicates} duplicates dropped by record id)`);
  // Every record the sink took and did not shed reached the broker: the rest is exactly the shed count.
  assert.equal(data.length, written - shed, `records delivered (${data.length}) = written to the sink (${written}) - shed (${shed})`);
  const known = new Set<number>();
  for (const m of data) {
    const r = decodeFlowRecord(m.value);
    const i = knownIndex(r);
    if (i !== undefined && r.type === RecordType.TCP_OPEN) known.add(i);
  }
  const missing = Array.from({ length: 3 * KNOWN }, (_, i) => i).filter((i) => !known.has(i));
  assert.deepEqual(missing, [], 'the known connections before, during (while the buffer held) and after the outage were all delivered');

  // LOSS records, decoded by protoc: their counts add up to what /metrics counted.
  let reported = 0;
  for (const m of unique.filter((u) => u.headers['record-type'] === 'LOSS')) {
    const r = parseTextFormat(await protocDecode(m.value)) as { loss: { stage: string; reason: string; count: number } };
    if (r.loss.stage === 'sink:kafka' && r.loss.reason === 'buffer_full') reported += r.loss.count;
  }
  assert.equal(reported, shed, 'LOSS records in the stream report what /metrics counted as shed');
});

/** About 600 connections/s (2,400 records/s) from the client pod's ephemeral ports, in eight loops, until killed. */
function startLoad(): ChildProcess {
  const load = net!.spawn('client', process.execPath, ['--input-type=module', '-e', `
    import { connect } from 'node:net';
    const once = () => new Promise((resolve) => {
      const s = connect(${LOAD_PORT}, '${SERVER}', () => s.write('x'));
      s.on('data', () => {});
      s.on('end', () => s.end());
      s.on('close', resolve);
      s.on('error', resolve);
    });
    for (let loop = 0; loop < 8; loop++) (async () => { for (;;) { const t0 = Date.now(); await once(); await new Promise((r) => setTimeout(r, Math.max(0, 13 - (Date.now() - t0)))); } })();`]);
  children.add(load);
  return load;
}

async function waitForMetric(agent: Agent, series: string, value: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await agent.metric(series) !== value) {
    if (Date.now() > deadline) assert.fail(`${series} did not reach ${value} within ${timeoutMs} ms: ${agent.stderr().slice(-3000)}`);
    await sleep(200);
  }
}
