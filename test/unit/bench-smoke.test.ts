// The benchmarks must not rot: CI runs the quick ones in their short version
// (BENCH_SMOKE=1) through the real runner, `node dist/bench/run.js NAME...`,
// and each must end its output with its JSON result line. The ones that need
// the Kafka broker or the OTel Collector (kafka, otlp, agent-kafka-latency)
// are left to `npm run bench`. A smoke run must leave bench/RESULTS.md alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseResult } from '../../bench/run.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const QUICK = ['agent-connections', 'agent-kernel-cost', 'agent-rss', 'agent-throughput', 'enrich', 'flows-tc', 'l7', 'pipeline', 'ringbuf'];

function runBenchmarks(names: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/bench/run.js'), ...names], {
      cwd: ROOT, env: { ...process.env, BENCH_SMOKE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The runner's output split into each benchmark's section ("== NAME (file) [smoke]" up to the next "== "). */
function sections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of stdout.split(/^== /m).slice(1)) {
    const name = part.slice(0, part.indexOf(' '));
    out.set(name, part.slice(part.indexOf('\n') + 1));
  }
  return out;
}

test('bench smoke: every quick benchmark runs through bench/run.js and ends with its JSON line', { timeout: 300_000 }, async () => {
  const results = join(ROOT, 'bench/RESULTS.md');
  const before = existsSync(results) ? readFileSync(results, 'utf8') : undefined;
  const { code, stdout, stderr } = await runBenchmarks(QUICK);
  assert.equal(code, 0, `bench/run.js exited ${code}\n--- stdout (tail) ---\n${stdout.slice(-4000)}\n--- stderr (tail) ---\n${stderr.slice(-4000)}`);
  const found = sections(stdout);
  for (const name of QUICK) {
    const section = found.get(name);
    assert.ok(section !== undefined, `no output section for benchmark ${name}; the runner printed:\n${stdout.slice(-2000)}`);
    const result = parseResult(name, section);
    assert.ok(Number.isFinite(result.value), `${name}: value is not a finite number: ${JSON.stringify(result)}`);
    // A rate, a time or a size of 0 means the benchmark measured nothing; an overhead may be 0 or below.
    if (!result.unit.includes('%')) assert.ok(result.value > 0, `${name}: measured nothing: ${JSON.stringify(result)}`);
    assert.match(stdout, new RegExp(`^  ${result.name}: `, 'm'), `${name}: missing from the runner's summary`);
  }
  assert.doesNotMatch(stdout, /FAILED/);
  assert.equal(existsSync(results) ? readFileSync(results, 'utf8') : undefined, before, 'a smoke run must not rewrite bench/RESULTS.md');
});
