// The user-space half of the kernel rate limiters (retransmit, drops): the
// kernel reports the first event of a key at once and then at most one record
// per interval with a count; what is still pending when a key goes quiet is
// reported from here, so the tail of a burst is not lost.
import type { BatchBuffers, BpfMap } from 'libbpf-ts';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from './clock.js';

export interface WindowLayout {
  lastEmitNs: number;
  pending: number;
}

export class QuietWindows {
  readonly #map: BpfMap;
  readonly #intervalNs: number;
  readonly #layout: WindowLayout;
  /** Reused every tick: the map's size in windows (16,384 of a retransmit's ~150 bytes: 2.4 MiB). */
  #buffers: BatchBuffers | undefined;

  constructor(map: BpfMap, intervalNs: number, layout: WindowLayout) {
    this.#map = map;
    this.#intervalNs = intervalNs;
    this.#layout = layout;
  }

  /**
   * Deletes the windows quiet for the interval and returns a record for each that still had
   * pending events. The windows are read in one batch call (a drop storm holds thousands: two
   * calls each would keep the event loop busy for tens of milliseconds a tick), and each quiet
   * one is deleted with the value it held at that moment, so an event counted after the read
   * is reported with it; one counted after the delete starts a new window, reported at once.
   */
  flush(nowNs: number, toRecord: (key: Buffer, value: Buffer, pending: number) => FlowRecord): FlowRecord[] {
    const map = this.#map;
    const out: FlowRecord[] = [];
    const { keys, values, count } = map.lookupBatch(undefined, (this.#buffers ??= map.batchBuffers()));
    const keySize = map.keySize;
    const valueSize = map.valueBufferSize;
    for (let i = 0; i < count; i++) {
      if (nowNs - readU64(values, i * valueSize + this.#layout.lastEmitNs) < this.#intervalNs) continue;
      // A copy: the record may keep it, and the buffers are read over at the next tick.
      const key = Buffer.from(keys.subarray(i * keySize, (i + 1) * keySize));
      const value = map.lookupAndDelete(key);
      if (value === undefined) continue; // deleted meanwhile
      const pending = value.readUInt32LE(this.#layout.pending);
      if (pending > 0) out.push(toRecord(key, value, pending));
    }
    return out;
  }
}
