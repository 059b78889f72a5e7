// The one check before touching the kernel: without CAP_BPF (or CAP_SYS_ADMIN,
// which covers it, and is all kernels before 5.8 know) no probe can load, and
// the user should hear that instead of one EPERM per hook.
import { readFileSync } from 'node:fs';
import { UnavailableError } from './errors.js';

const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

/** The effective capability set of this process, from /proc/self/status. */
function effectiveCapabilities(): bigint {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? BigInt(`0x${line[1]}`) : 0n;
}

const has = (caps: bigint, bit: number) => (caps & (1n << BigInt(bit))) !== 0n;

export function requireBpfCapability(): void {
  const caps = effectiveCapabilities();
  if (has(caps, CAP_BPF) || has(caps, CAP_SYS_ADMIN)) return;
  throw new UnavailableError(
    `this process cannot load BPF programs (effective capabilities 0x${caps.toString(16)} hold neither CAP_BPF nor CAP_SYS_ADMIN); ` +
      'run podflow as root, or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN',
  );
}
