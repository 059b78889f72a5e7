// The protobuf wire primitives podflow's specialised encoders share (FlowRecord
// in protobuf-encoder.ts, OTLP logs in pipeline/sinks/otlp-log-encoder.ts):
// fields written straight into one growable Buffer, and sub-messages that
// reserve one length byte and are moved up in the rare case their body reaches
// 128 bytes. Byte for byte what protobufjs' Writer writes for the same values.
import { SlabWriter } from './slab-writer.js';

/** Bytes of v < 2^32 as a varint. */
export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

export class ProtoWriter extends SlabWriter {
  /** v < 2^32 as a varint at pos (room checked by the caller); returns the position after it. */
  protected static varint32At(buf: Buffer, pos: number, v: number): number {
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }

  protected varint32(v: number): void {
    this.room(5);
    this.pos = ProtoWriter.varint32At(this.buf, this.pos, v);
  }

  /** An integral number as 64-bit two's complement: protobufjs' LongBits.fromNumber without the object. */
  protected number64(v: number): void {
    const negative = v < 0;
    if (negative) v = -v;
    let lo = v >>> 0;
    let hi = ((v - lo) / 4294967296) >>> 0;
    if (negative) {
      hi = ~hi >>> 0;
      lo = ~lo >>> 0;
      if (++lo > 4294967295) {
        lo = 0;
        if (++hi > 4294967295) hi = 0;
      }
    }
    this.varint64(lo, hi);
  }

  protected varint64(lo: number, hi: number): void {
    this.room(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.pos = ProtoWriter.varint32At(buf, pos, lo);
  }

  /**
   * A string field: its one-byte tag (fields 1 to 15), then length-prefixed
   * UTF-8, also for empty strings (map entries, repeated).
   */
  protected stringField(tag: number, v: string): void {
    const n = v.length;
    if (n >= 43) return this.longString(tag, v);
    // At most 3 bytes per UTF-16 unit: the length fits one byte. ASCII is
    // copied here (cheaper than a call into C++ for short strings).
    this.room(2 + 3 * n);
    const buf = this.buf;
    buf[this.pos] = tag;
    const at = this.pos + 1;
    let pos = at + 1;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 128) {
        pos = at + 1 + buf.write(v, at + 1);
        break;
      }
      buf[pos++] = c;
    }
    buf[at] = pos - at - 1;
    this.pos = pos;
  }

  private longString(tag: number, v: string): void {
    const len = Buffer.byteLength(v);
    this.room(1);
    this.buf[this.pos++] = tag;
    this.varint32(len);
    this.room(len);
    this.pos += this.buf.write(v, this.pos, len);
  }

  /** Reserves one length byte; returns where it is. */
  protected openLength(): number {
    this.room(1);
    return this.pos++;
  }

  /** Tag (one or two bytes) and reserved length byte of a sub-message field; returns where the length goes. */
  protected field(tag: number): number {
    this.room(3);
    this.pos = ProtoWriter.varint32At(this.buf, this.pos, tag);
    return this.pos++;
  }

  /** Writes the length of what follows `at`, moving it up when the length needs more than one byte. */
  protected closeLength(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    const size = varintSize(len);
    this.room(size - 1);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    ProtoWriter.varint32At(this.buf, at, len);
    this.pos = at + size + len;
  }
}
