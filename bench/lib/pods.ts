// Two "pods" for the agent benchmarks: network namespaces behind veth pairs,
// routed by the host (as a CNI does), so the agent's TC hooks on the host-side
// veths see their traffic. Every name carries the caller's prefix; remove()
// deletes what create() made and is safe to call twice or after a failed create.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Pod {
  /** Network namespace. */
  ns: string;
  /** Host-side veth (where the agent attaches). */
  hostIf: string;
  ip: string;
}

export function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(cmd: string, args: readonly string[]): void {
  try {
    sh(cmd, args);
  } catch {
    // Removing something that is not there.
  }
}

export class PodPair {
  readonly client: Pod;
  readonly server: Pod;
  readonly #subnets: [string, string];

  /** prefix: at most 6 characters (interface names end up at most 15); subnets like "10.241.1". */
  constructor(prefix: string, clientSubnet: string, serverSubnet: string) {
    if (!/^[a-z0-9-]{1,6}$/.test(prefix)) throw new Error(`pod prefix: expected 1-6 characters [a-z0-9-], got '${prefix}'`);
    this.#subnets = [clientSubnet, serverSubnet];
    this.client = { ns: `${prefix}-c`, hostIf: `${prefix}h-c`, ip: `${clientSubnet}.2` };
    this.server = { ns: `${prefix}-s`, hostIf: `${prefix}h-s`, ip: `${serverSubnet}.2` };
  }

  get hostInterfaces(): string[] {
    return [this.client.hostIf, this.server.hostIf];
  }

  create(): void {
    this.remove();
    [this.client, this.server].forEach((pod, i) => {
      const net = this.#subnets[i]!;
      const inner = `${pod.hostIf}i`;
      sh('ip', ['netns', 'add', pod.ns]);
      sh('ip', ['link', 'add', pod.hostIf, 'type', 'veth', 'peer', 'name', inner, 'netns', pod.ns]);
      sh('ip', ['addr', 'add', `${net}.1/24`, 'dev', pod.hostIf]);
      sh('ip', ['link', 'set', pod.hostIf, 'up']);
      sh('sysctl', ['-qw', `net.ipv4.conf.${pod.hostIf}.forwarding=1`]);
      sh('ip', ['-n', pod.ns, 'addr', 'add', `${pod.ip}/24`, 'dev', inner]);
      sh('ip', ['-n', pod.ns, 'link', 'set', inner, 'up']);
      sh('ip', ['-n', pod.ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', pod.ns, 'route', 'add', 'default', 'via', `${net}.1`]);
    });
  }

  /** Sets a sysctl inside one pod's namespace (net.* settings are per namespace). */
  sysctl(pod: Pod, key: string, value: string): void {
    sh('ip', ['netns', 'exec', pod.ns, 'sysctl', '-qw', `${key}=${value}`]);
  }

  remove(): void {
    for (const pod of [this.client, this.server]) {
      quiet('ip', ['link', 'del', pod.hostIf]);
      quiet('ip', ['netns', 'del', pod.ns]);
    }
  }
}

/** Runs a command inside a namespace and waits for it; throws with its stderr when it fails. */
export function execIn(ns: string, cmd: string, args: readonly string[], timeoutMs = 120_000): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Starts a command inside a namespace (a server); the caller stops it with kill(). */
export function spawnIn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Resolves once a started server prints `text` on stdout; rejects when it exits first or after timeoutMs. */
export function waitForOutput(child: ChildProcess, text: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${child.spawnargs.join(' ')}: did not print '${text}' within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnargs.join(' ')} exited with ${code} before printing '${text}'; stderr: ${stderr}`));
    });
  });
}

/** execIn without blocking the event loop (the benchmark keeps reading other processes meanwhile). */
export function runIn(ns: string, cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} in ${ns}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
