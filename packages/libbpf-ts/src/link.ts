// A Link is one attachment of a program to a hook. destroy() undoes exactly
// that attachment (and nothing another owner created), and may be called twice.

export class Link {
  /** The hook kind: 'tracepoint', 'raw_tracepoint', 'tp_btf', 'kprobe', 'kretprobe', 'uprobe',
   * 'uretprobe', 'tcx', 'tc', 'socket_filter', 'cgroup', 'xdp', or the section kind for attach(). */
  readonly hook: string;
  /** What the program is attached to, e.g. 'sock/inet_sock_set_state', 'eth0/ingress', '/sys/fs/cgroup/x:connect4'. */
  readonly target: string;
  /** Name of the attached program. */
  readonly program: string;
  #release: (() => void) | null;

  /** @internal Links are created by Program.attach*(). */
  constructor(hook: string, target: string, program: string, release: () => void) {
    this.hook = hook;
    this.target = target;
    this.program = program;
    this.#release = release;
  }

  get destroyed(): boolean {
    return this.#release === null;
  }

  /** Detaches the program. Idempotent. */
  destroy(): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }

  toString(): string {
    return `${this.hook}:${this.target} <- ${this.program}${this.destroyed ? ' (destroyed)' : ''}`;
  }
}

/** A socket-filter attachment on an AF_PACKET socket this library opened; destroy() closes the socket. */
export class PacketSocketLink extends Link {
  /** The AF_PACKET socket's fd (bound to the interface, non-blocking). */
  readonly socketFd: number;
  constructor(target: string, program: string, socketFd: number, release: () => void) {
    super('socket_filter', target, program, release);
    this.socketFd = socketFd;
  }
}
