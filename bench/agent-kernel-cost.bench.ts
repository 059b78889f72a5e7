// Kernel cost per short connection, per BPF object and program of the agent:
// `podflow run` (all probes) on two pods, wrk with `Connection: close` as in
// agent-connections, and the kernel's own BPF statistics
// (`sysctl kernel.bpf_stats_enabled=1`: run_time_ns and run_cnt per program,
// read with `bpftool prog show -j`) over the measured window, after a warm-up
// under the same load. The figures include the statistics' own two clock
// reads per run; those are measured too (what the statistics count for a run
// of an empty TC program under BPF_PROG_TEST_RUN) and subtracted per run for
// the figure, which the agent pays with the statistics off. The agent's
// user-space CPU is agent-connections' figure. bpf_stats_enabled is restored afterwards, also
// on failure or SIGINT/SIGTERM (not on SIGKILL: then `sysctl
// kernel.bpf_stats_enabled=0` by hand).
// Run: node dist/bench/agent-kernel-cost.bench.js   (last line: one JSON result object)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject } from 'libbpf-ts';
import { AgentProcess } from './lib/agent.js';
import { runBench } from './lib/cleanup.js';
import { requireTool } from './lib/load-tools.js';
import { shortConnections } from './lib/short-connections.js';
import { printResult, round, SMOKE } from './lib/stats.js';

const SECONDS = SMOKE ? 2 : 10;
const WARMUP_SECONDS = SMOKE ? 1 : 10;
const METRICS_PORT = 19305;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const EMPTY_OBJECT = fileURLToPath(new URL('../../bpf/build/tc_empty.bpf.o', import.meta.url));

interface ProgramStats {
  name: string;
  runTimeNs: number;
  runCount: number;
}

/** The id of the BPF program behind file descriptor `fd` of process `pid` (its fdinfo's `prog_id`), or undefined. */
function programIdOf(pid: number, fd: number | string): number | undefined {
  try {
    if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') return undefined;
    const id = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    return id ? Number(id[1]) : undefined;
  } catch {
    return undefined; // closed meanwhile
  }
}

/**
 * The ids of the programs process `pid` holds: its file descriptors of BPF programs. Debian's bpftool shows no
 * owning pids, and other processes may load the same programs meanwhile.
 */
function programIdsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const id = programIdOf(pid, fd);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

/**
 * What the statistics count for one run of a program that does nothing: an empty TC program run by
 * BPF_PROG_TEST_RUN with the statistics on (their clock reads; about 46 ns on this VM's paravirtual clock).
 */
function statisticsNsPerRun(): number {
  const obj = BpfObject.open(EMPTY_OBJECT);
  try {
    obj.load();
    const empty = obj.program('tc_empty');
    const id = programIdOf(process.pid, empty.fd);
    if (id === undefined) throw new Error(`no program id for the empty TC program (fd ${empty.fd})`);
    const data = Buffer.alloc(64); // an Ethernet frame's worth; the program reads nothing
    empty.testRun({ data, repeat: 1000 });
    const before = programs(new Set([id])).get(id)!;
    empty.testRun({ data, repeat: SMOKE ? 10_000 : 1_000_000 });
    const after = programs(new Set([id])).get(id)!;
    return (after.runTimeNs - before.runTimeNs) / (after.runCount - before.runCount);
  } finally {
    obj.close();
  }
}

/** The programs `ids` with their statistics, by program id. */
function programs(ids: ReadonlySet<number>): Map<number, ProgramStats> {
  const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as {
    id: number; name?: string; run_time_ns?: number; run_cnt?: number;
  }[];
  return new Map(progs.filter((p) => ids.has(p.id)).map((p) => [p.id, { name: p.name ?? `id ${p.id}`, runTimeNs: p.run_time_ns ?? 0, runCount: p.run_cnt ?? 0 }]));
}

/**
 * Which object a program belongs to, from its name (bpf/<object>.bpf.c names its programs <object>_...): a
 * probe's own (tcp, rtt, ...), svc (original destinations, for dns and http), or packet (flows, dns and http
 * in one TC program per interface and direction).
 */
function objectOf(name: string): string {
  return name.split('_')[0] ?? name;
}

await runBench(async (cleanup) => {
  requireTool('bpftool', 'bpftool');
  const load = await shortConnections(cleanup, 'pfqkc', '10.241.51', '10.241.52');
  const { pods } = load;

  const agent = await AgentProcess.start({
    interfaces: pods.hostInterfaces, metricsPort: METRICS_PORT, nodeName: 'pfq-kernel-cost', args: ['-o', 'json'],
    config: 'flows:\n  activeTimeout: 5s\n  idleTimeout: 2s\n',
  });
  cleanup.add(() => agent.kill());
  load.run(WARMUP_SECONDS);

  const statsBefore = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, '1');
  cleanup.add(() => writeFileSync(STATS_SYSCTL, statsBefore));
  const mine = programIdsOf(agent.pid);
  if (mine.size === 0) throw new Error(`the agent (pid ${agent.pid}) holds no BPF program`);
  const before = programs(mine);
  const r = load.run(SECONDS);
  const after = programs(mine);
  const floorNs = statisticsNsPerRun();
  writeFileSync(STATS_SYSCTL, statsBefore);
  await agent.stop();

  const byObject = new Map<string, { ns: number; runs: number; programs: number }>();
  const byProgram: [string, number, number][] = [];
  for (const [id, a] of after) {
    const b = before.get(id) ?? { runTimeNs: 0, runCount: 0 };
    const p = byObject.get(objectOf(a.name)) ?? { ns: 0, runs: 0, programs: 0 };
    p.ns += a.runTimeNs - b.runTimeNs;
    p.runs += a.runCount - b.runCount;
    p.programs++;
    byObject.set(objectOf(a.name), p);
    if (a.runCount > b.runCount) byProgram.push([a.name, a.runTimeNs - b.runTimeNs, a.runCount - b.runCount]);
  }
  // Net of the statistics' own share: what the agent pays with them off.
  const net = (ns: number, runs: number) => Math.max(0, ns - runs * floorNs);
  const perConnection: Record<string, number> = {};
  let totalNs = 0;
  let totalRawNs = 0;
  console.log(`wrk, ${load.concurrency} concurrent, Connection: close, ${SECONDS}s after ${WARMUP_SECONDS}s of warm-up: ${r.requests} connections (${r.requestsPerSecond.toFixed(0)}/s)`);
  console.log(`the statistics count ${floorNs.toFixed(0)} ns for a run of an empty program: subtracted per run below (raw: as counted)`);
  console.log('object     programs  runs/conn  ns/run  µs/conn  raw µs/conn   (packet: flows, dns and http)');
  for (const [object, p] of [...byObject].sort((x, y) => y[1].ns - x[1].ns)) {
    const ns = net(p.ns, p.runs);
    totalNs += ns;
    totalRawNs += p.ns;
    perConnection[object] = round(ns / r.requests / 1000, 2);
    const perRun = p.runs > 0 ? ns / p.runs : 0;
    console.log(`${object.padEnd(10)} ${String(p.programs).padStart(8)}  ${(p.runs / r.requests).toFixed(1).padStart(9)}  ${perRun.toFixed(0).padStart(6)}  ${(ns / r.requests / 1000).toFixed(2).padStart(7)}  ${(p.ns / r.requests / 1000).toFixed(2).padStart(11)}`);
  }
  console.log('program               runs/conn  ns/run  µs/conn');
  for (const [name, ns, runs] of byProgram.sort((x, y) => y[1] - x[1])) {
    console.log(`${name.padEnd(21)} ${(runs / r.requests).toFixed(1).padStart(9)}  ${(net(ns, runs) / runs).toFixed(0).padStart(6)}  ${(net(ns, runs) / r.requests / 1000).toFixed(2).padStart(7)}`);
  }
  const total = totalNs / r.requests / 1000;
  const raw = totalRawNs / r.requests / 1000;
  console.log(`all: ${total.toFixed(2)} µs of BPF per connection (${raw.toFixed(2)} as the statistics count it)`);
  printResult({
    name: 'agent-kernel-cost', value: round(total, 2), unit: 'µs BPF/connection',
    withStatisticsMicroseconds: round(raw, 2), statisticsNsPerRun: round(floorNs, 1),
    connections: r.requests, connPerSec: Math.round(r.requestsPerSecond), perObjectMicroseconds: perConnection,
    seconds: SECONDS, warmupSeconds: WARMUP_SECONDS,
  });
});
