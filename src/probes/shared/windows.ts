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
 * pending events. A window is deleted before it is reported: an event counted after that
 * starts a new window and is reported at once.
 */
export function flushQuietWindows(
  map: BpfMap,
  nowNs: number,
  intervalNs: number,
  layout: WindowLayout,
  toRecord: (key: Buffer, value: Buffer, pending: number) => FlowRecord,
): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (const [key, value] of map.entries()) {
    if (nowNs - readU64(value, layout.lastEmitNs) < intervalNs) continue;
    map.delete(key);
    const pending = value.readUInt32LE(layout.pending);
    if (pending > 0) out.push(toRecord(key, value, pending));
  }
  return out;
}
