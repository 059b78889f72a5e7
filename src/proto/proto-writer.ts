// The protobuf wire primitives podflow's specialised encoders share (FlowRecord
// in protobuf-encoder.ts, OTLP logs in pipeline/sinks/otlp-log-encoder.ts):
// fields written straight into one growable Buffer, and sub-messages that
// reserve one length byte and are moved up in the rare case their body reaches
// 128 bytes. Byte for byte what protobufjs' Writer writes for the same values.
import { SlabWriter } from './slab-writer.js';

/** From this many characters on, a string is written by utf8Write instead of the loop (see stringField). */
const COPY_FROM = 32;
/** From this many characters on, its byte length is counted first (see longString). */
const EXACT_FROM = 4096;

type Utf8Writer = (buf: Buffer, v: string, at: number, max: number) => number;
/**
 * Buffer#utf8Write: what Buffer#write calls after its argument handling (and
 * what protobufjs writes long strings with); not in Node's typings, so it is
 * looked up once, with Buffer#write as the fallback.
 */
const utf8Write: Utf8Writer =
  typeof (Buffer.prototype as { utf8Write?: unknown }).utf8Write === 'function'
    ? (buf, v, at, max) => (buf as Buffer & { utf8Write(v: string, at: number, max: number): number }).utf8Write(v, at, max)
    : (buf, v, at, max) => buf.write(v, at, max);

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
   * UTF-8, also for empty strings (map entries, repeated). Short ASCII is
   * copied here; longer text by one call of utf8Write, which costs about
   * 65 ns whatever the length up to a few hundred characters, where the loop
   * takes 2 to 2.5 ns a character (Node 20, the 2-core VM): the two break
   * even at about 30. A cloud node's name and the record ids that start with
   * it are 40 to 60 (`ip-10-0-12-34.eu-west-1.compute.internal`).
   */
  protected stringField(tag: number, v: string): void {
    const n = v.length;
    if (n >= COPY_FROM) return this.utf8Field(tag, v);
    // At most 3 bytes per UTF-16 unit: the length fits one byte.
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

  /** Room for the most bytes `v` can take, one length byte (moved up by closeLength when it needs more). */
  private utf8Field(tag: number, v: string): void {
    if (v.length >= EXACT_FROM) return this.longString(tag, v);
    const max = 3 * v.length;
    this.room(2 + max);
    this.buf[this.pos] = tag;
    const at = this.pos + 1;
    this.pos = at + 1 + utf8Write(this.buf, v, at + 1, max);
    this.closeLength(at);
  }

  /** Long text: its exact byte length first, so the buffer does not grow by three times its length. */
  private longString(tag: number, v: string): void {
    const len = Buffer.byteLength(v);
    this.room(1);
    this.buf[this.pos++] = tag;
    this.varint32(len);
    this.room(len);
    this.pos += utf8Write(this.buf, v, this.pos, len);
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
