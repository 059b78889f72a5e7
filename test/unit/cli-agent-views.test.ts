// `podflow probes` and `podflow status` as an operator reads them: the built
// CLI against an agent's observe socket, probes with skipped hooks and a
// lastError (an interface that is not there).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { ObserveServer } from '../../src/agent/observe-server.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { compileFilterSet } from '../../src/pipeline/filter.js';
import type { ProbeStatus } from '../../src/probes/types.js';

const dir = mkdtempSync(join(tmpdir(), 'pfb-views-'));
const socketPath = join(dir, 'observe.sock');
const missing = 'no interface matches "vethx*" of interfaces (present: eth0, lo; a trailing \'*\' matches a prefix)';
const probes: ProbeStatus[] = [
  { probe: 'flows', hook: 'tc', attached: true, skipped: [], eventsSeen: 0, eventsDroppedInKernel: 0, lastError: missing },
  {
    probe: 'tcp', hook: 'tp_btf/inet_sock_set_state', attached: true, eventsSeen: 12, eventsDroppedInKernel: 0,
    skipped: [{ hook: 'fentry/tcp_set_state', reason: 'fentry is not supported: EPERM' }, { hook: 'kprobe/tcp_set_state', reason: 'kprobe is not supported: ENOENT' }],
  },
];
const readiness = { ready: true, probes: true, enrichment: true, sinks: true };
const status: AgentStatus = {
  agent: { version: '0.0.0', nodeName: 'pfb-node', pid: 1, startedAt: '2026-11-30T00:00:00.000Z', uptimeSeconds: 5, readiness },
  probes,
  pipeline: { stages: [], queues: [], sinks: [], losses: [], memory: { heldBytes: 0, limitBytes: null } } as unknown as AgentStatus['pipeline'],
  enrichment: { ready: true, cacheSizes: {} },
  observe: { clients: 0, dropped: 0, refused: 0 },
};
const server = new ObserveServer({
  socketPath, clientBufferBytes: 64 * 1024, maxConnections: 4, historySize: 0,
  agent: { status: () => status, probes: () => probes, readiness: () => readiness },
  compileFilter: (f) => compileFilterSet({ allow: f.allow ?? [], deny: f.deny ?? [] }),
  logger: pino({ level: 'silent' }),
});
before(() => server.listen());
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function podflow(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = fileURLToPath(new URL('../../../bin/podflow.js', import.meta.url));
  const child = spawn(process.execPath, [bin, ...args, '--observe-socket', socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

test('podflow probes: one line per probe, each skipped hook and the last error on lines of their own under it', async () => {
  const r = await podflow(['probes']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').map((l) => l.trimEnd()), [
    'from the running agent',
    'PROBE  HOOK                        STATE',
    'flows  tc                          attached',
    `       last error: ${missing}`,
    'tcp    tp_btf/inet_sock_set_state  attached',
    '       skipped fentry/tcp_set_state: fentry is not supported: EPERM',
    '       skipped kprobe/tcp_set_state: kprobe is not supported: ENOENT',
    '',
  ]);
});

test('podflow status: a probe\'s last error is shown under it', async () => {
  const r = await podflow(['status']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const flows = lines.findIndex((l) => l.startsWith('flows '));
  assert.match(lines[flows], /^flows +tc +0 +0$/);
  assert.equal(lines[flows + 1], `       last error: ${missing}`);
  assert.match(lines[flows + 2], /^tcp +tp_btf\/inet_sock_set_state +12 +0$/);
});
