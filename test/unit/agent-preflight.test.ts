// The start-up error when no probe attached: capabilities are blamed only when some are missing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noHookAttachedError } from '../../src/agent/preflight.js';
import { UnavailableError } from '../../src/agent/errors.js';
import { CAPABILITY_BITS } from '../../src/capabilities.js';
import type { ProbeStatus } from '../../src/probes/types.js';

const rejected: ProbeStatus[] = [{
  probe: 'flows', hook: null, attached: false, eventsSeen: 0, eventsDroppedInKernel: 0,
  skipped: [{ hook: 'tc', reason: 'cannot load BPF object packet: program packet_tc_ingress was rejected (E2BIG)' }],
}];
const bits = (...caps: (keyof typeof CAPABILITY_BITS)[]) => caps.reduce((all, cap) => all | (1n << BigInt(CAPABILITY_BITS[cap])), 0n);

test('as root (every capability): the kernel refused the programs, and nothing says "needs root"', () => {
  const err = noHookAttachedError(['flows'], rejected, (1n << 41n) - 1n);
  assert.ok(err instanceof UnavailableError);
  // Before: "no probe could attach a hook on this kernel; podflow needs root or CAP_BPF, CAP_PERFMON, ..." for a verifier rejection as root.
  assert.equal(err.message, 'no probe could attach a hook on this kernel (this process holds every capability the probes need, so the kernel refused the programs themselves: see why below):\n' +
    '  flows tc: cannot load BPF object packet: program packet_tc_ingress was rejected (E2BIG)');
});

test('with capabilities missing: the missing ones are named', () => {
  const err = noHookAttachedError(['flows'], rejected, bits('CAP_BPF', 'CAP_PERFMON'));
  assert.match(err.message, /^no probe could attach a hook on this kernel \(this process lacks CAP_NET_ADMIN(, CAP_NET_RAW)?: run podflow as root, or grant them\):\n {2}flows tc: /);
});
