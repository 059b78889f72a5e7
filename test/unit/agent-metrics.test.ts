import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetricsRegistry } from '../../src/agent/metrics.js';
import type { AgentIntrospection, AgentStatus } from '../../src/agent/status.js';
import { createEnricher } from '../../src/enrich/index.js';

const readiness = { ready: true, probes: true, enrichment: true, sinks: true };
const agentWith = (enrichment: () => AgentStatus['enrichment']): AgentIntrospection => ({
  status: () => ({
    agent: { version: 'test', nodeName: 'n', pid: 1, startedAt: '', uptimeSeconds: 0, readiness },
    probes: [],
    pipeline: { stages: [], queues: [], sinks: [], losses: [] },
    enrichment: enrichment(),
    observe: { clients: 0, dropped: 0, refused: 0 },
  }),
  readiness: () => readiness,
  probes: () => [],
});
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('metrics: metadata file reloads and failed reloads, from the enricher\'s source counters; no series without a file', { timeout: 15_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pfe-metrics-'));
  const file = path.join(dir, 'meta.yaml');
  writeFileSync(file, 'pods:\n  - {ip: 10.200.1.2, name: a, namespace: default}\n');
  const enricher = await createEnricher({ metadataFile: file, cgroupRoot: null });
  await enricher.start();
  try {
    // What the agent puts in `podflow status --json` and /metrics reads.
    const registry = createMetricsRegistry(agentWith(() => ({ ready: enricher.ready, cacheSizes: enricher.cacheSizes(), sources: enricher.sourceStats() })));
    let text = await registry.metrics();
    assert.equal(sample(text, 'podflow_enrich_file_reloads_total'), 0);
    assert.equal(sample(text, 'podflow_enrich_file_reload_errors_total'), 0);
    assert.match(text, /# TYPE podflow_enrich_file_reload_errors_total counter/);

    writeFileSync(file, 'pods:\n  - {ip: 10.200.1.300, name: a, namespace: default}\n');
    while (enricher.sourceStats().file_reload_errors === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // past the status one scrape reads
    text = await registry.metrics();
    assert.equal(sample(text, 'podflow_enrich_file_reload_errors_total'), 1);
    assert.equal(sample(text, 'podflow_enrich_file_reloads_total'), 0);
  } finally {
    await enricher.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const withoutFile = await createMetricsRegistry(agentWith(() => ({ ready: true, cacheSizes: {}, sources: {} }))).metrics();
  assert.doesNotMatch(withoutFile, /^podflow_enrich_file_reload/m);
});

test('README.md\'s metrics table lists every podflow_ metric the agent registers, with its type, and no other', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const documented = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `(podflow_\w+)` \| (\w+) \|/gm)) documented.set(m[1]!, m[2]!);
  const registry = createMetricsRegistry(agentWith(() => ({ ready: true, cacheSizes: {}, sources: {} })));
  const registered = new Map(registry.getMetricsAsArray().filter((m) => m.name.startsWith('podflow_')).map((m) => [m.name, String(m.type)]));
  // Series the agent adds only in some configurations (a metadata file) are registered all the same.
  assert.ok(registered.size >= 20, `only ${registered.size} podflow_ metrics registered`);
  for (const [name, type] of registered) assert.equal(documented.get(name), type, `${name} (${type}) in README.md's metrics table`);
  for (const name of documented.keys()) assert.ok(registered.has(name), `README.md documents ${name}, which the agent does not register`);
});
