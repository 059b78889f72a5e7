// Record ids "<node>/<boot id>/<seq>": unique per agent run, so an
// at-least-once consumer can de-duplicate, and gaps in seq are visible.
//
// Every encoder reads every id, so ids are made flat: `prefix + seq` would be
// a chain of two pieces (and a number-to-text string) that each encoder's
// first read copies into a new flat string. The text of the next BLOCK ids is
// written back to back into one string at once, and each id is a slice of it
// (V8 makes a slice of 13 characters or more a view of its parent: no copy,
// readable as is).
import { randomBytes } from 'node:crypto';

/** Ids made at once: the block's text is about BLOCK * 30 bytes, kept while one of its ids is. */
const BLOCK = 256;
/** Digits of a seq (below 2^53). */
const MAX_DIGITS = 16;

/** A new agent boot id: 8 random hex digits (record ids, OTLP's service.instance.id). */
export function newBootId(): string {
  return randomBytes(4).toString('hex');
}

export class RecordIdAssigner {
  private readonly prefix: Buffer;
  /** The prefix's length in UTF-16 units (what string offsets count). */
  private readonly prefixUnits: number;
  private seq = 0;
  /** Text of ids seq+1.. (from the block's first id on), and where each ends in it. */
  private block = '';
  private readonly ends = new Int32Array(BLOCK);
  /** Ids of the block handed out. */
  private used = BLOCK;
  private readonly bytes: Buffer;
  /**
   * The decimal text of the last seq written, right-aligned (0: no digit there
   * yet), counted up in place: each id differs from the one before in its last
   * digit or few, and dividing by ten per digit was most of refill's time.
   */
  private readonly digits = new Uint8Array(MAX_DIGITS);
  private digitCount = 0;
  /**
   * Digits of each id of the block last written (0: not written yet). While the
   * next block's ids have the same lengths, its prefixes are already in place
   * in `bytes`: only the digits are written (the prefix, a node name of 40
   * characters and more, was most of the bytes copied per id).
   */
  private readonly lens = new Uint8Array(BLOCK);

  /** bootId defaults to a new one (newBootId), as on every agent start. */
  constructor(nodeName: string, readonly bootId: string = newBootId()) {
    if (!nodeName) throw new Error('record ids need a node name: set nodeName (e.g. from the NODE_NAME environment variable)');
    const prefix = `${nodeName}/${bootId}/`;
    this.prefix = Buffer.from(prefix, 'utf8');
    this.prefixUnits = prefix.length;
    this.bytes = Buffer.alloc(BLOCK * (this.prefix.length + MAX_DIGITS));
  }

  next(): string {
    if (this.used === BLOCK) this.refill();
    const i = this.used++;
    this.seq++;
    return this.block.slice(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  /** Sequence numbers handed out so far. */
  get issued(): number {
    return this.seq;
  }

  /** Writes the next BLOCK ids' text (UTF-8 bytes, decoded once). */
  private refill(): void {
    const bytes = this.bytes;
    const prefix = this.prefix;
    const digits = this.digits;
    const lens = this.lens;
    let pos = 0;
    let units = 0;
    /** The ids so far are laid out as in the previous block: their prefixes are in place. */
    let same = true;
    for (let i = 0; i < BLOCK; i++) {
      this.countUp();
      const len = this.digitCount;
      if (same && lens[i] === len) {
        pos += prefix.length;
      } else {
        same = false;
        lens[i] = len;
        for (let k = 0; k < prefix.length; k++) bytes[pos++] = prefix[k]!;
      }
      for (let k = MAX_DIGITS - len; k < MAX_DIGITS; k++) bytes[pos++] = digits[k]!;
      units += this.prefixUnits + len;
      this.ends[i] = units;
    }
    this.block = bytes.toString('utf8', 0, pos);
    this.used = 0;
  }

  /** Adds one to the decimal text in `digits`. */
  private countUp(): void {
    const digits = this.digits;
    let d = MAX_DIGITS - 1;
    for (; digits[d] === 0x39; d--) digits[d] = 0x30;
    digits[d] = digits[d] === 0 ? 0x31 : digits[d]! + 1;
    this.digitCount = Math.max(this.digitCount, MAX_DIGITS - d);
  }
}
