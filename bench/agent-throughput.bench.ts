// TCP throughput between two pods (network namespaces over veth, routed by the
// host) with iperf3, side by side in one run: without podflow, then with
// `podflow run` (all probes, TC on both pods' host veths), alternating per round
// so drift hits both alike. Figure: throughput overhead in percent (target <= 3%).
import { AgentProcess } from './lib/agent.js';
import { runBench } from './lib/cleanup.js';
import { iperf3, requireTool } from './lib/load-tools.js';
import { PodPair, spawnIn, waitForOutput } from './lib/pods.js';
import { CpuWindow } from './lib/proc-usage.js';
import { median, pairedOverheadPercent, printResult, round, SMOKE } from './lib/stats.js';

// Many short rounds rather than a few long ones: on the 2-core VM one iperf3 run
// lands anywhere in 11-20 Gbit/s (six 5 s runs without podflow, 2026-11-30),
// so the medians need rounds more than length.
const ROUNDS = SMOKE ? 1 : 10;
const SECONDS = SMOKE ? 2 : 5;
const PORT = 5201;
const METRICS_PORT = 19301;
const TARGET_PERCENT = 3;

await runBench(async (cleanup) => {
  requireTool('iperf3', 'iperf3');
  const pods = new PodPair('pfqtp', '10.241.11', '10.241.12');
  cleanup.add(() => pods.remove());
  pods.create();
  // --forceflush: its "Server listening" line must not wait in a pipe's buffer.
  const server = spawnIn(pods.server.ns, 'iperf3', ['-s', '--forceflush', '-B', pods.server.ip, '-p', String(PORT)]);
  cleanup.add(() => server.kill('SIGKILL'));
  await waitForOutput(server, 'Server listening');

  const without: number[] = [];
  const withAgent: number[] = [];
  const agentCpu: number[] = [];
  const retransmits = { without: 0, with: 0 };
  let tcpEvents = 0;
  let probesAttached = 0;
  const measureWithout = () => {
    const r = iperf3(pods.client.ns, pods.server.ip, PORT, SECONDS);
    without.push(r.bitsPerSecond);
    retransmits.without += r.retransmits;
  };
  const measureWith = async () => {
    const agent = await AgentProcess.start({
      interfaces: pods.hostInterfaces, metricsPort: METRICS_PORT, nodeName: 'pfq-throughput', args: ['-o', 'json'],
      config: 'flows:\n  activeTimeout: 5s\n  idleTimeout: 2s\n',
    });
    cleanup.add(() => agent.kill());
    const cpu = new CpuWindow(agent.pid);
    cpu.start();
    const r = iperf3(pods.client.ns, pods.server.ip, PORT, SECONDS);
    const used = cpu.stop();
    withAgent.push(r.bitsPerSecond);
    retransmits.with += r.retransmits;
    agentCpu.push(used.cpuPercent);
    // The agent must have been working, not merely running: the iperf3 connections reached it.
    const m = await agent.metrics();
    tcpEvents += AgentProcess.sum(m, 'podflow_probe_events_total', { probe: 'tcp' });
    probesAttached = AgentProcess.sum(m, 'podflow_probe_attached');
    await agent.stop();
  };
  for (let round = 0; round < ROUNDS; round++) {
    // ABBA order over the rounds: neither side always runs first.
    if (round % 2 === 0) {
      measureWithout();
      await measureWith();
    } else {
      await measureWith();
      measureWithout();
    }
    console.log(`round ${round + 1}: without ${(without.at(-1)! / 1e9).toFixed(2)} Gbit/s, with podflow ${(withAgent.at(-1)! / 1e9).toFixed(2)} Gbit/s (agent cpu ${agentCpu.at(-1)!.toFixed(1)}%)`);
  }
  if (tcpEvents === 0) throw new Error('podflow recorded no tcp events during the iperf3 runs: the agent did not see the traffic');

  const w = median(without);
  const a = median(withAgent);
  const overhead = pairedOverheadPercent(without, withAgent);
  console.log(`iperf3 TCP ${SECONDS}s x ${ROUNDS} rounds (medians): without ${(w / 1e9).toFixed(2)} Gbit/s, with podflow ${(a / 1e9).toFixed(2)} Gbit/s`);
  console.log(`  overhead ${overhead.median.toFixed(2)}% (median of the rounds' pairs; rounds ${overhead.min.toFixed(1)}% to ${overhead.max.toFixed(1)}%; target <= ${TARGET_PERCENT}%), agent cpu ${median(agentCpu).toFixed(1)}% of a core, probes attached ${probesAttached}`);
  printResult({
    name: 'agent-throughput', value: round(overhead.median), unit: '% overhead',
    roundsMinPercent: round(overhead.min, 1), roundsMaxPercent: round(overhead.max, 1),
    withoutGbps: round(w / 1e9, 3), withGbps: round(a / 1e9, 3), targetPercent: TARGET_PERCENT,
    agentCpuPercent: round(median(agentCpu), 1), probesAttached, tcpEvents,
    retransmitsWithout: retransmits.without, retransmitsWith: retransmits.with, seconds: SECONDS, rounds: ROUNDS,
  });
});
