// The benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- NAME [NAME...]`
// the named ones. A benchmark is a compiled file dist/bench/**/<NAME>.bench.js or
// packages/*/dist/bench/<NAME>.bench.js; it runs in its own child process, prints
// its figures, and its last output line is one JSON object {"name","value","unit",...}.
// Results update bench/RESULTS.md (rows of benchmarks that ran are replaced, the
// others kept) with the machine, kernel, date and command. BENCH_SMOKE=1 runs each
// benchmark's short version (CI: benchmarks must keep working) and leaves RESULTS.md alone.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentNodeFlags } from './lib/launch-flags.js';

/** The repository root: this file runs as <root>/dist/bench/run.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'RESULTS.md');
const SMOKE = process.env.BENCH_SMOKE === '1';
const SUFFIX = '.bench.js';

interface Benchmark {
  name: string;
  file: string;
}

interface BenchResult {
  name: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

function findRecursive(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return findRecursive(p);
    return e.name.endsWith(SUFFIX) ? [p] : [];
  });
}

export function discover(root: string): Benchmark[] {
  const files = findRecursive(path.join(root, 'dist', 'bench'));
  const packages = path.join(root, 'packages');
  if (existsSync(packages)) {
    for (const pkg of readdirSync(packages)) {
      const dir = path.join(packages, pkg, 'dist', 'bench');
      if (existsSync(dir)) files.push(...readdirSync(dir).filter((f) => f.endsWith(SUFFIX)).map((f) => path.join(dir, f)));
    }
  }
  const benches = files.map((file) => ({ name: path.basename(file, SUFFIX), file })).sort((a, b) => a.name.localeCompare(b.name));
  const seen = new Map<string, string>();
  for (const b of benches) {
    const other = seen.get(b.name);
    if (other) throw new Error(`two benchmarks are named '${b.name}': ${other} and ${b.file}`);
    seen.set(b.name, b.file);
  }
  return benches;
}

/** Parses the last non-empty line of a benchmark's output; throws naming what is wrong. */
export function parseResult(name: string, output: string): BenchResult {
  const last = output.trimEnd().split('\n').at(-1) ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`benchmark ${name}: the last output line is not JSON: ${JSON.stringify(last.slice(0, 200))}`);
  }
  const r = parsed as Partial<BenchResult>;
  if (typeof r !== 'object' || r === null || typeof r.name !== 'string' || typeof r.value !== 'number' || typeof r.unit !== 'string') {
    throw new Error(`benchmark ${name}: the result line must be {"name": string, "value": number, "unit": string, ...}, got ${last.slice(0, 200)}`);
  }
  return r as BenchResult;
}

function runOne(b: Benchmark): Promise<{ result?: BenchResult; error?: string }> {
  return new Promise((resolve) => {
    console.log(`\n== ${b.name} (${path.relative(ROOT, b.file)})${SMOKE ? ' [smoke]' : ''}`);
    // With the agent's Node flags: the in-process benchmarks (pipeline, sinks, enrich) stand for the agent.
    const child = spawn(process.execPath, [...agentNodeFlags(), b.file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code, signal) => {
      if (code !== 0) return resolve({ error: `benchmark ${b.name} exited with ${signal ?? code}` });
      try {
        resolve({ result: parseResult(b.name, out) });
      } catch (err) {
        resolve({ error: (err as Error).message });
      }
    });
  });
}

function machine(): string {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
  return `${model}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory`;
}

const HEADER = '| benchmark | value | unit | details | measured (UTC) |';
const RULE = '| --- | ---: | --- | --- | --- |';

function formatValue(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(4);
}

function row(r: BenchResult, when: string): string {
  const details = Object.entries(r)
    .filter(([k]) => !['name', 'value', 'unit', 'smoke'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
  return `| ${r.name} | ${formatValue(r.value)} | ${r.unit} | ${details.replace(/\|/g, '\\|')} | ${when} |`;
}

const HISTORY = '## Run history';
const HISTORY_KEEP = 30;

/** Existing table rows by benchmark name, and the run-history lines (newest first). */
function parsePrevious(text: string): { rows: Map<string, string>; history: string[] } {
  const rows = new Map<string, string>();
  const history: string[] = [];
  let inHistory = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) inHistory = line === HISTORY;
    else if (inHistory && line.startsWith('- ')) history.push(line);
    else if (line.startsWith('| ') && line !== HEADER && !line.startsWith('| ---')) {
      const name = line.split('|')[1]?.trim();
      if (name) rows.set(name, line);
    }
  }
  return { rows, history };
}

export function renderResults(previous: string, results: BenchResult[], command: string, now: Date): string {
  const when = now.toISOString().replace('T', ' ').slice(0, 16);
  const { rows, history } = parsePrevious(previous);
  for (const r of results) rows.set(r.name, row(r, when));
  const sorted = [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, l]) => l);
  const kernel = `${os.type()} ${os.release()} (${os.arch()})`;
  // Each row's date points at its run here: command, machine and kernel of every run that wrote rows.
  const run = `- ${when} UTC: \`${command}\` on ${machine()}, ${kernel}, Node ${process.version}; load average ${os.loadavg()[0]!.toFixed(2)}; measured ${results.map((r) => r.name).join(', ')}`;
  return [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts). Rows of benchmarks that did not run in the latest',
    'invocation are kept from earlier runs; the run history below gives the command, machine and',
    'kernel behind each row\'s date.',
    '',
    `- Latest run: ${when} UTC`,
    `- Command: \`${command}\``,
    `- Machine: ${machine()}`,
    `- Kernel: ${kernel}`,
    `- Node: ${process.version}`,
    '',
    HEADER,
    RULE,
    ...sorted,
    '',
    HISTORY,
    '',
    run,
    ...history.slice(0, HISTORY_KEEP - 1),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const all = discover(ROOT);
  const unknown = wanted.filter((w) => !all.some((b) => b.name === w));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.map((b) => b.name).join(', ') || 'none (build first)'}`);
    process.exit(2);
  }
  const selected = wanted.length ? all.filter((b) => wanted.includes(b.name)) : all;
  if (selected.length === 0) {
    console.error('no benchmarks found: run the build first (dist/bench, packages/*/dist/bench)');
    process.exit(2);
  }
  const results: BenchResult[] = [];
  const failures: string[] = [];
  for (const b of selected) {
    const { result, error } = await runOne(b);
    if (result) results.push(result);
    else failures.push(error!);
  }
  console.log('\n== summary');
  for (const r of results) console.log(`  ${r.name}: ${formatValue(r.value)} ${r.unit}`);
  for (const f of failures) console.log(`  FAILED ${f}`);
  if (!SMOKE && results.length) {
    const args = wanted.length ? ` ${wanted.join(' ')}` : '';
    const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` --${args}` : ''}` : `node dist/bench/run.js${args}`;
    const previous = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
    writeFileSync(RESULTS, renderResults(previous, results, command, new Date()));
    console.log(`  results written to ${path.relative(ROOT, RESULTS)}`);
  }
  if (failures.length) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
