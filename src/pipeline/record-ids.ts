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

  /** bootId defaults to 8 random hex digits, new on every agent start. */
  constructor(nodeName: string, readonly bootId: string = randomBytes(4).toString('hex')) {
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
    let pos = 0;
    let units = 0;
    for (let i = 0; i < BLOCK; i++) {
      for (let k = 0; k < prefix.length; k++) bytes[pos++] = prefix[k]!;
      let seq = this.seq + 1 + i;
      let len = 1;
      for (let t = seq; t >= 10; t = Math.floor(t / 10)) len++;
      for (let d = pos + len - 1; d >= pos; d--, seq = Math.floor(seq / 10)) bytes[d] = 48 + (seq % 10);
      pos += len;
      units += this.prefixUnits + len;
      this.ends[i] = units;
    }
    this.block = bytes.toString('utf8', 0, pos);
    this.used = 0;
  }
}
