// Text of short byte strings the decoders see again and again (process names,
// DNS names, HTTP paths and hosts), direct-mapped by a hash of the bytes: a hit
// makes no string and calls no C++ (Buffer#toString is both), a miss makes the
// text once and keeps it in place of the slot's previous one. Bounded: slots x
// maxLength bytes, whatever the traffic.
export class TextCache {
  readonly #maxLength: number;
  readonly #mask: number;
  readonly #present: (buf: Buffer, start: number, end: number) => string;
  readonly #bytes: Uint8Array;
  readonly #lengths: Uint16Array;
  readonly #texts: (string | undefined)[];

  /**
   * @param slots a power of two
   * @param maxLength longer byte strings are presented each time, not kept
   * @param present the text of buf[start, end); must depend on those bytes only
   */
  constructor(slots: number, maxLength: number, present: (buf: Buffer, start: number, end: number) => string) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`text cache slots must be a power of two, got ${slots}`);
    this.#maxLength = maxLength;
    this.#mask = slots - 1;
    this.#present = present;
    this.#bytes = new Uint8Array(slots * maxLength);
    this.#lengths = new Uint16Array(slots);
    this.#texts = new Array<string | undefined>(slots).fill(undefined);
  }

  /** The text of buf[start, end). */
  text(buf: Buffer, start: number, end: number): string {
    const len = end - start;
    if (len > this.#maxLength) return this.#present(buf, start, end);
    let hash = 0x811c9dc5 ^ len;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    const slot = (hash ^ (hash >>> 15)) & this.#mask;
    const cached = this.#texts[slot];
    if (cached !== undefined && this.#lengths[slot] === len && this.#same(slot, buf, start, len)) return cached;
    const text = this.#present(buf, start, end);
    const at = slot * this.#maxLength;
    for (let i = 0; i < len; i++) this.#bytes[at + i] = buf[start + i]!;
    this.#lengths[slot] = len;
    this.#texts[slot] = text;
    return text;
  }

  #same(slot: number, buf: Buffer, start: number, len: number): boolean {
    const bytes = this.#bytes;
    const at = slot * this.#maxLength;
    for (let i = 0; i < len; i++) if (bytes[at + i] !== buf[start + i]) return false;
    return true;
  }
}
