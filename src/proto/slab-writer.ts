// The growable byte buffer under podflow's record encoders (protobuf through
// ProtoWriter, OTLP logs, canonical JSON): room checks with out-of-line growth
// that keeps the message being written at the same offsets, bytes made once and
// written often (Chunks: JSON keys a word at a time, cached messages by memcpy),
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
 * Chunks from this many bytes on are written by TypedArray#set: a call into a
 * memcpy, about 17 ns whatever the length, where the word loop takes about
 * 0.35 ns a byte (Node 20, x64): a cached pod is 90 to 150 bytes.
 */
const COPY_FROM = 64;

/**
 * Bytes written often. Short ones (keys, enum values) as little-endian 32-bit
 * words: four bytes per store through a DataView, which the JIT compiles
 * inline, where TypedArray#set is a call (about 2.5 times as long for 5 to 30
 * bytes). Long ones (cached messages) by TypedArray#set.
 */
export class Chunk {
  readonly length: number;
  private readonly bytes: Uint8Array;
  private readonly words: Int32Array;

  constructor(bytes: Uint8Array) {
    this.length = bytes.length;
    const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
    padded.set(bytes);
    this.bytes = padded.subarray(0, bytes.length);
    const data = new DataView(padded.buffer);
    this.words = new Int32Array(this.length >= COPY_FROM ? 0 : padded.length / 4);
    for (let i = 0; i < this.words.length; i++) this.words[i] = data.getInt32(4 * i, true);
  }

  /** Writes the bytes at `pos` of `buf` (`data` is a DataView of it), and up to 3 bytes of padding after them (the caller made room). */
  writeTo(buf: Uint8Array, data: DataView, pos: number): void {
    if (this.length >= COPY_FROM) {
      buf.set(this.bytes, pos);
      return;
    }
    const words = this.words;
    for (let i = 0; i < words.length; i++) data.setInt32(pos + 4 * i, words[i], true);
  }
}

/**
 * Encoded bytes of deep-frozen objects, by identity. The object looked up
 * last is checked before the WeakMap: the records of a batch mostly come from
 * one probe and share its transport, interface and observation objects.
 */
export class ChunkCache {
  private last: object | undefined;
  private lastChunk: Chunk | undefined;
  private readonly byObject = new WeakMap<object, Chunk>();

  get(value: object): Chunk | undefined {
    if (value === this.last) return this.lastChunk;
    const chunk = this.byObject.get(value);
    if (chunk !== undefined) {
      this.last = value;
      this.lastChunk = chunk;
    }
    return chunk;
  }

  set(value: object, chunk: Chunk): void {
    this.byObject.set(value, chunk);
    this.last = value;
    this.lastChunk = chunk;
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
    c.writeTo(this.buf, this.data, this.pos);
    this.pos += c.length;
  }

  /** Copies what was written for `value` before, if it was cached; false when it must be written now. */
  protected copyCached(cache: ChunkCache, value: object): boolean {
    const bytes = cache.get(value);
    if (bytes === undefined) return false;
    this.chunk(bytes);
    return true;
  }

  /** Keeps the bytes written for `value` since `from`, when it is deep-frozen (it cannot change under the cache). */
  protected remember(cache: ChunkCache, value: object, from: number): void {
    if (deepFrozen(value)) cache.set(value, new Chunk(this.buf.subarray(from, this.pos)));
  }
}
