// Shared by the kernel tests: paths of the test BPF objects, a "pod" (network
// namespace + veth pair, names prefixed lbt, addresses in 10.231.0.0/16), real
// TCP traffic, and bpftool as an independent witness of what is loaded.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject, type BpfMap } from '../src/index.js';

/** packages/libbpf-ts/build (tests run from packages/libbpf-ts/dist/test/). */
export const BUILD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build');

export function objectPath(name: string): string {
  return join(BUILD, `${name}.bpf.o`);
}

/** Slots of the `counts` map of hooks.bpf.c (test/bpf/hooks.h). */
export const Hook = {
  TRACEPOINT: 0, RAW_TP: 1, TP_BTF: 2, KPROBE: 3, UPROBE: 4, TC_INGRESS: 5, TC_EGRESS: 6, SOCKET: 7,
  CGROUP_SKB_EGRESS: 8, CGROUP_SKB_INGRESS: 9, SOCKOPS: 10, CONNECT4: 11, XDP: 12,
} as const;

export function counter(counts: BpfMap, slot: number): number {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(slot);
  const v = counts.lookup(key);
  if (!v) throw new Error(`counts[${slot}] missing`);
  return Number(v.readBigUInt64LE());
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** IDs of every program this process has loaded (see the BpfObject.load wrapper below). */
const ownProgramIds = new Set<number>();

/** Adds the programs this process holds fds of right now (prog_id in /proc/self/fdinfo). */
function noteOwnPrograms(): void {
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const id = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (id) ownProgramIds.add(Number(id));
    } catch {
      // the fd closed meanwhile
    }
  }
}

// Another run of this suite (another engineer, or a parallel load test) loads programs with the
// same names: leftovers are judged by the IDs this process loaded, not by name.
const load = BpfObject.prototype.load;
BpfObject.prototype.load = function (this: BpfObject): void {
  load.call(this);
  noteOwnPrograms();
};

/** Names of the programs this process loaded that are still loaded (bpftool prog show). */
export function leftoverTestPrograms(): string[] {
  const progs = JSON.parse(run('bpftool', ['-j', 'prog', 'show'])) as { id: number; name?: string }[];
  return progs.filter((p) => ownProgramIds.has(p.id)).map((p) => p.name ?? `id ${p.id}`);
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export function rssBytes(): number {
  const statm = readFileSync('/proc/self/statm', 'utf8').split(' ');
  return Number(statm[1]) * 4096;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A pod: network namespace lbt-<pid> with a veth pair; the host side (hostIf,
 * 10.231.<n>.1) stays in our namespace, the peer (10.231.<n>.2) is in the pod.
 */
export class Pod {
  readonly ns: string;
  readonly hostIf: string;
  readonly podIf: string;
  readonly hostIp: string;
  readonly podIp: string;
  #servers: ChildProcess[] = [];

  constructor(tag: string) {
    const n = (process.pid % 250) + 1;
    this.ns = `lbt-${process.pid}-${tag}`;
    this.hostIf = `lbt${process.pid % 100000}${tag}h`.slice(0, 15);
    this.podIf = `lbt${process.pid % 100000}${tag}p`.slice(0, 15);
    this.hostIp = `10.231.${n}.1`;
    this.podIp = `10.231.${n}.2`;
    this.destroy();
    run('ip', ['netns', 'add', this.ns]);
    run('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.podIf, 'netns', this.ns]);
    run('ip', ['addr', 'add', `${this.hostIp}/24`, 'dev', this.hostIf]);
    run('ip', ['link', 'set', this.hostIf, 'up']);
    run('ip', ['-n', this.ns, 'addr', 'add', `${this.podIp}/24`, 'dev', this.podIf]);
    run('ip', ['-n', this.ns, 'link', 'set', this.podIf, 'up']);
    run('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
  }

  /** Starts a TCP server in the pod that answers each connection with "ok" and closes. */
  async startServer(port: number): Promise<void> {
    const code = `require('net').createServer((s) => { s.on('error', () => {}); s.end('ok'); })` +
      `.listen(${port}, '${this.podIp}', () => console.log('ready'))`;
    const child = spawn('ip', ['netns', 'exec', this.ns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.#servers.push(child);
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    if (!line.toString().includes('ready')) throw new Error(`server in ${this.ns} did not start: ${line.toString()}`);
  }

  destroy(): void {
    for (const s of this.#servers) s.kill('SIGKILL');
    this.#servers = [];
    try {
      run('ip', ['link', 'del', this.hostIf]);
    } catch {
      // absent
    }
    try {
      run('ip', ['netns', 'del', this.ns]);
    } catch {
      // absent
    }
  }
}

/** One TCP connection to host:port from this process; resolves once the server closed it. */
export async function tcpRoundTrip(host: string, port: number): Promise<void> {
  const sock = connect({ host, port });
  sock.on('data', () => {});
  await once(sock, 'connect');
  await once(sock, 'close');
}

/** The same from a child process placed in `cgroupDir` before it connects. */
export async function tcpRoundTripInCgroup(cgroupDir: string, host: string, port: number): Promise<void> {
  const code = `require('fs').writeFileSync('${cgroupDir}/cgroup.procs', String(process.pid));` +
    `const s = require('net').connect({ host: '${host}', port: ${port} }); s.on('data', () => {}); s.on('close', () => process.exit(0));` +
    `s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [status] = (await once(child, 'exit')) as [number];
  if (status !== 0) throw new Error(`client in cgroup exited with ${status}`);
}
