// Typed errors: every failure carries the errno and its symbolic code so that
// callers can choose a fallback (e.g. AttachError code 'ENOENT' on a kprobe
// means "this kernel has no kprobes", try the tracepoint instead).
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of a (positive) errno, e.g. 2 -> 'ENOENT'; 'E<n>' when unknown. */
export function errnoCode(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** Base class of every libbpf-ts error. */
export class BpfError extends Error {
  /** Positive errno of the failing operation (0 when the failure has none, e.g. bad input). */
  readonly errno: number;
  /** Symbolic errno, e.g. 'EPERM', or 'EINVAL' for bad input. */
  readonly code: string;
  constructor(message: string, errno: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.errno = Math.abs(errno);
    this.code = errnoCode(this.errno);
  }
}

/** bpf_object__open or bpf_object__load failed. */
export class LoadError extends BpfError {
  /** The program the kernel rejected, when libbpf named one. */
  readonly program: string | undefined;
  /** Everything libbpf printed during the failed operation. */
  readonly libbpfMessage: string;
  /** The verifier's log for the rejected program ('' when the failure was not the verifier's). */
  readonly verifierLog: string;
  constructor(message: string, errno: number, details: { program?: string; libbpfMessage: string; verifierLog: string }) {
    super(message, errno);
    this.program = details.program;
    this.libbpfMessage = details.libbpfMessage;
    this.verifierLog = details.verifierLog;
  }
}

/** Attaching a program to a hook failed. */
export class AttachError extends BpfError {
  /** The hook kind, e.g. 'kprobe', 'tc', 'tracepoint'. */
  readonly hook: string;
  /** What was attached to, e.g. 'tcp_sendmsg', 'eth0/ingress', 'sched/sched_switch'. */
  readonly target: string;
  /** The program that was being attached. */
  readonly program: string;
  constructor(hook: string, target: string, program: string, errno: number, reason: string) {
    super(`attach ${hook} ${target} (program ${program}) failed: ${reason} (${errnoCode(errno)})`, errno);
    this.hook = hook;
    this.target = target;
    this.program = program;
  }
}

/** A map operation failed or was given buffers of the wrong size. */
export class MapError extends BpfError {
  readonly map: string;
  /** 'lookup', 'update', 'delete', 'keys', 'lookupAndDeleteBatch', 'pin', 'resize', ... */
  readonly op: string;
  constructor(map: string, op: string, errno: number, reason: string) {
    super(`map ${map}: ${op} failed: ${reason}${errno ? ` (${errnoCode(errno)})` : ''}`, errno);
    this.map = map;
    this.op = op;
  }
}

/** The kernel or the installed libbpf lacks a feature this call needs. */
export class NotSupportedError extends BpfError {
  readonly feature: string;
  constructor(feature: string, reason: string, errno = constants.errno.EOPNOTSUPP) {
    super(`${feature} is not supported: ${reason}`, errno);
    this.feature = feature;
  }
}

/** The shape of errors thrown by the native addon: "<operation>: <strerror>" with a positive errno. */
export interface NativeError extends Error {
  errno?: number;
}

export function nativeErrno(err: unknown): number {
  const e = err as NativeError;
  return typeof e?.errno === 'number' ? Math.abs(e.errno) : 0;
}

/** The message of a native (or any) error. */
export function nativeReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
