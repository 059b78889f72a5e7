// TC attachment: a TCX link where the kernel has TCX (Linux >= 6.6), else a
// classic clsact filter. The clsact qdisc is shared by every filter on an
// interface, so it is reference-counted here and removed with the last of our
// filters, only when this process created it and no filter of anyone else's
// was added to it meanwhile. A classic filter outlives a process that dies
// without detaching (SIGKILL, OOM): this process's filters carry its owner
// handle (native tcOwnerHandle), so a successor can tell them from those of a
// live process and remove them (removeStale).
import { constants } from 'node:os';
import { AttachError, nativeErrno, nativeReason } from './errors.js';
import { AttachType } from './constants.js';
import { Link } from './link.js';
import { libraryLog, quietly } from './log.js';
import { native, type TcFilter } from './native.js';

export type TcDirection = 'ingress' | 'egress';

export interface TcOptions {
  /** Classic TC filter priority (1..65535); default 0 lets the kernel choose. */
  priority?: number;
  /** Classic TC filter handle; default: this process's owner handle (see removeStale). */
  handle?: number;
  /**
   * Try a TCX link first (default true, unless the environment has LIBBPF_TS_TCX=0, which makes the
   * classic path testable on kernels with TCX); false forces the classic clsact filter.
   */
  preferTcx?: boolean;
  /**
   * First remove the classic filters on this hook that run a program of this name and whose owner is
   * gone: a process killed before it could detach left them running (default false). Filters of a live
   * process (its owner handle is held) and of other programs are left alone. Each removal is logged (info).
   */
  removeStale?: boolean;
}

export type { TcFilter } from './native.js';

const ENOTSUPP = 524;
/** Errors of BPF_LINK_CREATE that mean "this kernel has no TCX", so the classic path is tried. */
const NO_TCX = new Set([constants.errno.EINVAL, constants.errno.EOPNOTSUPP, ENOTSUPP]);

/** The kernel keeps the first 15 characters of a program's name (BPF_OBJ_NAME_LEN). */
const KERNEL_NAME_LEN = 15;

/** Per ifindex: whether we created its clsact qdisc, and how many of our classic filters use it. */
const qdiscs = new Map<number, { created: boolean; users: number }>();

export function resolveInterface(iface: string | number, hook: string, program: string): { ifindex: number; label: string } {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface <= 0) throw new AttachError(hook, String(iface), program, constants.errno.EINVAL, 'ifindex must be a positive integer');
    return { ifindex: iface, label: `ifindex ${iface}` };
  }
  try {
    return { ifindex: native().ifNameToIndex(iface), label: iface };
  } catch (err) {
    throw new AttachError(hook, iface, program, nativeErrno(err) || constants.errno.ENODEV, `no interface named '${iface}' in this network namespace`);
  }
}

export function attachTc(program: string, progFd: () => number, iface: string | number, direction: TcDirection, opts: TcOptions): Link {
  if (direction !== 'ingress' && direction !== 'egress') {
    throw new AttachError('tc', String(iface), program, constants.errno.EINVAL, `direction must be 'ingress' or 'egress', got '${String(direction)}'`);
  }
  const { ifindex, label } = resolveInterface(iface, 'tc', program);
  const target = `${label}/${direction}`;
  let fd: number;
  try {
    fd = progFd();
  } catch (err) {
    throw new AttachError('tc', target, program, nativeErrno(err) || constants.errno.EINVAL, nativeReason(err));
  }
  if (opts.removeStale) removeStale(program, ifindex, target, direction === 'ingress');
  if (opts.preferTcx ?? process.env.LIBBPF_TS_TCX !== '0') {
    try {
      const linkFd = native().linkCreate(fd, ifindex, direction === 'ingress' ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS, 0);
      return new Link('tcx', target, program, () => native().closeFd(linkFd));
    } catch (err) {
      if (!NO_TCX.has(nativeErrno(err))) throw new AttachError('tcx', target, program, nativeErrno(err), nativeReason(err));
    }
  }
  return attachClassic(program, fd, ifindex, target, direction === 'ingress', opts);
}

function attachClassic(program: string, progFd: number, ifindex: number, target: string, ingress: boolean, opts: TcOptions): Link {
  let qdisc = qdiscs.get(ifindex);
  if (!qdisc) {
    try {
      // An existing qdisc makes libbpf print the kernel's EEXIST message: expected here, not a warning.
      qdisc = { created: quietly(() => native().tcHookCreate(ifindex)), users: 0 };
    } catch (err) {
      throw new AttachError('tc', target, program, nativeErrno(err), `cannot create the clsact qdisc: ${nativeReason(err)}`);
    }
    qdiscs.set(ifindex, qdisc);
  }
  let filter: { priority: number; handle: number };
  try {
    filter = native().tcAttach(progFd, ifindex, ingress, opts.priority ?? 0, opts.handle || native().tcOwnerHandle());
  } catch (err) {
    releaseQdisc(ifindex);
    throw new AttachError('tc', target, program, nativeErrno(err), nativeReason(err));
  }
  qdisc.users++;
  return new Link('tc', target, program, () => {
    try {
      native().tcDetach(ifindex, ingress, filter.priority, filter.handle);
    } catch (err) {
      // The interface may be gone (veth deleted with its netns): the filter went with it.
      if (nativeErrno(err) !== constants.errno.ENODEV && nativeErrno(err) !== constants.errno.ENOENT) throw err;
    }
    const q = qdiscs.get(ifindex);
    if (q) q.users--;
    releaseQdisc(ifindex);
  });
}

/** The filters on an interface's clsact ingress or egress hook (none without a clsact qdisc). */
export function tcFilters(iface: string | number, direction: TcDirection): TcFilter[] {
  const { ifindex, label } = resolveInterface(iface, 'tc', '');
  try {
    return native().tcFilters(ifindex, direction === 'ingress');
  } catch (err) {
    throw new AttachError('tc', `${label}/${direction}`, '', nativeErrno(err), `cannot list the filters: ${nativeReason(err)}`);
  }
}

function removeStale(program: string, ifindex: number, target: string, ingress: boolean): void {
  const name = program.slice(0, KERNEL_NAME_LEN);
  let filters: TcFilter[];
  try {
    filters = native().tcFilters(ifindex, ingress);
  } catch (err) {
    throw new AttachError('tc', target, program, nativeErrno(err), `cannot list the filters to remove stale ones: ${nativeReason(err)}`);
  }
  for (const f of filters) {
    if (f.kind !== 'bpf' || f.program !== name || native().tcOwnerAlive(f.handle)) continue;
    try {
      native().tcDetach(ifindex, ingress, f.priority, f.handle);
    } catch (err) {
      if (nativeErrno(err) === constants.errno.ENOENT) continue; // another successor was quicker
      throw new AttachError('tc', target, program, nativeErrno(err), `cannot remove the stale filter (pref ${f.priority} handle 0x${f.handle.toString(16)}): ${nativeReason(err)}`);
    }
    libraryLog('info', `removed a stale TC filter from ${target} (pref ${f.priority} handle 0x${f.handle.toString(16)}, program ${program} id ${f.progId}): its owner process is gone`);
  }
}

function releaseQdisc(ifindex: number): void {
  const q = qdiscs.get(ifindex);
  if (!q || q.users > 0) return;
  qdiscs.delete(ifindex);
  if (!q.created) return;
  // Deleting the qdisc deletes every filter on it: another program's (a CNI's) added after ours stays.
  try {
    if (native().tcFilters(ifindex, true).length > 0 || native().tcFilters(ifindex, false).length > 0) return;
  } catch (err) {
    if (nativeErrno(err) === constants.errno.ENODEV) return;
    throw err;
  }
  try {
    native().tcHookDestroy(ifindex);
  } catch (err) {
    if (nativeErrno(err) !== constants.errno.ENODEV && nativeErrno(err) !== constants.errno.ENOENT && nativeErrno(err) !== constants.errno.EINVAL) throw err;
  }
}
