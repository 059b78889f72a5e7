// `podflow run` as a child process for the agent benchmarks: started as an
// operator starts it (bin/podflow.js, all probes unless told otherwise), ready
// when /readyz answers 200, stopped with SIGTERM. Its own observe socket and
// metrics port, so other agents on the machine are not disturbed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_BIN, agentNodeFlags } from './launch-flags.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STDERR_KEEP = 8192;

export interface AgentOptions {
  interfaces: readonly string[];
  /** 127.0.0.1 port of /metrics and /readyz. */
  metricsPort: number;
  nodeName: string;
  /** Extra `podflow run` flags (sinks, output). */
  args?: readonly string[];
  /** YAML config file content (timeouts, queue sizes). */
  config?: string;
  /** What happens to the records on stdout: dropped (default) or handed to the caller. */
  stdout?: 'ignore' | 'pipe';
  readyTimeoutMs?: number;
}

export class AgentProcess {
  readonly child: ChildProcess;
  readonly #dir: string;
  readonly #metricsPort: number;
  #stderr = '';
  #exit: Promise<[number | null, NodeJS.Signals | null]>;

  private constructor(child: ChildProcess, dir: string, metricsPort: number) {
    this.child = child;
    this.#dir = dir;
    this.#metricsPort = metricsPort;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (this.#stderr = (this.#stderr + d).slice(-STDERR_KEEP)));
    this.#exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  }

  static async start(opts: AgentOptions): Promise<AgentProcess> {
    const dir = mkdtempSync(path.join(tmpdir(), 'pfq-agent-'));
    const config = path.join(dir, 'podflow.yaml');
    writeFileSync(config, opts.config ?? '{}\n');
    // Node flags for the agent alone (e.g. --cpu-prof, which NODE_OPTIONS refuses), split on spaces.
    const nodeArgs = process.env.BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    // This Node binary, with the flags the shebang gives when an operator runs the file.
    const child = spawn(process.execPath, [...agentNodeFlags(), ...nodeArgs, AGENT_BIN, 'run',
      '--config', config,
      '--interfaces', opts.interfaces.join(','),
      '--metrics-addr', `127.0.0.1:${opts.metricsPort}`,
      '--observe-socket', path.join(dir, 'observe.sock'),
      '--node-name', opts.nodeName,
      '--log-level', 'warn',
      ...(opts.args ?? []),
    ], { cwd: ROOT, stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'] });
    const agent = new AgentProcess(child, dir, opts.metricsPort);
    try {
      await agent.#waitReady(opts.readyTimeoutMs ?? 60_000);
    } catch (err) {
      agent.kill();
      throw err;
    }
    return agent;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.#exit.then(() => (exited = true));
    for (;;) {
      if (exited) throw new Error(`podflow run exited before it was ready (exit ${this.child.exitCode ?? this.child.signalCode}):\n${this.#stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.#metricsPort}/readyz`);
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`podflow run: /readyz did not answer 200 within ${timeoutMs} ms; stderr:\n${this.#stderr}`);
      await sleep(200);
    }
  }

  /** The Prometheus text of /metrics as sample -> value ("name{labels}" exactly as exposed). */
  async metrics(): Promise<Map<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${this.#metricsPort}/metrics`)).text();
    const samples = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      samples.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return samples;
  }

  /** Sum of a metric's samples whose labels include every given label="value". */
  static sum(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const [key, value] of samples) {
      if (key !== name && !key.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
    }
    return total;
  }

  /** SIGTERM and wait for a clean exit (code 0); throws with the agent's stderr otherwise. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const [code, signal] = await this.#exit;
    clearTimeout(timer);
    rmSync(this.#dir, { recursive: true, force: true });
    if (code !== 0) throw new Error(`podflow run exited with ${signal ?? code} on SIGTERM; stderr:\n${this.#stderr}`);
  }

  /** For cleanup after a failure: no waiting. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  get stderrTail(): string {
    return this.#stderr;
  }
}
