// "Pods" for the kernel tests: one network namespace each, joined by a veth to
// a bridge in the host namespace (the "node"), where the probes attach to the
// host-side veths. With a gateway, the bridge also holds the .<gateway> address
// of every pod's /24 and routes between them (pods on different /24s reach each
// other and the node through it). Names start with the test's prefix;
// destroy() removes everything, also after a failed create, and kills what
// spawn() started.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NetInterface } from '../../src/probes/shared/interfaces.js';

export function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

export interface Pod {
  name: string;
  netns: string;
  ip: string;
  /** The host-side veth (where the probes attach); the pod side is "eth0". */
  hostIf: NetInterface;
}

/** A pod: its address is <subnet24>.<host>, or `ip` (any IPv4 /24 address; needs a gateway to reach other /24s). */
export type PodSpec = { name: string; host: number } | { name: string; ip: string };

export interface PodNetOptions {
  /** Host number of the node's address in each pod /24 (on the bridge): pods route through it; default none (one L2 segment). */
  gateway?: number;
}

export class PodNet {
  readonly pods = new Map<string, Pod>();
  readonly #bridge: string;
  readonly #prefix: string;
  readonly #subnet24: string;
  readonly #gateway: number | undefined;
  readonly #gatewaySubnets = new Set<string>();
  readonly #children: ChildProcess[] = [];

  /** prefix: at most 6 characters, e.g. "pfld"; pods get <prefix><i>h host-side veths. */
  constructor(prefix: string, subnet24: string, pods: readonly PodSpec[], opts: PodNetOptions = {}) {
    this.#prefix = prefix;
    this.#bridge = `${prefix}br`;
    this.#subnet24 = subnet24;
    this.#gateway = opts.gateway;
    this.destroy(); // leftovers of a run that was killed
    try {
      sh('ip', ['link', 'add', this.#bridge, 'type', 'bridge']);
      sh('ip', ['link', 'set', this.#bridge, 'up']);
      if (this.#gateway !== undefined) sh('sysctl', ['-qw', `net.ipv4.conf.${this.#bridge}.forwarding=1`]);
      for (const p of pods) this.add(p);
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** Adds a pod (also after construction: a pod that appears while probes run). */
  add(spec: PodSpec): Pod {
    const netns = `${this.#prefix}-${spec.name}`;
    const hostIf = `${this.#prefix}${this.pods.size}h`;
    const ip = 'ip' in spec ? spec.ip : `${this.#subnet24}.${spec.host}`;
    sh('ip', ['netns', 'add', netns]);
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    sh('ip', ['link', 'set', hostIf, 'master', this.#bridge, 'up']);
    sh('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    if (this.#gateway !== undefined) {
      const subnet = ip.split('.').slice(0, 3).join('.');
      const gateway = `${subnet}.${this.#gateway}`;
      if (!this.#gatewaySubnets.has(subnet)) {
        sh('ip', ['addr', 'add', `${gateway}/24`, 'dev', this.#bridge]);
        this.#gatewaySubnets.add(subnet);
      }
      sh('ip', ['-n', netns, 'route', 'add', 'default', 'via', gateway]);
    }
    const index = Number(readFileSync(`/sys/class/net/${hostIf}/ifindex`, 'utf8').trim());
    const pod = { name: spec.name, netns, ip, hostIf: { index, name: hostIf } };
    this.pods.set(spec.name, pod);
    return pod;
  }

  pod(name: string): Pod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  /** The node's address in the pod's /24 (the gateway); throws without one. */
  gatewayOf(pod: string): string {
    if (this.#gateway === undefined) throw new Error('this PodNet has no gateway');
    return `${this.pod(pod).ip.split('.').slice(0, 3).join('.')}.${this.#gateway}`;
  }

  /** Runs a command in the pod's namespace and returns its stdout (`input`: its stdin). */
  exec(pod: string, cmd: string, args: readonly string[], input?: string): string {
    return sh('ip', ['netns', 'exec', this.pod(pod).netns, cmd, ...args], input);
  }

  /** Starts a long-running command in the pod's namespace; destroy() kills it. */
  spawn(pod: string, cmd: string, args: readonly string[], cgroupDir?: string): ChildProcess {
    // A cgroup is joined before exec, so the program's sockets are created inside it.
    const argv = cgroupDir
      ? ['sh', '-c', `echo $$ > "${cgroupDir}/cgroup.procs" && exec ip netns exec "$0" "$@"`, this.pod(pod).netns, cmd, ...args]
      : ['ip', 'netns', 'exec', this.pod(pod).netns, cmd, ...args];
    const child = spawn(argv[0] ?? 'ip', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push(child);
    return child;
  }

  /** Runs a command to completion without blocking the event loop (ring-buffer batches keep arriving). */
  async run(pod: string, cmd: string, args: readonly string[], cgroupDir?: string): Promise<string> {
    const child = this.spawn(pod, cmd, args, cgroupDir);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`${cmd} in ${pod} exited with ${code}: ${err.trim()}`);
    return out;
  }

  /** Resolves once the child prints its first output (servers print "ready"); rejects if it exits first. */
  static async ready(child: ChildProcess, what: string): Promise<void> {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise((resolve, reject) => {
      child.stdout?.once('data', resolve);
      child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it was ready: ${err.trim()}`)));
    });
  }

  hostInterfaces(): NetInterface[] {
    return [...this.pods.values()].map((p) => p.hostIf);
  }

  destroy(): void {
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null && c.pid) c.kill('SIGKILL');
    for (const p of this.pods.values()) {
      try {
        sh('ip', ['netns', 'del', p.netns]);
      } catch {
        // Already gone.
      }
    }
    // Namespaces that failed half-way are not in this.pods: remove by our prefix.
    for (const ns of sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '')) {
      if (ns.startsWith(`${this.#prefix}-`)) {
        try {
          sh('ip', ['netns', 'del', ns]);
        } catch {
          // Raced with the deletion above.
        }
      }
    }
    try {
      sh('ip', ['link', 'del', this.#bridge]);
    } catch {
      // Never created.
    }
  }
}

/**
 * Waits until pick() finds `count` items (records of the pods' traffic, say), then asserts exactly that many.
 * The deadline is for a loaded machine (records come within a second otherwise): a wait that ends early fails.
 */
export async function waitForCount<T>(what: string, pick: () => T[], count: number, timeoutMs = 60_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = pick();
    if (got.length >= count || Date.now() > deadline) {
      assert.equal(got.length, count, `${what}: expected ${count}, got ${got.length}`);
      return got;
    }
    await sleep(50);
  }
}
