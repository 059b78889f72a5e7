// The one check before touching the kernel: without CAP_BPF (or CAP_SYS_ADMIN,
// which covers it, and is all kernels before 5.8 know) no probe can load, and
// the user should hear that, with the capabilities the enabled probes need
// (src/capabilities.ts), instead of one EPERM per hook.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { CAPABILITY_BITS, capabilitiesFor, hookKindsFor, parseKernelRelease, type LinuxCapability } from '../capabilities.js';
import type { ProbeName, ProbeStatus } from '../probes/types.js';
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

/**
 * Start-up found no hook any probe could attach. Capabilities are named only when this process lacks
 * some: as root the cause is the kernel refusing the programs (a verifier limit, a missing feature), and
 * "podflow needs root" sent operators looking in the wrong place.
 */
export function noHookAttachedError(probes: readonly ProbeName[], statuses: readonly ProbeStatus[], caps: bigint = effectiveCapabilities()): UnavailableError {
  const reasons = statuses.flatMap((p) => p.skipped.map((s) => `${p.probe} ${s.hook}: ${s.reason}`));
  const missing = neededCapabilities(probes).filter((cap) => !has(caps, cap));
  const why = missing.length > 0
    ? `this process lacks ${missing.join(', ')}: run podflow as root, or grant them`
    : 'this process holds every capability the probes need, so the kernel refused the programs themselves: see why below';
  return new UnavailableError(`no probe could attach a hook on this kernel (${why}):\n  ${reasons.join('\n  ')}`);
}
