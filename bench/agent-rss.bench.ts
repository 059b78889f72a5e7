// The agent's resident memory holding 100,000 active flows: a raw-socket sender
// in one pod sends one UDP packet per distinct 5-tuple to a sink in another pod;
// `podflow run` (all probes) drains the kernel's flow map each tick into its
// flow table, where they stay (idle timeout 5 min). RSS from /proc/<pid>/status.
// Proof that they really were held: no FLOW record for them before SIGTERM, and
// one per flow after it (shutdown flushes the flow table, pacing itself against
// the default sink queue of 16,384 records). Target: <= 150 MB.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess } from './lib/agent.js';
import { runBench } from './lib/cleanup.js';
import { pfqLoad } from './lib/load-tools.js';
import { execIn, PodPair, spawnIn, waitForOutput } from './lib/pods.js';
import { rssBytes, rssParts } from './lib/proc-usage.js';
import { printResult, round, SMOKE } from './lib/stats.js';

const DPORT = 7000;
const DPORTS = 2;
const SPORT = 10000;
const SPORTS = SMOKE ? 5_000 : 50_000;
const FLOWS = SPORTS * DPORTS;
/** Below the kernel map's 65,536 entries per drain (one drain a second). */
const PACKETS_PER_SECOND = 20_000;
const METRICS_PORT = 19303;
const TARGET_MB = 150;
const MB = 1e6;

await runBench(async (cleanup) => {
  const load = pfqLoad();
  const pods = new PodPair('pfqrs', '10.241.31', '10.241.32');
  cleanup.add(() => pods.remove());
  pods.create();
  const sink = spawnIn(pods.server.ns, load, ['udp-sink', pods.server.ip, String(DPORT), String(DPORTS)]);
  cleanup.add(() => sink.kill('SIGKILL'));
  await waitForOutput(sink, 'ready');

  const agent = await AgentProcess.start({
    interfaces: pods.hostInterfaces, metricsPort: METRICS_PORT, nodeName: 'pfq-rss', args: ['-o', 'json'], stdout: 'pipe',
    // Flows stay in the table for the whole measurement. The default queues: the shutdown flush of all of
    // them paces itself against the sink queue instead of needing queues as large as the table.
    config: 'flows:\n  activeTimeout: 10m\n  idleTimeout: 5m\nshutdownDeadline: 60s\n',
  });
  cleanup.add(() => agent.kill());
  let benchFlowRecords = 0;
  const ports = new Set<number>();
  const lines = createInterface({ input: agent.child.stdout! });
  const stdoutClosed = once(lines, 'close');
  lines.on('line', (line) => {
    if (!line.includes('"FLOW"')) return;
    const r = JSON.parse(line) as { destination?: { ip?: string; port?: number }; source?: { port?: number } };
    if (r.destination?.ip !== pods.server.ip) return;
    benchFlowRecords++;
    ports.add((r.source?.port ?? 0) * 65536 + (r.destination.port ?? 0));
  });
  await sleep(2000);
  const idleRss = rssBytes(agent.pid);

  const sent = execIn(pods.client.ns, load, ['udp-flows', pods.client.ip, pods.server.ip, String(SPORT), String(SPORTS), String(DPORT), String(DPORTS), String(PACKETS_PER_SECOND)]);
  console.log(`sender: ${sent.trim()} (${FLOWS} distinct 5-tuples at ${PACKETS_PER_SECOND} packets/s)`);
  // Two drains (one a second) move the last packets into the flow table; then RSS settles.
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssBytes(agent.pid));
    await sleep(1000);
  }
  const parts = rssParts(agent.pid);
  const metrics = await agent.metrics();
  const heapUsed = AgentProcess.sum(metrics, 'nodejs_heap_size_used_bytes');
  const kernelDropped = AgentProcess.sum(metrics, 'podflow_probe_kernel_dropped_total', { probe: 'flows' });
  const emittedBeforeStop = benchFlowRecords;
  const stopAt = performance.now();
  await agent.stop(90_000);
  await stdoutClosed; // Every line of the shutdown flush read.
  const flushSeconds = (performance.now() - stopAt) / 1000;
  const held = ports.size;
  const rss = Math.max(...samples);
  console.log(`agent RSS: idle ${(idleRss / MB).toFixed(1)} MB, holding ${FLOWS} flows ${(rss / MB).toFixed(1)} MB (max of ${samples.map((s) => (s / MB).toFixed(1)).join(', ')}); JS heap used ${(heapUsed / MB).toFixed(1)} MB`);
  console.log(`  RSS parts: anonymous ${(parts.anon / MB).toFixed(1)} MB, file ${(parts.file / MB).toFixed(1)} MB, shared (BPF maps, ring buffers) ${(parts.shmem / MB).toFixed(1)} MB`);
  console.log(`flow records: ${emittedBeforeStop} before SIGTERM, ${held} distinct flows after it (flushed from the flow table in ${flushSeconds.toFixed(1)} s); kernel drops ${kernelDropped}`);
  // Held means: none left the table early, and every flow came out of it at shutdown.
  if (emittedBeforeStop > FLOWS * 0.01 || held < FLOWS * 0.99) {
    throw new Error(`the agent did not hold the flows: ${emittedBeforeStop} emitted before SIGTERM, ${held} of ${FLOWS} distinct flows after it`);
  }
  printResult({
    name: 'agent-rss', value: round(rss / MB, 1), unit: 'MB', flows: FLOWS, flowsHeld: held, emittedBeforeStop,
    idleRssMb: round(idleRss / MB, 1), flushSeconds: round(flushSeconds, 1),
    anonMb: round(parts.anon / MB, 1), fileMb: round(parts.file / MB, 1), shmemMb: round(parts.shmem / MB, 1), heapUsedMb: round(heapUsed / MB, 1), kernelDropped, targetMb: TARGET_MB,
  });
});
