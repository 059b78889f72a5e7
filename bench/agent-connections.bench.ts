// Short connections per second: wrk in one pod, every request on a new TCP
// connection (Connection: close), against a Node HTTP server in another pod,
// side by side in one run without and with `podflow run` (all probes), rounds
// alternating. Figures: the overhead in percent (target <= 5%) and the agent's
// CPU per 10,000 connections/s, from /proc/<pid>/stat over the measured window.
// Steady state is measured, as a DaemonSet runs for days: the server is warmed
// up before the first round, and each agent takes the load for WARMUP_SECONDS
// before its window opens. In a freshly started agent V8 is still compiling
// its hot paths (TurboFan was 8.6% of the agent's CPU over the first 10 s of
// load, 0.4% after 20 s; perf, BENCH_AGENT_NODE_ARGS=--perf-basic-prof).
import { AgentProcess } from './lib/agent.js';
import { runBench } from './lib/cleanup.js';
import { CpuWindow } from './lib/proc-usage.js';
import { shortConnections } from './lib/short-connections.js';
import { median, pairedOverheadPercent, printResult, round, SMOKE } from './lib/stats.js';

// Eight rounds: one 10 s wrk window lands anywhere in 9,000-12,200 conn/s on the 2-core VM, and
// four rounds gave 4.8% and 25% on the same build within minutes (2026-11-30).
const ROUNDS = SMOKE ? 1 : 8;
const SECONDS = SMOKE ? 2 : 10;
const WARMUP_SECONDS = SMOKE ? 1 : 10;
const METRICS_PORT = 19302;
const TARGET_PERCENT = 5;

await runBench(async (cleanup) => {
  const load = await shortConnections(cleanup, 'pfqcn', '10.241.21', '10.241.22');
  const { pods } = load;
  const run = (seconds = SECONDS) => load.run(seconds);

  const without: number[] = [];
  const withAgent: number[] = [];
  const agentCpu: number[] = [];
  const cpuPer10k: number[] = [];
  let connections = 0;
  let tcpEvents = 0;
  let httpEvents = 0;
  let dropsEvents = 0;
  let kernelDropped = 0;
  const measureWith = async () => {
    const agent = await AgentProcess.start({
      interfaces: pods.hostInterfaces, metricsPort: METRICS_PORT, nodeName: 'pfq-connections', args: ['-o', 'json'],
      config: 'flows:\n  activeTimeout: 5s\n  idleTimeout: 2s\n',
    });
    cleanup.add(() => agent.kill());
    run(WARMUP_SECONDS);
    const before = await agent.metrics();
    const cpu = new CpuWindow(agent.pid);
    cpu.start();
    const r = run();
    const used = cpu.stop();
    // Records of the last connections are still on their way when wrk ends.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await agent.metrics();
    await agent.stop();
    const delta = (probe: string) => AgentProcess.sum(after, 'podflow_probe_events_total', { probe }) - AgentProcess.sum(before, 'podflow_probe_events_total', { probe });
    withAgent.push(r.requestsPerSecond);
    agentCpu.push(used.cpuPercent);
    cpuPer10k.push((used.cpuPercent * 10_000) / r.requestsPerSecond);
    connections += r.requests;
    tcpEvents += delta('tcp');
    httpEvents += delta('http');
    dropsEvents += delta('drops');
    kernelDropped += AgentProcess.sum(after, 'podflow_probe_kernel_dropped_total') - AgentProcess.sum(before, 'podflow_probe_kernel_dropped_total');
  };
  run(WARMUP_SECONDS);
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) {
      without.push(run().requestsPerSecond);
      await measureWith();
    } else {
      await measureWith();
      without.push(run().requestsPerSecond);
    }
    console.log(`round ${i + 1}: without ${without.at(-1)!.toFixed(0)} conn/s, with podflow ${withAgent.at(-1)!.toFixed(0)} conn/s (agent cpu ${agentCpu.at(-1)!.toFixed(1)}%)`);
  }
  // The connections must have reached the agent (else it was idle, not measured); what it could not take is counted.
  if (tcpEvents === 0 || httpEvents === 0) {
    throw new Error(`podflow saw nothing: ${tcpEvents} tcp and ${httpEvents} http events for ${connections} connections`);
  }

  const w = median(without);
  const a = median(withAgent);
  const overhead = pairedOverheadPercent(without, withAgent);
  const per10k = median(cpuPer10k);
  console.log(`wrk, ${load.concurrency} concurrent, Connection: close, ${SECONDS}s x ${ROUNDS} rounds after ${WARMUP_SECONDS}s of warm-up (medians): without ${w.toFixed(0)} conn/s, with podflow ${a.toFixed(0)} conn/s`);
  console.log(`  overhead ${overhead.median.toFixed(2)}% (median of the rounds' pairs; rounds ${overhead.min.toFixed(1)}% to ${overhead.max.toFixed(1)}%; target <= ${TARGET_PERCENT}%); agent cpu ${median(agentCpu).toFixed(1)}% of a core = ${per10k.toFixed(1)}% per 10,000 conn/s`);
  console.log(`  agent events per connection: tcp ${(tcpEvents / connections).toFixed(2)}, http ${(httpEvents / connections).toFixed(2)}, drops ${(dropsEvents / connections).toFixed(2)}; kernel drops ${kernelDropped} (${(kernelDropped / connections).toFixed(2)} per connection)`);
  printResult({
    name: 'agent-connections', value: round(overhead.median), unit: '% overhead',
    roundsMinPercent: round(overhead.min, 1), roundsMaxPercent: round(overhead.max, 1),
    withoutConnPerSec: Math.round(w), withConnPerSec: Math.round(a), targetPercent: TARGET_PERCENT,
    agentCpuPercent: round(median(agentCpu), 1), agentCpuPercentPer10kConnPerSec: round(per10k, 1),
    tcpEventsPerConn: round(tcpEvents / connections), httpEventsPerConn: round(httpEvents / connections), dropsEventsPerConn: round(dropsEvents / connections),
    kernelDroppedPerConn: round(kernelDropped / connections),
    concurrency: load.concurrency, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, rounds: ROUNDS,
  });
});
