// `podflow run --sink otlp` as a child process (root, the real kernel, the tcp
// probe) and what it reports about its collector (test/peers/otelcol):
// 1. Nothing listening at the endpoint: start-up fails, exit 1, the endpoint
//    and the cause on stderr (as the Kafka sink with no broker).
// 2. The collector stopped while the agent runs, with nothing to export (the
//    filter lets no record through): /readyz turns 503 with "sinks":false,
//    and 200 again once the collector is back; SIGTERM still exits 0.
// 3. The resource names the agent run: service.instance.id is its boot id.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { attributesOf, logRecordsFor, outputOffset, readCollectorOutput, releasePeer, startPeer, waitFor, withPeerStopped } from '../peers/peers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'bin/podflow.js');
const dir = mkdtempSync('/tmp/pfo-agent-');
const config = join(dir, 'podflow.yaml');
const unfiltered = join(dir, 'unfiltered.yaml');
const children = new Set<ChildProcess>();

before(() => {
  writeFileSync(config, [
    'shutdownDeadline: 10s',
    // A subnet no test uses: the sink has nothing to export, only the health checks ask the collector.
    'filters:',
    "  allow: [{ ip: ['10.242.99.0/24'] }]",
    'otlp:',
    '  timeout: 2s',
    '',
  ].join('\n'));
  writeFileSync(unfiltered, 'shutdownDeadline: 10s\n');
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await releasePeer('otelcol');
});

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

function runAgent(endpoint: string, name: string, extra: string[] = [], configFile = config): Run {
  const child = spawn(process.execPath, [bin, 'run', '--config', configFile, '--probes', 'tcp', '--sink', 'otlp', '--otlp-endpoint', endpoint,
    '--node-name', name, '--metrics-addr', '127.0.0.1:0', '--observe-socket', join(dir, `${name}.sock`), ...extra],
  { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  void exited.then(() => children.delete(child));
  return { child, stderr: () => err, exited };
}

async function readiness(port: string): Promise<{ status: number; body: Record<string, boolean> }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.json() as Record<string, boolean> };
}

test('podflow run --sink otlp with nothing listening at the endpoint exits 1, naming the endpoint and the cause', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  const started = Date.now();
  // The duration bounds a run that does not fail (exit 0 then).
  const run = runAgent(endpoint, 'pfo-closed', ['--duration', '20s']);
  const [code] = await run.exited;
  assert.equal(code, 1, run.stderr().slice(-3000));
  assert.match(run.stderr(), new RegExp(`^podflow: (sink otlp: )?otlp sink: cannot export to ${endpoint.replace(/[.]/g, '\\.')}/v1/logs and \\S+/v1/metrics \\(http/protobuf\\): connect ECONNREFUSED`, 'm'));
  assert.doesNotMatch(run.stderr(), /"msg":"agent running"/);
  assert.ok(Date.now() - started < 30_000, `exited after ${Date.now() - started} ms`);
});

test('/readyz: 503 with "sinks":false while the collector is stopped, 200 again once it is back', { timeout: 5 * 60_000 }, async () => {
  const otelcol = await startPeer('otelcol');
  const run = runAgent(otelcol['otlp-http'], `pfo-outage-${Date.now().toString(36)}`);
  const port = await waitFor('the agent running', async () => {
    if (run.child.exitCode !== null) assert.fail(`the agent exited ${run.child.exitCode}: ${run.stderr().slice(-3000)}`);
    if (!run.stderr().includes('"msg":"agent running"')) return undefined;
    return /"address":"127\.0\.0\.1:(\d+)","msg":"serving \/metrics/.exec(run.stderr())?.[1];
  }, 60_000);
  await waitFor('/readyz 200', async () => ((await readiness(port)).status === 200 ? true : undefined), 30_000);

  await withPeerStopped('otelcol', async () => {
    const down = await waitFor('/readyz 503', async () => {
      const r = await readiness(port);
      return r.status === 503 ? r : undefined;
    }, 30_000);
    assert.deepEqual(down.body, { ready: false, probes: true, enrichment: true, sinks: false });
    // It stays so while the collector is away.
    await sleep(6_000);
    assert.equal((await readiness(port)).status, 503);
  });
  const up = await waitFor('/readyz 200 again', async () => {
    const r = await readiness(port);
    return r.status === 200 ? r : undefined;
  }, 30_000);
  assert.deepEqual(up.body, { ready: true, probes: true, enrichment: true, sinks: true });
  assert.match(run.stderr(), /does not accept exports; not ready until one succeeds/);
  assert.match(run.stderr(), /accepts exports again/);

  run.child.kill('SIGTERM');
  const [code] = await run.exited;
  assert.equal(code, 0, run.stderr().slice(-3000));
});

test('the resource carries service.instance.id, the boot id in the agent\'s record ids', { timeout: 3 * 60_000 }, async () => {
  const otelcol = await startPeer('otelcol');
  const offset = await outputOffset(otelcol.output);
  const node = `pfo-instance-${Date.now().toString(36)}`;
  const run = runAgent(otelcol['otlp-http'], node, [], unfiltered);
  await waitFor('the agent running', async () => {
    if (run.child.exitCode !== null) assert.fail(`the agent exited ${run.child.exitCode}: ${run.stderr().slice(-3000)}`);
    return run.stderr().includes('"msg":"agent running"') ? true : undefined;
  }, 60_000);
  // A loopback connection: the tcp probe sees every socket of the host.
  const server = createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.resume();
  await once(client, 'close');
  server.close();
  const [log] = await waitFor('a log record of the agent', async () => {
    const logs = logRecordsFor(await readCollectorOutput(otelcol.output, offset), node);
    return logs.length > 0 ? logs : undefined;
  }, 30_000);
  const id = String(attributesOf(log!.record.attributes)['podflow.record.id']);
  assert.match(id, new RegExp(`^${node}/[0-9a-f]{8}/\\d+$`));
  assert.equal(log!.resource['service.instance.id'], id.split('/')[1]);
  run.child.kill('SIGTERM');
  const [code] = await run.exited;
  assert.equal(code, 0, run.stderr().slice(-3000));
});
