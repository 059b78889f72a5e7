// Program: one BPF program of an object, and every way to attach it. Each
// attach returns a Link; each failure throws AttachError naming hook and target.
import { constants } from 'node:os';
import { AttachError, BpfError, nativeErrno, nativeReason } from './errors.js';
import { AttachType, CgroupAttach, ProgType, nameOf, type CgroupAttachName } from './constants.js';
import { Link, PacketSocketLink } from './link.js';
import { takeLibbpfOutput } from './log.js';
import { native, type LinkHandle, type NativeProgramInfo, type NativeTestRunResult } from './native.js';
import type { ObjectOwner } from './owner.js';
import { attachTc, resolveInterface, type TcDirection, type TcOptions } from './tc.js';

export interface UprobeOptions {
  /** Function name in the binary's symbol table (resolved by libbpf). */
  symbol?: string;
  /** Offset within the binary (added to the symbol's offset when both are given). */
  offset?: number;
  /** Process to trace; -1 (default) traces every process running the binary. */
  pid?: number;
  retprobe?: boolean;
}

export interface TestRunOptions {
  /** Packet (or context-dependent input) handed to the program. */
  data?: Buffer;
  /** How many times the kernel runs the program (duration is the mean per run). Default 1. */
  repeat?: number;
  /** Context (e.g. struct __sk_buff) for program types that accept one. */
  ctx?: Buffer;
  /** Bytes to reserve for the output packet; default data.length + 256. */
  dataOutSize?: number;
}

export interface TestRunResult {
  /** The program's return value from the last run. */
  retval: number;
  /** Mean duration of one run in nanoseconds, as the kernel measured it. */
  durationNs: number;
  /** The packet after the program ran (for programs that may modify it). */
  dataOut: Buffer;
}

export class Program {
  /** The function name in the object file. */
  readonly name: string;
  /** The ELF section, e.g. 'tracepoint/sock/inet_sock_set_state', 'tc', 'kprobe/tcp_sendmsg'. */
  readonly section: string;
  /** Program type (ProgType value). */
  readonly type: number;
  /** Expected attach type libbpf derived from the section (AttachType value). */
  readonly expectedAttachType: number;
  readonly #owner: ObjectOwner;
  #fd = -1;

  /** @internal Programs come from BpfObject.program(). */
  constructor(info: NativeProgramInfo, owner: ObjectOwner) {
    this.name = info.name;
    this.section = info.section;
    this.type = info.type;
    this.expectedAttachType = info.expectedAttachType;
    this.#owner = owner;
  }

  /** Program type name, e.g. 'SCHED_CLS'. */
  get typeName(): string {
    return nameOf(ProgType, this.type);
  }

  /** The loaded program's fd. */
  get fd(): number {
    this.#owner.requireLoaded(`program ${this.name}`);
    if (this.#fd < 0) this.#fd = native().objProgFd(this.#owner.handle(), this.name);
    return this.#fd;
  }

  /** Whether load() loads this program (default true); set before load. */
  setAutoload(autoload: boolean): this {
    this.#owner.requireNotLoaded(`setAutoload(${this.name})`);
    native().progSetAutoload(this.#owner.handle(), this.name, autoload);
    return this;
  }

  /** Attaches by section name (tp_btf/, fentry/, fexit/, raw_tp/, tracepoint/, kprobe/, uprobe/...), as libbpf's bpf_program__attach. */
  attach(): Link {
    const kind = this.section.split('/')[0] ?? this.section;
    const target = this.section.slice(kind.length + 1);
    return this.#libbpfLink(kind, target, () => native().attachAuto(this.#owner.handle(), this.name));
  }

  /** Attaches to the tracepoint category:name, e.g. ('sock', 'inet_sock_set_state'). Needs tracefs. */
  attachTracepoint(category: string, name: string): Link {
    return this.#libbpfLink('tracepoint', `${category}/${name}`, () => native().attachTracepoint(this.#owner.handle(), this.name, category, name));
  }

  /** Attaches a raw_tp or tp_btf program to the raw tracepoint `name`, e.g. 'tcp_retransmit_skb'. */
  attachRawTracepoint(name: string): Link {
    const hook = this.type === ProgType.TRACING ? 'tp_btf' : 'raw_tracepoint';
    if (this.type === ProgType.TRACING) {
      // tp_btf programs are bound to their tracepoint at load time, from the section name.
      if (!this.section.endsWith(`/${name}`)) {
        throw new AttachError(hook, name, this.name, constants.errno.EINVAL, `this tp_btf program was loaded for section '${this.section}'; it cannot attach to '${name}'`);
      }
      return this.#libbpfLink(hook, name, () => native().attachAuto(this.#owner.handle(), this.name));
    }
    return this.#libbpfLink(hook, name, () => native().attachRawTracepoint(this.#owner.handle(), this.name, name));
  }

  /** Attaches a kprobe (or kretprobe) to kernel function `func`. Fails with code ENOENT on kernels without kprobe support. */
  attachKprobe(func: string, opts: { retprobe?: boolean } = {}): Link {
    const retprobe = opts.retprobe ?? false;
    const hook = retprobe ? 'kretprobe' : 'kprobe';
    try {
      return this.#libbpfLink(hook, func, () => native().attachKprobe(this.#owner.handle(), this.name, func, retprobe));
    } catch (err) {
      if (err instanceof AttachError && err.code === 'ENOENT') {
        throw new AttachError(hook, func, this.name, err.errno, `no kprobe for '${func}': the function does not exist or the kernel has no kprobe support (CONFIG_KPROBES, /sys/bus/event_source/devices/kprobe)`);
      }
      throw err;
    }
  }

  /** Attaches a uprobe (or uretprobe) to a function of a binary or shared library. */
  attachUprobe(binary: string, opts: UprobeOptions): Link {
    if (opts.symbol === undefined && opts.offset === undefined) {
      throw new AttachError('uprobe', binary, this.name, constants.errno.EINVAL, 'give a symbol or an offset');
    }
    const retprobe = opts.retprobe ?? false;
    const target = `${binary}:${opts.symbol ?? ''}${opts.offset ? `+0x${opts.offset.toString(16)}` : ''}`;
    return this.#libbpfLink(retprobe ? 'uretprobe' : 'uprobe', target, () =>
      native().attachUprobe(this.#owner.handle(), this.name, binary, opts.symbol ?? null, opts.offset ?? 0, opts.pid ?? -1, retprobe));
  }

  /**
   * Attaches a TC program (section 'tc' / 'classifier') to an interface's ingress or egress.
   * Uses a TCX link (BPF_LINK_CREATE) where the kernel has TCX unless preferTcx is false; else a clsact
   * qdisc filter, creating the qdisc when absent and removing it on the last destroy only if it was created here.
   * The Link's hook says which: 'tcx' or 'tc'.
   */
  attachTc(iface: string | number, direction: TcDirection, opts: TcOptions = {}): Link {
    return attachTc(this.name, () => this.fd, iface, direction, opts);
  }

  /** Attaches a socket filter program to an existing socket (SO_ATTACH_BPF); destroy() detaches it. */
  attachSocketFilter(sockFd: number): Link {
    const progFd = this.#fdFor('socket_filter', `fd ${sockFd}`);
    try {
      native().socketAttachBpf(sockFd, progFd);
    } catch (err) {
      throw new AttachError('socket_filter', `fd ${sockFd}`, this.name, nativeErrno(err), nativeReason(err));
    }
    return new Link('socket_filter', `fd ${sockFd}`, this.name, () => native().socketDetachBpf(sockFd));
  }

  /**
   * Opens an AF_PACKET socket (ETH_P_ALL, non-blocking) bound to the interface and attaches this socket
   * filter to it: the program sees every packet of the interface, both directions. destroy() closes the socket.
   */
  attachPacketSocket(iface: string | number): PacketSocketLink {
    const { ifindex, label } = resolveInterface(iface, 'socket_filter', this.name);
    const progFd = this.#fdFor('socket_filter', label);
    let sock: number;
    try {
      sock = native().packetSocketOpen(ifindex);
    } catch (err) {
      throw new AttachError('socket_filter', label, this.name, nativeErrno(err), `cannot open an AF_PACKET socket: ${nativeReason(err)}`);
    }
    try {
      native().socketAttachBpf(sock, progFd);
    } catch (err) {
      native().closeFd(sock);
      throw new AttachError('socket_filter', label, this.name, nativeErrno(err), nativeReason(err));
    }
    return new PacketSocketLink(label, this.name, sock, () => native().closeFd(sock));
  }

  /**
   * Attaches a cgroup program (cgroup_skb, sockops, sock_addr, ...) to the cgroup v2 directory as a BPF link.
   * attachType defaults to the one libbpf derived from the section (e.g. 'cgroup/connect4' -> connect4).
   */
  attachCgroup(cgroupPath: string, attachType?: CgroupAttachName | number): Link {
    const type = attachType === undefined ? this.expectedAttachType : typeof attachType === 'number' ? attachType : CgroupAttach[attachType];
    if (type === undefined) {
      throw new AttachError('cgroup', cgroupPath, this.name, constants.errno.EINVAL, `unknown cgroup attach type '${String(attachType)}'; expected one of ${Object.keys(CgroupAttach).join(', ')}`);
    }
    const target = `${cgroupPath}:${nameOf(AttachType, type)}`;
    const progFd = this.#fdFor('cgroup', target);
    let cgFd: number;
    try {
      cgFd = native().openPath(cgroupPath);
    } catch (err) {
      throw new AttachError('cgroup', target, this.name, nativeErrno(err), `cannot open cgroup directory: ${nativeReason(err)}`);
    }
    try {
      const linkFd = native().linkCreate(progFd, cgFd, type, 0);
      return new Link('cgroup', target, this.name, () => native().closeFd(linkFd));
    } catch (err) {
      throw new AttachError('cgroup', target, this.name, nativeErrno(err), nativeReason(err));
    } finally {
      native().closeFd(cgFd);
    }
  }

  /** Attaches an XDP program to an interface as a BPF link (flags: XdpFlags, e.g. SKB_MODE). */
  attachXdp(iface: string | number, flags = 0): Link {
    const { ifindex, label } = resolveInterface(iface, 'xdp', this.name);
    const progFd = this.#fdFor('xdp', label);
    try {
      const linkFd = native().linkCreate(progFd, ifindex, AttachType.XDP, flags);
      return new Link('xdp', label, this.name, () => native().closeFd(linkFd));
    } catch (err) {
      throw new AttachError('xdp', label, this.name, nativeErrno(err), nativeReason(err));
    }
  }

  /** Runs the program in the kernel on `data` (BPF_PROG_TEST_RUN), blocking this thread. */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const { data, out, ctx, repeat } = this.#testRunArgs(opts);
    return this.#testRunResult(out, this.#testRunCall(() => native().testRun(this.fd, data, out, ctx, repeat)));
  }

  /** testRun on a libuv worker thread, so that JavaScript (e.g. a ring-buffer consumer) keeps running. */
  async testRunAsync(opts: TestRunOptions = {}): Promise<TestRunResult> {
    const { data, out, ctx, repeat } = this.#testRunArgs(opts);
    const fd = this.fd;
    try {
      return this.#testRunResult(out, await native().testRunAsync(fd, data, out, ctx, repeat));
    } catch (err) {
      throw new BpfError(`test run of ${this.name} failed: ${nativeReason(err)}`, nativeErrno(err));
    }
  }

  #testRunArgs(opts: TestRunOptions): { data: Buffer; out: Buffer; ctx: Buffer | null; repeat: number } {
    const data = opts.data ?? Buffer.alloc(0);
    const repeat = opts.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0xffffffff) {
      throw new BpfError(`test run of ${this.name}: repeat must be an integer in 1..2^32-1, got ${repeat}`, constants.errno.EINVAL);
    }
    return { data, out: Buffer.alloc(opts.dataOutSize ?? data.length + 256), ctx: opts.ctx ?? null, repeat };
  }

  #testRunCall(fn: () => NativeTestRunResult): NativeTestRunResult {
    try {
      return fn();
    } catch (err) {
      throw new BpfError(`test run of ${this.name} failed: ${nativeReason(err)}`, nativeErrno(err));
    }
  }

  #testRunResult(out: Buffer, r: NativeTestRunResult): TestRunResult {
    return { retval: r.retval, durationNs: r.duration, dataOut: out.subarray(0, Math.min(r.dataSizeOut, out.length)) };
  }

  #fdFor(hook: string, target: string): number {
    try {
      return this.fd;
    } catch (err) {
      throw new AttachError(hook, target, this.name, nativeErrno(err) || constants.errno.EINVAL, nativeReason(err));
    }
  }

  #libbpfLink(hook: string, target: string, create: () => LinkHandle): Link {
    this.#fdFor(hook, target);
    let handle: LinkHandle;
    takeLibbpfOutput();
    try {
      handle = create();
    } catch (err) {
      // libbpf's last line usually says why (e.g. "failed to find symbol ..."): keep it in the message.
      const said = takeLibbpfOutput().trim().split('\n').at(-1)?.replace(/^libbpf: /, '');
      throw new AttachError(hook, target, this.name, nativeErrno(err), said ? `${nativeReason(err)}; libbpf: ${said}` : nativeReason(err));
    }
    return new Link(hook, target, this.name, () => native().linkDestroy(handle));
  }
}
