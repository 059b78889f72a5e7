// The one check before touching the kernel: without CAP_BPF (or CAP_SYS_ADMIN,
// which covers it, and is all kernels before 5.8 know) no probe can load, and
// the user should hear that, with the capabilities the enabled probes need
// (src/capabilities.ts), instead of one EPERM per hook.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { CAPABILITY_BITS, capabilitiesFor, hookKindsFor, parseKernelRelease, type LinuxCapability } from '../capabilities.js';
import type { ProbeName } from '../probes/types.js';
import { UnavailableError } from './errors.js';

/** The effective capability set of this process, from /proc/self/status. */
function effectiveCapabilities(): bigint {
  const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? BigInt(`0x${line[1]}`) : 0n;
}

const has = (caps: bigint, cap: LinuxCapability) => (caps & (1n << BigInt(CAPABILITY_BITS[cap]))) !== 0n;

/** The capabilities these probes need on this kernel (src/capabilities.ts), for messages. */
export function neededCapabilities(probes: readonly ProbeName[]): LinuxCapability[] {
  return capabilitiesFor(hookKindsFor(probes), parseKernelRelease(release()));
}

export function requireBpfCapability(probes: readonly ProbeName[]): void {
  const caps = effectiveCapabilities();
  if (has(caps, 'CAP_BPF') || has(caps, 'CAP_SYS_ADMIN')) return;
  throw new UnavailableError(
    `this process cannot load BPF programs (effective capabilities 0x${caps.toString(16)} hold neither CAP_BPF nor CAP_SYS_ADMIN); ` +
      `run podflow as root, or grant what the enabled probes need on this kernel: ${neededCapabilities(probes).join(', ')}`,
  );
}
