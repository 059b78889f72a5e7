// A clean SIGTERM under steady traffic: `podflow run` (every probe, file sink)
// watches a client in one pod making short HTTP connections to a server in
// another, and is stopped while they go on. What the probes produced up to
// their detach must reach the pipeline before it stops taking records: the
// final LOSS records may not count any as ingest/stopped (the ring buffers'
// last batches, delivered to JavaScript after the consumer threads were
// joined, used to come after the pipeline had stopped).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess } from '../../bench/lib/agent.js';
import { PodPair, spawnIn, waitForOutput } from '../../bench/lib/pods.js';

const PORT = 8080;
/** Connections a second: steady, far below what loads the two-core VMs the tests run on. */
const RATE = 400;

const SERVER = `
import { createServer } from 'node:http';
createServer((req, res) => res.end('ok\\n')).listen(${PORT}, process.argv[1], () => console.log('listening'));`;

/** One new connection (Connection: close) every 1000/RATE ms, at most 16 open; prints 'started' after the first answer. */
const CLIENT = `
import { get } from 'node:http';
let open = 0, said = false;
setInterval(() => {
  if (open >= 16) return;
  open++;
  get({ host: process.argv[1], port: ${PORT}, agent: false, headers: { connection: 'close' } }, (res) => {
    res.resume();
    res.on('end', () => { open--; if (!said) { said = true; console.log('started'); } });
  }).on('error', () => open--);
}, ${1000 / RATE});`;

const pods = new PodPair('sgt', '10.249.71', '10.249.72');
const dir = mkdtempSync('/tmp/sgt-sigterm-');
const children: ChildProcess[] = [];

before(async () => {
  pods.create();
  const server = spawnIn(pods.server.ns, process.execPath, ['--input-type=module', '-e', SERVER, pods.server.ip]);
  children.push(server);
  await waitForOutput(server, 'listening');
});

after(() => {
  for (const c of children) c.kill('SIGKILL');
  pods.remove();
  rmSync(dir, { recursive: true, force: true });
});

test('SIGTERM during steady short connections: no record reaches the pipeline after it stopped (no ingest/stopped)', { timeout: 120_000 }, async () => {
  const path = join(dir, 'records.jsonl');
  const agent = await AgentProcess.start({
    interfaces: pods.hostInterfaces, metricsPort: 19471, nodeName: 'sgt-node',
    args: ['--sink', 'file', '--file-path', path],
    config: 'shutdownDeadline: 10s\nfile:\n  maxSize: 1GiB\n',
  });
  try {
    const client = spawnIn(pods.client.ns, process.execPath, ['--input-type=module', '-e', CLIENT, pods.server.ip]);
    children.push(client);
    await waitForOutput(client, 'started');
    await sleep(3000);
    // Traffic goes on through the stop: the kernel keeps producing until the probes detach.
    await agent.stop(60_000);
    client.kill('SIGKILL');
  } finally {
    agent.kill();
  }
  const types = new Map<string, number>();
  const losses = new Map<string, number>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line) as { type: string; loss?: { stage: string; reason: string; count: number } };
    types.set(r.type, (types.get(r.type) ?? 0) + 1);
    if (r.type === 'LOSS' && r.loss) {
      const key = `${r.loss.stage}/${r.loss.reason}`;
      losses.set(key, (losses.get(key) ?? 0) + Number(r.loss.count));
    }
  }
  const seen = JSON.stringify([...types]);
  assert.ok((types.get('TCP_OPEN') ?? 0) > RATE, `records flowed until the stop: ${seen}`);
  assert.ok((types.get('HTTP') ?? 0) > RATE, `records flowed until the stop: ${seen}`);
  assert.equal(losses.get('ingest/stopped') ?? 0, 0, `records reached the pipeline after it stopped; losses: ${JSON.stringify([...losses])}`);
});
