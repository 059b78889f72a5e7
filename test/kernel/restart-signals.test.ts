// The agent under the ways it is stopped. `timeout` (and any supervisor that
// signals the child and then its process group) can deliver SIGTERM twice in
// a row (the kernel merges the two only when the first is still pending): that
// is one stop request and a clean stop (exit 0, the flush done), not the forced
// exit a second signal during shutdown means. A later second signal still
// forces the exit. Each agent's stdout is a pipe nobody reads, filled with the
// records of loopback connections, so its shutdown waits on the sink until the
// deadline (3 s): the second signal arrives while it is still under way; and
// such a blocked stdout must not keep the process alive after the stop.
// Root (the tcp probe).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync('/tmp/hr-signals-');

after(() => rmSync(dir, { recursive: true, force: true }));

async function runningAgent(name: string): Promise<{ child: ReturnType<typeof spawn>; err: () => string; exited: Promise<[number | null]> }> {
  const child = spawn(process.execPath, [join(root, 'bin/podflow.js'), 'run', '--probes', 'tcp', '--metrics-addr', 'off', '--shutdown-deadline', '3s',
    '--observe-socket', join(dir, `${name}.sock`), '--log-level', 'debug'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const end = Date.now() + 30_000;
  while (!err.includes('"msg":"agent running"')) {
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      assert.fail(`the agent did not start: ${err.slice(-2000)}`);
    }
    await sleep(50);
  }
  await connections(2000);
  return { child, err: () => err, exited };
}

/** `count` loopback TCP connections, one after the other: two records each (open, close), ~300 KB of human lines. */
async function connections(count: number): Promise<void> {
  const server = createServer((s) => s.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  for (let i = 0; i < count; i++) {
    const s = connect(port, '127.0.0.1');
    s.resume();
    await once(s, 'close');
  }
  server.close();
}

test('SIGTERM delivered twice in a row (timeout(1), a process-group kill) is one clean stop', { timeout: 60_000 }, async () => {
  const agent = await runningAgent('twice');
  agent.child.kill('SIGTERM');
  await sleep(20);
  agent.child.kill('SIGTERM');
  agent.child.stdout!.resume(); // the stop can now complete
  const [code] = await agent.exited;
  assert.doesNotMatch(agent.err(), /second signal during shutdown/);
  assert.match(agent.err(), /"msg":"signal repeated right after the first: still stopping cleanly"/);
  assert.match(agent.err(), /"msg":"agent stopped"/);
  assert.equal(code, 0, agent.err().slice(-2000));
});

test('a second signal well after the first still forces the exit', { timeout: 60_000 }, async () => {
  const agent = await runningAgent('forced');
  agent.child.kill('SIGTERM');
  await sleep(500);
  agent.child.kill('SIGTERM');
  const [code] = await agent.exited;
  assert.equal(code, 1, agent.err().slice(-2000));
  assert.match(agent.err(), /second signal during shutdown: exiting without a clean stop/);
});

test('an agent whose stdout nobody reads still exits after SIGTERM', { timeout: 60_000 }, async () => {
  const agent = await runningAgent('blocked');
  const stoppedAt = Date.now();
  agent.child.kill('SIGTERM');
  const [code] = await agent.exited;
  const ms = Date.now() - stoppedAt;
  assert.match(agent.err(), /"msg":"agent stopped"/);
  assert.match(agent.err(), /output still blocked after the stop/);
  assert.equal(code, 1);
  assert.ok(ms < 3000 + 5000 + 3000, `exited ${ms} ms after SIGTERM (deadline 3 s, then 5 s)`);
});
