// The user-space half of the kernel rate limiters (retransmit, drops): the
// kernel reports the first event of a key at once and then at most one record
// per interval with a count; what is still pending when a key goes quiet is
// reported from here, so the tail of a burst is not lost.
import type { BpfMap } from 'libbpf-ts';
import type { FlowRecord } from '../../pipeline/types.js';
import { readU64 } from './clock.js';

export interface WindowLayout {
  lastEmitNs: number;
  pending: number;
}

/**
 * Deletes the windows quiet for intervalNs and returns a record for each that still had
 * pending events. The windows are read in one batch call (a drop storm holds thousands: two
 * calls each would keep the event loop busy for tens of milliseconds a tick), and each quiet
 * one is deleted with the value it held at that moment, so an event counted after the read
 * is reported with it; one counted after the delete starts a new window, reported at once.
 */
export function flushQuietWindows(
  map: BpfMap,
  nowNs: number,
  intervalNs: number,
  layout: WindowLayout,
  toRecord: (key: Buffer, value: Buffer, pending: number) => FlowRecord,
): FlowRecord[] {
  const out: FlowRecord[] = [];
  const { keys, values, count } = map.lookupBatch();
  const keySize = map.keySize;
  const valueSize = map.valueBufferSize;
  for (let i = 0; i < count; i++) {
    if (nowNs - readU64(values, i * valueSize + layout.lastEmitNs) < intervalNs) continue;
    const key = keys.subarray(i * keySize, (i + 1) * keySize);
    const value = map.lookupAndDelete(key);
    if (value === undefined) continue; // deleted meanwhile
    const pending = value.readUInt32LE(layout.pending);
    if (pending > 0) out.push(toRecord(key, value, pending));
  }
  return out;
}
