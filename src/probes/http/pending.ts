// The requests waiting in the kernel's http_conns map. The kernel reports an
// exchange when its response comes or its connection ends first (reset,
// server FIN); a request whose end this node never sees (the server hangs,
// the response or the FIN take a path podflow does not watch, the peer
// vanished) is reported from here once it has waited longer than the timeout
// (noResponse TIMEOUT), and deleted: the map is a plain hash, which counts a
// refused insert where an LRU would evict without a word, so nothing may stay
// in it for good. An idle pipelining connection's answered entry goes too.
import { constants } from 'node:os';
import { MapError, type BatchBuffers, type BpfMap, type BpfObject } from 'libbpf-ts';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from '../shared/clock.js';
import { HttpConn as C, HttpEvent as E, FlowKey as T, HTTP_NO_RESPONSE_TIMEOUT, SvcKey as K, SvcOrig as O } from '../shared/layouts.js';

/** enum http_conn_state */
const WAITING = 1;
/** struct http_server: where a request was seen going. The last other sighting (after a DNAT) is the second. */
const SERVER_SIZE = 20;
const LAST_SERVER = C.server + SERVER_SIZE;
const IPPROTO_TCP = 6;

export class PendingExchanges {
  readonly #conns: BpfMap;
  /** svc_orig_dst as the packet object sees it (svc's own when svc is attached, else empty). */
  readonly #origs: BpfMap;
  readonly #timeoutNs: number;
  readonly #decode: (event: Buffer, off: number) => FlowRecord | undefined;
  /** Reused every sweep: the whole map is 29 MiB of values at its default size. */
  #buffers: BatchBuffers | undefined;
  readonly #value: Buffer;
  readonly #origKey = Buffer.alloc(K.size);
  #atStop = 0;

  constructor(object: BpfObject, timeoutMs: number, decode: (event: Buffer, off: number) => FlowRecord | undefined) {
    this.#conns = object.map('http_conns');
    this.#origs = object.map('svc_orig_dst');
    this.#timeoutNs = timeoutMs * 1e6;
    this.#decode = decode;
    this.#value = Buffer.alloc(this.#conns.valueBufferSize);
  }

  /** Reports (into out) and deletes the requests waiting for timeoutMs at nowNs (CLOCK_MONOTONIC, as the kernel's). */
  sweep(nowNs: number, out: FlowRecord[]): void {
    const conns = this.#conns;
    const { keys, values, count } = conns.lookupBatch(undefined, (this.#buffers ??= conns.batchBuffers()));
    const keySize = conns.keySize;
    const valueSize = conns.valueBufferSize;
    for (let i = 0; i < count; i++) {
      if (nowNs - readU64(values, i * valueSize + C.ev + E.req_ns) < this.#timeoutNs) continue;
      const key = keys.subarray(i * keySize, (i + 1) * keySize);
      const v = conns.lookupAndDelete(key, this.#value);
      if (v === undefined) continue; // answered or ended since the read
      if (nowNs - readU64(v, C.ev + E.req_ns) < this.#timeoutNs) {
        // The connection's next request replaced it since the read: that one keeps waiting
        // (unless the kernel has added yet another meanwhile, which then stays instead).
        try {
          conns.update(key, v, 'noexist');
        } catch (err) {
          if (!(err instanceof MapError && err.errno === constants.errno.EEXIST)) throw err;
        }
        continue;
      }
      if (v[C.state] !== WAITING) continue;
      const record = this.#timedOut(v, nowNs);
      if (record) out.push(record);
    }
  }

  /** At stop: reports what has timed out, and counts the requests still waiting (their outcome is unknown). */
  stop(nowNs: number, out: FlowRecord[]): void {
    this.sweep(nowNs, out);
    const { values, count } = this.#conns.lookupBatch(undefined, (this.#buffers ??= this.#conns.batchBuffers()));
    for (let i = 0; i < count; i++) if (values[i * this.#conns.valueBufferSize + C.state] === WAITING) this.#atStop++;
  }

  /** Requests still waiting when the probe stopped. */
  get pendingAtStop(): number {
    return this.#atStop;
  }

  /** The request of the exchange `v` (its http_conn) as an event without response, decoded. */
  #timedOut(v: Buffer, nowNs: number): FlowRecord | undefined {
    const ev = C.ev;
    v.writeBigUInt64LE(BigInt(nowNs), ev + E.resp_ns);
    v.copy(v, ev + E.resp_saddr, LAST_SERVER, LAST_SERVER + 16);
    v.writeUInt16LE(v.readUInt16LE(LAST_SERVER + 16), ev + E.resp_sport);
    v.writeUInt32LE(v.readUInt32LE(ev + E.req_ifindex), ev + E.resp_ifindex);
    v[ev + E.resp_direction] = 0;
    v[ev + E.resp_len] = 0;
    v[ev + E.no_response] = HTTP_NO_RESPONSE_TIMEOUT;
    this.#originalDestination(v, ev);
    return this.#decode(v, ev);
  }

  /** What the kernel copies at a response: the client socket's connect() destination, from svc. */
  #originalDestination(v: Buffer, ev: number): void {
    const k = this.#origKey;
    const t = ev + E.req_tuple;
    v.copy(k, K.addr, t + T.saddr, t + T.saddr + 16);
    k.writeUInt16LE(v.readUInt16LE(t + T.sport), K.port);
    k[K.ip_version] = v[t + T.ip_version] ?? 0;
    k[K.protocol] = IPPROTO_TCP;
    const orig = this.#origs.lookup(k);
    if (orig) orig.copy(v, ev + E.orig, 0, O.size);
    else v.fill(0, ev + E.orig, ev + E.orig + O.size);
  }
}
