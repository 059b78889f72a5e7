// The growable byte buffer under podflow's record encoders (protobuf through
// ProtoWriter, OTLP logs, canonical JSON): room checks with out-of-line growth
// that keeps the message being written at the same offsets, bytes made once and
// written often (Chunks: JSON keys, cached messages) written a word at a time,
// and the bytes of deep-frozen shared objects (the enricher's Pod and Service,
// the decoders' Transport, Interface and Observation) written once per object
// and copied after that.
import { deepFrozen } from './format-util.js';

/**
 * What Node's own Buffer objects are (its FastBuffer): a Uint8Array whose
 * prototype is Buffer.prototype. Made with `new`, a view costs half of what
 * Buffer.from(arrayBuffer, offset, length) costs (argument checks, a call into
 * C++), once per encoded record.
 */
class SlabView extends Uint8Array {}
Object.setPrototypeOf(SlabView.prototype, Buffer.prototype);

/**
 * Bytes written often, as little-endian 32-bit words: four bytes per store
 * through a DataView, which the JIT compiles inline, where TypedArray#set is a
 * call (about 2.5 times as long for the 5 to 100 bytes of a key or a cached
 * message).
 */
export class Chunk {
  readonly length: number;
  private readonly words: Int32Array;

  constructor(bytes: Uint8Array) {
    this.length = bytes.length;
    const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
    padded.set(bytes);
    const data = new DataView(padded.buffer);
    this.words = new Int32Array(padded.length / 4);
    for (let i = 0; i < this.words.length; i++) this.words[i] = data.getInt32(4 * i, true);
  }

  /** Writes the bytes at `pos` of `data`, and up to 3 bytes of padding after them (the caller made room). */
  writeTo(data: DataView, pos: number): void {
    const words = this.words;
    for (let i = 0; i < words.length; i++) data.setInt32(pos + 4 * i, words[i], true);
  }
}

export class SlabWriter {
  protected buf: Buffer;
  /** buf.buffer, kept: the getter is a call into C++, once per record otherwise. */
  private slab: ArrayBuffer;
  /** A DataView over buf, for Chunks. */
  private data: DataView;
  protected pos = 0;
  /** Where the message being written starts: growing keeps [start, pos) at the same offsets. */
  protected start = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.slab = this.buf.buffer as ArrayBuffer;
    this.data = new DataView(this.slab);
  }

  /** Writes into `buf` from now on (from position 0 unless the caller moves pos). */
  protected use(buf: Buffer): void {
    this.buf = buf;
    this.slab = buf.buffer as ArrayBuffer;
    this.data = new DataView(this.slab, buf.byteOffset, buf.length);
    this.pos = 0;
  }

  /** Starts writing into a fresh buffer of `size` bytes. */
  protected replace(size: number): void {
    this.use(Buffer.allocUnsafeSlow(size));
  }

  /** Room for n more bytes; the growth itself is out of line. */
  protected room(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    // Same offsets in the bigger buffer, so the positions of open length prefixes or objects stay valid.
    const next = Buffer.allocUnsafeSlow(2 * Math.max(this.buf.length, this.pos + n));
    this.buf.copy(next, this.start, this.start, this.pos);
    const pos = this.pos;
    this.use(next);
    this.pos = pos;
  }

  /** A Buffer over bytes [from, to) of the current buffer, sharing its memory. */
  protected view(from: number, to: number): Buffer {
    return new SlabView(this.slab, this.buf.byteOffset + from, to - from) as unknown as Buffer;
  }

  protected bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  protected chunk(c: Chunk): void {
    this.room(c.length + 3);
    c.writeTo(this.data, this.pos);
    this.pos += c.length;
  }

  /** Copies what was written for `value` before, if it was cached; false when it must be written now. */
  protected copyCached(cache: WeakMap<object, Chunk>, value: object): boolean {
    const bytes = cache.get(value);
    if (bytes === undefined) return false;
    this.chunk(bytes);
    return true;
  }

  /** Keeps the bytes written for `value` since `from`, when it is deep-frozen (it cannot change under the cache). */
  protected remember(cache: WeakMap<object, Chunk>, value: object, from: number): void {
    if (deepFrozen(value)) cache.set(value, new Chunk(this.buf.subarray(from, this.pos)));
  }
}
