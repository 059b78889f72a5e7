// The FlowTable's hash index: flow key (either direction) -> conversation slot.
// Open addressing with linear probing over one Int32Array (slot + 1, 0 = empty)
// and backward-shift deletion, so the index stays a flat array however many
// conversations come and go; the hash is symmetric, so both directions of a
// conversation land on the same probe sequence.
import { FlowKey as K } from '../shared/layouts.js';

/**
 * The 32 bits at b[o..o+4) (as a signed number: only compared and hashed).
 * Byte reads: Buffer's readUInt32LE validates its offset on every call, and
 * the index reads a key many times per drained entry.
 */
function u32(b: Buffer, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

function u16(b: Buffer, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function endpointHash(b: Buffer, addr: number, port: number): number {
  let h = Math.imul(u32(b, addr) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ u32(b, addr + 4), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ u32(b, addr + 8), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ u32(b, addr + 12), 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ port, 0x85ebca6b);
  return h ^ (h >>> 16);
}

/** A hash of the key at keys[ko..] that is the same for the key of the other direction. */
export function keyHash(keys: Buffer, ko: number): number {
  const a = endpointHash(keys, ko + K.saddr, u16(keys, ko + K.sport));
  const b = endpointHash(keys, ko + K.daddr, u16(keys, ko + K.dport));
  let h = (a + b + Math.imul(u16(keys, ko + K.ip_version), 0x27d4eb2f)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Both keys are the same direction of the same flow (addresses, ports, IP version and protocol). */
export function sameKey(a: Buffer, ao: number, b: Buffer, bo: number): boolean {
  for (let i = 0; i < K.ip_version; i += 4) if (u32(a, ao + i) !== u32(b, bo + i)) return false;
  return u16(a, ao + K.ip_version) === u16(b, bo + K.ip_version);
}

/** The keys are the two directions of one flow. */
export function swappedKey(a: Buffer, ao: number, b: Buffer, bo: number): boolean {
  for (let i = 0; i < 16; i += 4) {
    if (u32(a, ao + K.saddr + i) !== u32(b, bo + K.daddr + i)) return false;
    if (u32(a, ao + K.daddr + i) !== u32(b, bo + K.saddr + i)) return false;
  }
  return u16(a, ao + K.sport) === u16(b, bo + K.dport) && u16(a, ao + K.dport) === u16(b, bo + K.sport) &&
    u16(a, ao + K.ip_version) === u16(b, bo + K.ip_version);
}

export class ConversationIndex {
  readonly #buckets: Int32Array;
  readonly #mask: number;

  /** Room for `capacity` slots at a load factor of at most one half. */
  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.#buckets = new Int32Array(size);
    this.#mask = size - 1;
  }

  /**
   * The slot whose key (in slotKeys, K.size bytes per slot) is keys[ko..] in either direction:
   * slot * 2 + 1 when it is the same direction, slot * 2 when the other one; -1 when none.
   */
  find(hash: number, slotKeys: Buffer, keys: Buffer, ko: number): number {
    const buckets = this.#buckets;
    for (let i = hash & this.#mask; ; i = (i + 1) & this.#mask) {
      const entry = buckets[i] ?? 0;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (sameKey(slotKeys, slot * K.size, keys, ko)) return slot * 2 + 1;
      if (swappedKey(slotKeys, slot * K.size, keys, ko)) return slot * 2;
    }
  }

  insert(hash: number, slot: number): void {
    const buckets = this.#buckets;
    let i = hash & this.#mask;
    while (buckets[i] !== 0) i = (i + 1) & this.#mask;
    buckets[i] = slot + 1;
  }

  /** Removes `slot` (inserted with `hash`); hashes[s] is the hash every other slot s was inserted with. */
  remove(hash: number, slot: number, hashes: Uint32Array): void {
    const buckets = this.#buckets;
    const mask = this.#mask;
    let i = hash & mask;
    while (buckets[i] !== slot + 1) {
      if (buckets[i] === 0) return;
      i = (i + 1) & mask;
    }
    // Backward shift: move later entries of the run into the hole when their home allows it.
    for (let j = (i + 1) & mask; buckets[j] !== 0; j = (j + 1) & mask) {
      const home = (hashes[(buckets[j] ?? 1) - 1] ?? 0) & mask;
      // The entry at j may move to i unless its home lies cyclically in (i, j].
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (between) continue;
      buckets[i] = buckets[j] ?? 0;
      i = j;
    }
    buckets[i] = 0;
  }
}
