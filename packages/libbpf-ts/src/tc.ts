// TC attachment: a TCX link where the kernel has TCX (Linux >= 6.6), else a
// classic clsact filter. The clsact qdisc is shared by every filter on an
// interface, so it is reference-counted here and removed with the last of our
// filters, and only when this process created it.
import { constants } from 'node:os';
import { AttachError, nativeErrno, nativeReason } from './errors.js';
import { AttachType } from './constants.js';
import { Link } from './link.js';
import { quietly } from './log.js';
import { native } from './native.js';

export type TcDirection = 'ingress' | 'egress';

export interface TcOptions {
  /** Classic TC filter priority (1..65535); default 0 lets the kernel choose. */
  priority?: number;
  /** Classic TC filter handle; default 0 lets the kernel choose. */
  handle?: number;
  /** Try a TCX link first (default true); false forces the classic clsact filter. */
  preferTcx?: boolean;
}

const ENOTSUPP = 524;
/** Errors of BPF_LINK_CREATE that mean "this kernel has no TCX", so the classic path is tried. */
const NO_TCX = new Set([constants.errno.EINVAL, constants.errno.EOPNOTSUPP, ENOTSUPP]);

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
  if (opts.preferTcx !== false) {
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
    filter = native().tcAttach(progFd, ifindex, ingress, opts.priority ?? 0, opts.handle ?? 0);
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

function releaseQdisc(ifindex: number): void {
  const q = qdiscs.get(ifindex);
  if (!q || q.users > 0) return;
  qdiscs.delete(ifindex);
  if (!q.created) return;
  try {
    native().tcHookDestroy(ifindex);
  } catch (err) {
    if (nativeErrno(err) !== constants.errno.ENODEV && nativeErrno(err) !== constants.errno.ENOENT && nativeErrno(err) !== constants.errno.EINVAL) throw err;
  }
}
