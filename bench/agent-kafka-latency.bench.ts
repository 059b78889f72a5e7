// Kernel event to record visible on a Kafka consumer, at 50,000 events/s (and
// 10,000/s before it): DNS queries from one pod, answered in another (an
// exchange is one DNS record, not aggregated), seen by `podflow run` (all
// probes) on the pods' host veths and delivered to the real broker
// (test/peers/kafka, a private instance); kcat consumes the topic.
// Latency = when kcat handed the message over (arrival in this process) minus
// the record's time (the kernel's timestamp of the response). Target p99 < 1 s.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFlowRecord } from '../src/proto/protobuf.js';
import { RecordType } from '../src/pipeline/types.js';
import { AgentProcess } from './lib/agent.js';
import { runBench } from './lib/cleanup.js';
import { startBenchKafka, removeBenchKafka } from './lib/kafka-broker.js';
import { pfqLoad, requireTool } from './lib/load-tools.js';
import { execIn, PodPair, runIn, spawnIn, waitForOutput } from './lib/pods.js';
import { CpuWindow } from './lib/proc-usage.js';
import { percentile, printResult, round, SMOKE } from './lib/stats.js';

/** The target rate last; a lower rate first shows where the latency comes from when the target is missed. */
const PHASES = SMOKE ? [{ rate: 2_000, seconds: 3 }] : [{ rate: 10_000, seconds: 10 }, { rate: 50_000, seconds: 20 }];
const METRICS_PORT = 19304;
const TARGET_P99_MS = 1000;
/** The query name the sender writes: t<send time, µs>.q<sequence>.pfq.bench */
const QUERY = /^t(\d+)\.q(\d+)\.pfq\.bench$/;
const QUERY_SUFFIX = '.pfq.bench';

interface PhaseResult {
  rate: number;
  seconds: number;
  startUs: number;
  endUs: number;
  sent: number;
  answered: number;
  latencies: number[];
  agentCpuPercent: number;
  losses: number;
  kernelDropped: number;
}

/** Messages as kcat framed them (%R: 4-byte big-endian length, then the value), with their arrival time. */
class FramedMessages {
  readonly arrivals: { atMs: number; value: Buffer }[] = [];
  /** Messages carrying a benchmark query name (a byte search: decoding waits until the run is over). */
  dnsArrivals = 0;
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, atMs: number): void {
    let buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      const value = buf.subarray(4, 4 + len);
      if (value.includes(QUERY_SUFFIX)) this.dnsArrivals++;
      this.arrivals.push({ atMs, value });
      buf = buf.subarray(4 + len);
    }
    this.#pending = buf;
  }
}

await runBench(async (cleanup) => {
  requireTool('kcat', 'kcat');
  const load = pfqLoad();
  cleanup.add(removeBenchKafka);
  const bootstrap = await startBenchKafka();
  const pods = new PodPair('pfqkl', '10.241.41', '10.241.42');
  cleanup.add(() => pods.remove());
  pods.create();
  const resolver = spawnIn(pods.server.ns, load, ['udp-sink', pods.server.ip, '53', '1', 'dns']);
  cleanup.add(() => resolver.kill('SIGKILL'));
  await waitForOutput(resolver, 'ready');

  const topic = `pfq.latency.${Date.now().toString(36)}`;
  const agent = await AgentProcess.start({
    interfaces: pods.hostInterfaces, metricsPort: METRICS_PORT, nodeName: 'pfq-latency',
    args: ['--sink', 'kafka', '--kafka-brokers', bootstrap, '--kafka-topic', topic],
  });
  cleanup.add(() => agent.kill());
  // Warm-up: creates the topic (auto-created on first produce) and JIT-compiles the path; its records are not measured.
  execIn(pods.client.ns, load, ['dns-query', pods.server.ip, '53', '1000', '1']);
  await sleep(2000);

  const consumer = spawn('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'end', '-u', '-q', '-f', '%R%s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.add(() => consumer.kill('SIGKILL'));
  const messages = new FramedMessages();
  consumer.stdout.on('data', (chunk: Buffer) => messages.push(chunk, performance.timeOrigin + performance.now()));
  let consumerErr = '';
  consumer.stderr.on('data', (d: Buffer) => (consumerErr += d.toString()));
  await sleep(3000); // kcat joins and reaches the end of the partitions before the measured load starts.

  // Each phase's records are told apart by the send time in their query names.
  const results: PhaseResult[] = [];
  for (const phase of PHASES) {
    const before = await agent.metrics();
    const startUs = Date.now() * 1000;
    const cpu = new CpuWindow(agent.pid);
    cpu.start();
    const sender = await runIn(pods.client.ns, load, ['dns-query', pods.server.ip, '53', String(phase.rate), String(phase.seconds)], (phase.seconds + 60) * 1000);
    const used = cpu.stop();
    const endUs = Date.now() * 1000;
    const counts = /sent (\d+) received (\d+)/.exec(sender);
    if (!counts) throw new Error(`pfq-load dns-query: expected "sent N received M", got ${JSON.stringify(sender)}`);
    const [sent, answered] = [Number(counts[1]), Number(counts[2])];
    console.log(`${phase.rate}/s asked: sender ${sent} queries in ${phase.seconds}s, ${answered} answered; agent cpu ${used.cpuPercent.toFixed(1)}%`);
    // Until the answered exchanges arrived, or no DNS record came for 10 s.
    const target = messages.dnsArrivals + answered;
    let seen = -1;
    let quietSince = Date.now();
    while (messages.dnsArrivals < target && Date.now() - quietSince < 10_000) {
      if (messages.dnsArrivals !== seen) [seen, quietSince] = [messages.dnsArrivals, Date.now()];
      await sleep(250);
    }
    const after = await agent.metrics();
    const delta = (name: string) => AgentProcess.sum(after, name) - AgentProcess.sum(before, name);
    results.push({
      ...phase, startUs, endUs, sent, answered, latencies: [], agentCpuPercent: used.cpuPercent,
      losses: delta('podflow_loss_total'), kernelDropped: delta('podflow_probe_kernel_dropped_total'),
    });
  }
  await agent.stop();
  consumer.kill('SIGTERM');

  // Decoded after the run, so that decoding does not compete with what is measured.
  for (const { atMs, value } of messages.arrivals) {
    const r = decodeFlowRecord(value);
    const q = QUERY.exec(r.dns?.query ?? '');
    if (r.type !== RecordType.DNS || !q || !r.time) continue;
    const phase = results.find((p) => Number(q[1]) >= p.startUs && Number(q[1]) < p.endUs);
    phase?.latencies.push(atMs - (Number(r.time.seconds) * 1000 + Number(r.time.nanos ?? 0) / 1e6));
  }
  const figures = results.map((p) => {
    if (p.latencies.length === 0) throw new Error(`no DNS record of the ${p.rate}/s phase reached the consumer (${messages.arrivals.length} messages in all; kcat: ${consumerErr.slice(-500)})`);
    const f = {
      askedPerSecond: p.rate, eventsPerSecond: Math.round(p.sent / p.seconds), seconds: p.seconds, records: p.latencies.length,
      p50Ms: round(percentile(p.latencies, 50), 1), p99Ms: round(percentile(p.latencies, 99), 1),
      minMs: round(percentile(p.latencies, 0), 1), maxMs: round(percentile(p.latencies, 100), 1),
      deliveredFraction: round(p.latencies.length / p.answered, 4), countedLosses: p.losses, kernelDropped: p.kernelDropped,
      agentCpuPercent: round(p.agentCpuPercent, 1),
    };
    console.log(`kernel event -> Kafka consumer, ${f.records} DNS records at ${f.eventsPerSecond}/s (${f.askedPerSecond}/s asked): p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, min ${f.minMs} ms, max ${f.maxMs} ms`);
    console.log(`  delivered ${(f.deliveredFraction * 100).toFixed(2)}% of the answered queries; counted losses ${f.countedLosses}, kernel drops ${f.kernelDropped}, agent cpu ${f.agentCpuPercent}%`);
    return f;
  });
  const main = figures.at(-1)!;
  console.log(`target: p99 < ${TARGET_P99_MS} ms at ${main.askedPerSecond}/s`);
  printResult({
    name: 'agent-kafka-latency', value: main.p99Ms, unit: 'ms p99', ...main, targetP99Ms: TARGET_P99_MS,
    ...(figures.length > 1 ? { lowerRates: figures.slice(0, -1).map((f) => ({ perSecond: f.eventsPerSecond, p50Ms: f.p50Ms, p99Ms: f.p99Ms, delivered: f.deliveredFraction })) } : {}),
  });
});
