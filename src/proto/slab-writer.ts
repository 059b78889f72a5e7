// The growable byte buffer under podflow's record encoders (protobuf through
// ProtoWriter, OTLP logs, canonical JSON): room checks with out-of-line growth
// that keeps the message being written at the same offsets, and the bytes of
// deep-frozen shared objects (the enricher's Pod and Service) written once per
// object and copied after that.
import { deepFrozen } from './format-util.js';

export class SlabWriter {
  protected buf: Buffer;
  /** buf.buffer, kept: the getter is a call into C++, once per record otherwise. */
  protected slab: ArrayBuffer;
  protected pos = 0;
  /** Where the message being written starts: growing keeps [start, pos) at the same offsets. */
  protected start = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.slab = this.buf.buffer as ArrayBuffer;
  }

  /** Starts writing into a fresh buffer of `size` bytes. */
  protected replace(size: number): void {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.slab = this.buf.buffer as ArrayBuffer;
    this.pos = 0;
  }

  /** Room for n more bytes; the growth itself is out of line. */
  protected room(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    // Same offsets in the bigger buffer, so the positions of open length prefixes or objects stay valid.
    const next = Buffer.allocUnsafeSlow(2 * Math.max(this.buf.length, this.pos + n));
    this.buf.copy(next, this.start, this.start, this.pos);
    this.buf = next;
    this.slab = next.buffer as ArrayBuffer;
  }

  protected bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Copies what was written for `value` before, if it was cached; false when it must be written now. */
  protected copyCached(cache: WeakMap<object, Uint8Array>, value: object): boolean {
    const bytes = cache.get(value);
    if (bytes === undefined) return false;
    this.bytes(bytes);
    return true;
  }

  /** Keeps the bytes written for `value` since `from`, when it is deep-frozen (it cannot change under the cache). */
  protected remember(cache: WeakMap<object, Uint8Array>, value: object, from: number): void {
    if (deepFrozen(value)) cache.set(value, new Uint8Array(this.buf.subarray(from, this.pos)));
  }
}
