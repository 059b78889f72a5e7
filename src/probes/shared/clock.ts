// Kernel timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to wall-clock time.
// Node's hrtime is CLOCK_MONOTONIC too, so the offset is Date.now() minus
// hrtime, measured once and refreshed (NTP slews the wall clock).
import type { podflow } from '../../proto/gen/flow.js';

type Timestamp = podflow.v1.FlowRecord['time'];

// Every {seconds, nanos} literal shares one hidden class, whose field
// representation V8 generalizes to Double the first time a non-Smi number is
// stored (double arithmetic in the interpreter yields one even for integral
// values): after that every Timestamp and Duration boxes its nanos in a
// HeapNumber of its own, 16 bytes more per object. `| 0` keeps them Smis
// (nanos is below 10^9; seconds, Math.floor's result, is a Smi until 2038),
// and so must every other {seconds, nanos} literal (timestampFromMs in
// src/pipeline/record-factory.ts): one Double store anywhere generalizes the
// class for all.

export class MonotonicClock {
  #offsetSec = 0;
  #offsetNsec = 0;

  constructor() {
    this.refresh();
  }

  /** Re-measures the wall-clock minus monotonic offset. */
  refresh(): void {
    const mono = process.hrtime.bigint();
    const wallMs = Date.now();
    const offsetNs = BigInt(wallMs) * 1_000_000n - mono;
    this.#offsetSec = Number(offsetNs / 1_000_000_000n);
    this.#offsetNsec = Number(offsetNs % 1_000_000_000n);
  }

  /** Monotonic now in ns (exact while below 2^53, i.e. for 104 days of uptime). */
  static nowNs(): number {
    return Number(process.hrtime.bigint());
  }

  /** A kernel monotonic time in ns (as a JS number) as a protobuf Timestamp. */
  toTimestamp(monoNs: number): Timestamp {
    const sec = Math.floor(monoNs / 1e9);
    let nanos = monoNs - sec * 1e9 + this.#offsetNsec;
    let seconds = sec + this.#offsetSec;
    if (nanos >= 1e9) {
      nanos -= 1e9;
      seconds += 1;
    } else if (nanos < 0) {
      nanos += 1e9;
      seconds -= 1;
    }
    return { seconds, nanos: nanos | 0 };
  }
}

/** A duration in ns as a protobuf Duration. */
export function durationFromNs(ns: number): podflow.v1.Tcp['duration'] {
  const seconds = Math.floor(ns / 1e9);
  return { seconds, nanos: (ns - seconds * 1e9) | 0 };
}

/**
 * A u64 at `off` as a JS number (exact below 2^53). Read byte by byte: Buffer's
 * readUInt32LE validates its offset on every call, which shows in the decoders'
 * profiles; the callers read within records whose length the batch loop checked.
 */
export function readU64(buf: Buffer, off: number): number {
  const lo = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x100_0000;
  const hi = (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16)) + buf[off + 7]! * 0x100_0000;
  return lo + hi * 0x1_0000_0000;
}
