// The agent's observe socket as `podflow observe/status` use it: a real unix
// socket, real clients, one of them too slow to keep up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { TABLE_HEADER } from '../../src/agent/observe-format.js';
import { ObserveServer } from '../../src/agent/observe-server.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { compileFilterSet } from '../../src/pipeline/filter.js';
import { RecordType, type FlowRecord } from '../../src/pipeline/types.js';
import { fetchStatus, requestAgent } from '../../src/cli/agent-client.js';

const dir = mkdtempSync(join(tmpdir(), 'pfb-observe-'));
const socketPath = join(dir, 'run', 'observe.sock');
const status = { agent: { nodeName: 'pfb-node' } } as AgentStatus;
const server = new ObserveServer({
  socketPath,
  clientBufferBytes: 64 * 1024,
  maxConnections: 4,
  historySize: 100,
  agent: { status: () => status, probes: () => [], readiness: () => status.agent.readiness },
  compileFilter: (f) => compileFilterSet({ allow: f.allow ?? [], deny: f.deny ?? [] }),
  logger: pino({ level: 'silent' }),
});

let seq = 0;
function record(type: number): FlowRecord {
  seq++;
  return {
    id: `pfb/boot/${seq}`, type, nodeName: 'pfb-node', time: { seconds: 1_800_000_000, nanos: 0 },
    source: { ip: '10.234.9.1', port: 40000 + (seq % 1000) }, destination: { ip: '10.234.9.2', port: 80 },
    transport: { protocol: 6, ipVersion: 4 }, traffic: { bytes: seq, packets: 1 },
  };
}

/** Connects and sends one request; the caller reads the socket. */
function connect(request: object): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ path: socketPath }, () => {
      s.write(JSON.stringify(request) + '\n');
      resolve(s);
    });
    s.once('error', reject);
  });
}

before(() => server.listen());
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the socket is only for the agent\'s user and group', () => {
  assert.equal(statSync(socketPath).mode & 0o777, 0o660);
});

test('a second agent on the same socket is refused', async () => {
  const other = new ObserveServer({ ...(server as unknown as { opts: ConstructorParameters<typeof ObserveServer>[0] }).opts });
  await assert.rejects(other.listen(), /another podflow agent is already serving/);
});

test('status and bad requests', async () => {
  assert.deepEqual(await fetchStatus(socketPath), status);
  await assert.rejects(requestAgent(socketPath, { op: 'nope' } as never, () => {}), /unknown op "nope"/);
  await assert.rejects(requestAgent(socketPath, { op: 'observe', filter: { allow: [{ ip: ['300.0.0.0/8'] }] } }, () => {}), /bad filter: allow\[0\]\.ip\[0\] = "300\.0\.0\.0\/8"/);
});

test('--last replays the newest matching records, filtered, then closes', async () => {
  for (let i = 0; i < 30; i++) await server.write([record(i % 2 ? RecordType.DNS : RecordType.FLOW)]);
  const lines: string[] = [];
  await requestAgent(socketPath, { op: 'observe', last: 5, filter: { allow: [{ type: ['DNS'] }] }, format: 'json' }, (l) => lines.push(l));
  const got = lines.map((l) => JSON.parse(l) as { type: string; id: string });
  assert.equal(got.length, 5);
  assert.ok(got.every((r) => r.type === 'DNS'));
  assert.deepEqual(got.map((r) => r.id), [22, 24, 26, 28, 30].map((n) => `pfb/boot/${seq - 30 + n}`));
});

test('a slow client loses records (counted, then told with a LOSS record) and never stalls the agent', async () => {
  const slow = await connect({ op: 'observe', follow: true, format: 'json' });
  slow.pause();
  // A second client reads as fast as it can (in this busy process that is not fast either).
  let compact = '';
  const reader = await connect({ op: 'observe', follow: true, format: 'human', filter: { allow: [{ port: [80] }] } });
  reader.on('data', (d: Buffer) => (compact += d.toString()));
  await sleep(100);
  const droppedBefore = server.stats().dropped;
  const total = 20_000;
  const started = performance.now();
  for (let i = 0; i < total; i += 500) await server.write(Array.from({ length: 500 }, () => record(RecordType.FLOW)));
  const writeMs = performance.now() - started;
  const dropped = server.stats().dropped - droppedBefore;
  assert.ok(dropped > 0, 'the paused client lost records');
  assert.ok(writeMs < 5000, `writes took ${writeMs} ms`);

  // Both catch up: every record either arrived or is counted in the client's LOSS record.
  let json = '';
  slow.on('data', (d: Buffer) => (json += d.toString()));
  slow.resume();
  await until(() => json.includes('"LOSS"'));
  const received = json.trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: { stage: string; reason: string; count: string | number } });
  const loss = received.filter((r) => r.type === 'LOSS');
  assert.equal(loss.length, 1);
  assert.equal(loss[0].loss!.stage, 'observe');
  assert.equal(loss[0].loss!.reason, 'slow_client');
  const slowLost = Number(loss[0].loss!.count);
  assert.equal(received.length - 1 + slowLost, total, 'paused client: received + lost = written');

  const readerLost = () => Number(/ LOSS observe slow_client: (\d+) dropped/.exec(compact)?.[1] ?? 0);
  await until(() => compact.split('\n').length - 1 - (readerLost() ? 1 : 0) + readerLost() === total);
  assert.equal(slowLost + readerLost(), dropped, 'the agent counted exactly what its clients lost');
  assert.match(compact, /^\d\d:\d\d:\d\d\.\d{3} 10\.234\.9\.1:\d+ -> 10\.234\.9\.2:80 FLOW TCP/);
  slow.destroy();
  reader.destroy();
});

test('-o table prints the human line\'s parts in columns, LOSS records without endpoints', async () => {
  const flow = record(RecordType.FLOW);
  const http: FlowRecord = {
    ...record(RecordType.HTTP),
    source: { ip: '10.234.9.1', port: 40001, pod: { namespace: 'shop', name: 'frontend-1' } },
    destination: { ip: '10.234.9.2', port: 8080, pod: { namespace: 'shop', name: 'backend-1' } },
    http: { method: 'GET', path: '/api/users', status: 200 },
  };
  const loss: FlowRecord = { type: RecordType.LOSS, time: { seconds: 1_800_000_000, nanos: 0 }, loss: { stage: 'ingest', reason: 'queue_full', count: 3 } };
  await server.write([flow, http, loss]);
  const lines: string[] = [];
  await requestAgent(socketPath, { op: 'observe', last: 3, format: 'table' }, (l) => lines.push(l));
  assert.equal(lines.length, 3);
  assert.match(lines[0].replace(/ +/g, ' '), new RegExp(`^08:00:00\\.000 10\\.234\\.9\\.1:${flow.source!.port} 10\\.234\\.9\\.2:80 FLOW TCP \\S+ 1pkt$`));
  assert.deepEqual(lines.slice(1).map((l) => l.replace(/ +/g, ' ')), [
    '08:00:00.000 shop/frontend-1 shop/backend-1 HTTP GET /api/users 200',
    '08:00:00.000 LOSS ingest queue_full: 3 dropped',
  ]);
  // Columns line up: each column starts where the header says.
  assert.equal(lines[1].indexOf('shop/backend-1'), TABLE_HEADER.indexOf('DESTINATION'));
  assert.equal(lines[2].indexOf('LOSS'), TABLE_HEADER.indexOf('SUMMARY'));
});

test('the built `podflow observe` with port flags, plain and after --not: the agent accepts the filter and applies it', async () => {
  const to = (port: number, from: number): FlowRecord => ({ ...record(RecordType.DNS), source: { ip: '10.234.9.1', port: from }, destination: { ip: '10.234.9.53', port } });
  const wanted = [to(9053, 41000), to(9053, 41001)];
  await server.write([to(9054, 41000), wanted[0], to(9053, 41999), wanted[1]]);
  const bin = fileURLToPath(new URL('../../../bin/podflow.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'observe', '--observe-socket', socketPath, '--last', '100', '-o', 'json', '--port', '9053', '--not', '--from-port', '41999'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(stderr, '');
  assert.equal(code, 0);
  // LOSS records always pass a filter (the table test's one is still in the history).
  const shown = stdout.trim().split('\n').map((l) => JSON.parse(l) as { id?: string; type: string }).filter((r) => r.type !== 'LOSS');
  assert.deepEqual(shown.map((r) => r.id), wanted.map((r) => r.id));
});

test('the built `podflow observe` says that flags for a session of its own are ignored while an agent runs', async () => {
  const bin = fileURLToPath(new URL('../../../bin/podflow.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'observe', '--observe-socket', socketPath, '--last', '1', '--probes', 'tcp', '--interfaces', 'eth9'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.equal(stderr, 'podflow observe: --probes, --interfaces ignored: the agent running on this node streams with its own configuration (they apply when no agent runs)\n');
});

test('the built `podflow observe` without --last or --follow streams, as it does with no agent running; --duration ends it with exit 0', async () => {
  await until(() => server.stats().clients === 0);
  const bin = fileURLToPath(new URL('../../../bin/podflow.js', import.meta.url));
  const started = Date.now();
  const child = spawn(process.execPath, [bin, 'observe', '--observe-socket', socketPath, '-o', 'json', '--duration', '3s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  await until(() => server.stats().clients === 1 || child.exitCode !== null);
  const live = record(RecordType.HTTP);
  await server.write([live]);
  const [code] = await exited;
  assert.equal(stderr, '');
  assert.equal(code, 0);
  assert.deepEqual(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id), [live.id]);
  assert.ok(Date.now() - started >= 3000, 'ran for --duration');
});

test('a stream ended from the client side (Ctrl-C, --duration) settles, while records keep coming', async () => {
  await until(() => server.stats().clients === 0);
  // Records keep coming while the client ends the stream, as from a real agent.
  const writer = setInterval(() => void server.write([record(RecordType.HTTP)]), 20);
  try {
    const abort = new AbortController();
    let lines = 0;
    const stream = requestAgent(socketPath, { op: 'observe', follow: true, format: 'json' }, () => { if (++lines === 3) abort.abort(); }, abort.signal);
    // Before, the promise never settled: `node dist/src/cli/main.js observe -f` then exited 13 (unsettled top-level await).
    const settled = await Promise.race([stream.then(() => 'resolved'), sleep(3000).then(() => 'still pending')]);
    assert.equal(settled, 'resolved');
  } finally {
    clearInterval(writer);
  }
});

test('the built `podflow observe -f`: an agent that stops ends the stream with exit 1 and says so, not a silent exit 0', async () => {
  const opts = (server as unknown as { opts: ConstructorParameters<typeof ObserveServer>[0] }).opts;
  const path = join(dir, 'stopping.sock');
  const stopping = new ObserveServer({ ...opts, socketPath: path });
  await stopping.listen();
  const bin = fileURLToPath(new URL('../../../bin/podflow.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'observe', '-f', '--observe-socket', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  await until(() => stopping.stats().clients === 1);
  await stopping.stop();
  const [code] = await exited;
  assert.equal(code, 1);
  assert.match(stderr, /^podflow: the agent closed the stream on .*stopping\.sock \(it stopped or restarted\)/);
});

test('connections beyond maxConnections are refused with an error and counted; a closed one frees its place', async () => {
  await until(() => server.stats().clients === 0);
  await sleep(50);
  // Each held socket is destroyed whatever happens, so a failure here cannot leave clients for the next test.
  const held: Awaited<ReturnType<typeof connect>>[] = [];
  try {
    for (let i = 0; i < 4; i++) held.push(await connect({ op: 'observe', follow: true }));
    await until(() => server.stats().clients === 4);
    const refusedBefore = server.stats().refused;
    await assert.rejects(fetchStatus(socketPath), /serves at most 4 observe connections at once \(queues\.observeClients\)/);
    assert.equal(server.stats().refused, refusedBefore + 1);
    held[0].destroy();
    await until(() => server.stats().clients === 3);
    assert.deepEqual(await fetchStatus(socketPath), status);
  } finally {
    for (const s of held) s.destroy();
  }
});

/** Polls `check` for up to 60 s (generous: a loaded machine can stall the server or a client for seconds). */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > end) assert.fail('timed out');
    await sleep(20);
  }
}
