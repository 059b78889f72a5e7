// "Pods" for the L7 kernel tests: one network namespace each, joined by a veth
// to a bridge in the host namespace (the "node"), where the probes attach to
// the host-side veths. Names start with the test's prefix; destroy() removes
// everything, also after a failed create.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex, type NetInterface } from '../../src/probes/shared/interfaces.js';

export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface Pod {
  name: string;
  netns: string;
  ip: string;
  /** The host-side veth (where the probes attach). */
  hostIf: NetInterface;
}

export class PodNet {
  readonly pods = new Map<string, Pod>();
  readonly #bridge: string;
  readonly #prefix: string;
  readonly #children: ChildProcess[] = [];

  /** prefix: at most 6 characters, e.g. "pfld"; pods get <prefix><i>h host-side veths. */
  constructor(prefix: string, subnet24: string, pods: readonly { name: string; host: number }[]) {
    this.#prefix = prefix;
    this.#bridge = `${prefix}br`;
    try {
      sh('ip', ['link', 'add', this.#bridge, 'type', 'bridge']);
      sh('ip', ['link', 'set', this.#bridge, 'up']);
      pods.forEach((p, i) => {
        const netns = `${prefix}-${p.name}`;
        const hostIf = `${prefix}${i}h`;
        const ip = `${subnet24}.${p.host}`;
        sh('ip', ['netns', 'add', netns]);
        sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
        sh('ip', ['link', 'set', hostIf, 'master', this.#bridge, 'up']);
        sh('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
        sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
        sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
        const index = Number(readFileSync(`/sys/class/net/${hostIf}/ifindex`, 'utf8').trim());
        this.pods.set(p.name, { name: p.name, netns, ip, hostIf: { index, name: hostIf } });
      });
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  pod(name: string): Pod {
    const p = this.pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  /** Runs a command in the pod's namespace and returns its stdout. */
  exec(pod: string, cmd: string, args: readonly string[]): string {
    return sh('ip', ['netns', 'exec', this.pod(pod).netns, cmd, ...args]);
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
    for (const c of this.#children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
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

/** A ProbeContext whose ingress collects records, for probes under test. */
export function testContext(): ProbeContext & { records: FlowRecord[] } {
  const records: FlowRecord[] = [];
  const interfaces = new InterfaceIndex();
  interfaces.poll();
  return {
    records,
    nodeName: 'pfl-node',
    clock: new MonotonicClock(),
    ingress: { ingest: (r) => void records.push(...r) },
    interfaces,
    cgroups: null,
    objectDir: new URL('../../../bpf/build/', import.meta.url).pathname,
  };
}

/** Waits until `cond` holds, polling; throws with `what` after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Seconds + nanos of a Duration as milliseconds. */
export function ms(d: { seconds?: number | null; nanos?: number | null } | null | undefined): number {
  return (Number(d?.seconds ?? 0) * 1e9 + Number(d?.nanos ?? 0)) / 1e6;
}

/**
 * Answers after ?delay=<ms>; /missing is a 404, /boom a 500. Prints, per request,
 * how long it really held it (timers fire late on a busy machine).
 */
export const HTTP_SERVER = `
const http = require('node:http');
const [host, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const t0 = process.hrtime.bigint();
  const u = new URL(req.url, 'http://x');
  req.resume();
  req.on('end', () => setTimeout(() => {
    const status = u.pathname === '/missing' ? 404 : u.pathname === '/boom' ? 500 : 200;
    const heldMs = Number(process.hrtime.bigint() - t0) / 1e6;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('body\\n');
    console.log(JSON.stringify({ port: req.socket.remotePort, path: req.url, ms: heldMs }));
  }, Number(u.searchParams.get('delay') ?? 0)));
}).listen(Number(port), host, () => console.log('ready'));
`;

/** Sends "METHOD path" requests one after another on one keep-alive connection; prints one JSON line each. */
export const HTTP_CLIENT = `
const http = require('node:http');
const [host, port, ...requests] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
(async () => {
  for (const r of requests) {
    const [method, path] = r.split(' ');
    const t0 = process.hrtime.bigint();
    const line = await new Promise((resolve, reject) => {
      const req = http.request({ host, port: Number(port), method, path, agent, headers: { host: 'backend.pfl.test' } }, (res) => {
        const first = process.hrtime.bigint();
        const localPort = res.socket.localPort;
        res.resume();
        res.on('end', () => resolve({ method, path, status: res.statusCode, ms: Number(first - t0) / 1e6, localPort }));
      });
      req.on('error', reject);
      req.end(method === 'POST' ? 'payload' : undefined);
    });
    console.log(JSON.stringify(line));
  }
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`;

export interface ClientResult {
  method: string;
  path: string;
  status: number;
  ms: number;
  localPort: number;
}

export function parseClientOutput(out: string): ClientResult[] {
  return out.trim().split('\n').map((l) => JSON.parse(l) as ClientResult);
}

/**
 * One DNS query over UDP, timed tightly around the socket calls: the clock
 * starts before send() and stops in the response callback, so the time the
 * kernel saw lies inside it. Prints {"id","ms","rcode","port"}.
 */
export const DNS_CLIENT = `
const dgram = require('node:dgram');
const [server, name, qtype] = process.argv.slice(1);
const id = Math.floor(Math.random() * 65536);
const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
const head = Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const q = Buffer.concat([head, ...labels, Buffer.from([0, 0, Number(qtype), 0, 1])]);
const s = dgram.createSocket('udp4');
let t0;
s.on('message', (m) => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(JSON.stringify({ id, ms, rcode: m[3] & 15, port: s.address().port }));
  s.close();
});
s.bind(0, () => { t0 = process.hrtime.bigint(); s.send(q, 53, server); });
setTimeout(() => { console.error('no response'); process.exit(1); }, 3000).unref();
`;

export interface DnsClientResult {
  id: number;
  ms: number;
  rcode: number;
  port: number;
}
