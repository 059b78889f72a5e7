// The requests waiting in the kernel's http_conns map. The kernel reports an
// exchange when its response comes or its connection ends first; a request
// whose end this node never sees (the server hangs, the response or the FIN
// take a path podflow does not watch, the peer vanished) is reported by the
// sweep once it has waited longer than the timeout. The sweep is a program of
// the packet object (http_sweep), run here every tick through
// BPF_PROG_TEST_RUN: in the kernel an exchange leaves WAITING by one
// compare-and-swap, so a response racing its timeout gives one record, and its
// TIMEOUT event comes through the http ring buffer like every other. The map
// is a plain hash, which counts a refused insert where an LRU would evict
// without a word; the sweep also forgets what no packet will end.
import type { BpfObject, Program } from 'libbpf-ts';

/**
 * How long a request reported without response stays recognised (its retransmissions are not new
 * requests): TCP stops retransmitting after about 15 minutes by default (tcp_retries2 = 15).
 */
const FORGET_AFTER_NS = 1000e9;
/** struct __sk_buff up to the end of cb[4]; cb[0] is at 48. */
const CTX_SIZE = 68;
const CB = 48;
/** BPF_PROG_TEST_RUN of a TC program needs an Ethernet header's worth of packet. */
const PACKET = Buffer.alloc(14);

export class PendingExchanges {
  readonly #sweep: Program;
  readonly #timeoutNs: number;
  readonly #ctx = Buffer.alloc(CTX_SIZE);
  #atStop = 0;

  constructor(object: BpfObject, timeoutMs: number) {
    this.#sweep = object.program('http_sweep');
    this.#timeoutNs = timeoutMs * 1e6;
  }

  /**
   * Reports the requests waiting since before nowNs - timeout (CLOCK_MONOTONIC, as the kernel's
   * clock) and forgets what no packet will end; returns the requests left waiting.
   */
  sweep(nowNs: number): number {
    const ctx = this.#ctx;
    ctx.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(nowNs - this.#timeoutNs))), CB);
    ctx.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(nowNs - Math.max(FORGET_AFTER_NS, this.#timeoutNs)))), CB + 8);
    return this.#sweep.testRun({ data: PACKET, ctx }).retval >>> 0;
  }

  /** The last sweep, when the probe stops: the requests still waiting are counted (their outcome is unknown). */
  stop(nowNs: number): void {
    this.#atStop += this.sweep(nowNs);
  }

  /** Requests still waiting when the probe stopped. */
  get pendingAtStop(): number {
    return this.#atStop;
  }
}
