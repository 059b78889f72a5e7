// Benchmarks that set up namespaces and agents (runBench) run one at a time
// per machine: two at once removed each other's namespaces (the same names) and
// loaded each other's figures. Two processes start one each at the same time:
// their bodies must not overlap, and the second says it is waiting.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLEANUP = fileURLToPath(new URL('../../bench/lib/cleanup.js', import.meta.url));
// Prints when its body starts and ends (ms since the epoch), holding the body for 400 ms.
const SCRIPT = `
const { runBench } = await import(${JSON.stringify(CLEANUP)});
await runBench(async () => {
  const start = Date.now();
  await new Promise((r) => setTimeout(r, 400));
  console.log(JSON.stringify([start, Date.now()]));
});
`;

function bench(): Promise<{ span: [number, number]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ span: JSON.parse(stdout) as [number, number], stderr }) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
}

test('two benchmarks started together run one after the other; the second says it waits', async () => {
  const [a, b] = await Promise.all([bench(), bench()]);
  const [first, second] = a.span[0] <= b.span[0] ? [a, b] : [b, a];
  assert.ok(second.span[0] >= first.span[1], `bodies overlap: ${JSON.stringify([first.span, second.span])}`);
  assert.match(second.stderr, /waiting for another podflow benchmark on this machine to finish/);
  assert.equal(first.stderr, '');
});
