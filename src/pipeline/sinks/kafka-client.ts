// kafkajs, with its per-message hot paths replaced. kafkajs 2.2.4 (its last
// release) encodes every record through six Encoder objects, each a zero-filled
// 512-byte Buffer, plus one Buffer per varint, and groups a request's messages
// by partition by copying the partition's array once per message (quadratic).
// At 200k records/s that is most of the producer's CPU and garbage. Its module
// layout is fixed, so the two modules are replaced in the require cache before
// kafkajs loads them: the Record encoder writes straight into a shared slab,
// and the grouping appends. The wire format and the grouping result are
// unchanged; other kafkajs versions are left alone (slower, still correct).
//
// Every podflow module imports kafkajs from here, so this runs before kafkajs's
// own modules are evaluated.
import { createRequire } from 'node:module';
import type * as KafkaJS from 'kafkajs';

const require = createRequire(import.meta.url);
const PATCHED_VERSION = '2.2.4';
const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition.js';

type HeaderValue = Buffer | string | null | undefined;
interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
  [ENCODED_TAIL]?: Buffer;
}
/** What kafkajs's RecordBatch reads of an encoded record (an Encoder's buf and buffer). */
interface EncodedRecord {
  buf: Buffer;
  buffer: Buffer;
}

/**
 * A message may carry its key, value and headers already in Kafka's record
 * encoding (RecordSlab.bytes for key and value, then a header count and
 * entries): the record encoder then only prepends the length and deltas. The
 * message's own key, value and headers stay authoritative for everything else
 * (the partitioner, and kafkajs's encoder should this one not be installed).
 */
export const ENCODED_TAIL = Symbol('kafka record key, value and headers, encoded');

const SLAB_BYTES = 1 << 20;

/**
 * Bump-allocated Kafka record (format v2) bytes: what is written between
 * begin() and end() comes back as a view. Views keep their slab alive until
 * they are dropped; a full slab is replaced, never reused.
 */
export class RecordSlab {
  private buf: Buffer;
  private pos = 0;
  private start = 0;

  constructor(private readonly slabBytes = SLAB_BYTES) {
    this.buf = Buffer.allocUnsafe(slabBytes);
  }

  /** Starts a piece of at most `bound` bytes. */
  begin(bound: number): void {
    if (this.pos + bound > this.buf.length) {
      this.buf = Buffer.allocUnsafe(Math.max(this.slabBytes, bound));
      this.pos = 0;
    }
    this.start = this.pos;
  }

  end(): Buffer {
    return this.buf.subarray(this.start, this.pos);
  }

  /** A zigzag varint. */
  varint(v: number): void {
    let u = v >= 0 ? v * 2 : -v * 2 - 1; // no 32-bit wrap: timestamp deltas are varlongs
    const buf = this.buf;
    while (u >= 0x80) {
      buf[this.pos++] = (u % 0x80) | 0x80;
      u = Math.floor(u / 0x80);
    }
    buf[this.pos++] = u;
  }

  /** A varint length (-1 for null) and the bytes; returns how many bytes the value took. */
  bytes(value: Uint8Array | string | null | undefined): number {
    if (value === null || value === undefined) {
      this.varint(-1);
      return 0;
    }
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) value = String(value);
    if (typeof value === 'string') {
      // Written after a one-byte length, moved if the length needs more.
      const written = this.buf.write(value, this.pos + 1, 'utf8');
      const size = varintSize(written);
      if (size > 1) this.buf.copyWithin(this.pos + size, this.pos + 1, this.pos + 1 + written);
      this.varint(written);
      this.pos += written;
      return written;
    }
    this.varint(value.length);
    this.raw(value);
    return value.length;
  }

  /** bytes(value), returning a view of the value's bytes. */
  field(value: Uint8Array | string): Buffer {
    const size = this.bytes(value);
    return this.buf.subarray(this.pos - size, this.pos);
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** kafkajs's Record: one record, as a view of the slab. */
  record(fields: RecordFields): EncodedRecord {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = fields;
    const tail = fields[ENCODED_TAIL];
    const headerKeys = headers && !tail ? Object.keys(headers) : [];
    let tailBound = tail ? tail.length : sizeBound(key) + sizeBound(value) + 5;
    for (const k of headerKeys) {
      const v = headers![k];
      if (Array.isArray(v)) for (const item of v) tailBound += 5 + k.length * 3 + sizeBound(item);
      else tailBound += 5 + k.length * 3 + sizeBound(v);
    }
    // The body goes after room for its length varint, which is written last.
    this.begin(5 + 1 + 10 + 5 + tailBound);
    const bodyStart = this.pos + 5;
    this.pos = bodyStart;
    this.buf[this.pos++] = 0; // attributes: none
    this.varint(timestampDelta);
    this.varint(offsetDelta);
    if (tail) this.raw(tail);
    else {
      this.bytes(key);
      this.bytes(value);
      let count = 0;
      for (const k of headerKeys) {
        const v = headers![k];
        count += Array.isArray(v) ? v.length : 1;
      }
      this.varint(count);
      for (const k of headerKeys) {
        const v = headers![k];
        for (const item of Array.isArray(v) ? v : [v]) {
          this.bytes(k);
          this.bytes(item);
        }
      }
    }
    const end = this.pos;
    const length = end - bodyStart;
    this.start = this.pos = bodyStart - varintSize(length);
    this.varint(length);
    this.pos = end;
    const view = this.end();
    return { buf: view, buffer: view };
  }
}

/** Bytes of the zigzag varint of v. */
function varintSize(v: number): number {
  let u = v >= 0 ? v * 2 : -v * 2 - 1;
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 0x80);
    size++;
  }
  return size;
}

/** Upper bound of bytes(v): a 5-byte varint and 3 UTF-8 bytes per UTF-16 unit of a string. */
export function sizeBound(v: Uint8Array | string | null | undefined): number {
  if (v === null || v === undefined) return 5;
  return 5 + (typeof v === 'string' ? v.length * 3 : v instanceof Uint8Array ? v.length : String(v).length * 3);
}

interface GroupingInput<M> {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

/** kafkajs's groupMessagesPerPartition, appending instead of copying. */
function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupingInput<M>): Record<number, M[]> {
  const groups: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return groups;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    (groups[partition] ??= []).push(message);
  }
  return groups;
}

function replaceModule(id: string, exports: unknown): void {
  const path = require.resolve(id);
  require(path);
  require.cache[path]!.exports = exports;
}

const installedVersion = (require('kafkajs/package.json') as { version: string }).version;
/** Why kafkajs's hot paths were left alone, or null when they were replaced. */
const unpatchedReason = installedVersion !== PATCHED_VERSION
  ? `kafkajs ${installedVersion} is installed, its encoder is replaced only for ${PATCHED_VERSION} (package.json pins it)`
  : require.cache[require.resolve('kafkajs')]
    ? 'kafkajs was loaded before kafka-client.js could replace its encoder'
    : null;
if (unpatchedReason === null) {
  const slab = new RecordSlab();
  replaceModule(RECORD_MODULE, (fields: RecordFields) => slab.record(fields));
  replaceModule(GROUPING_MODULE, groupMessagesPerPartition);
}
let unpatchedWarned = false;

/** Says once per process, through `logger` or else the console, that the slower stock kafkajs encoder is in use. */
export function warnIfKafkajsUnpatched(logger?: { warn(obj: object, msg: string): void }): void {
  if (unpatchedReason === null || unpatchedWarned) return;
  unpatchedWarned = true;
  const msg = `kafka sink: ${unpatchedReason}; records are encoded by kafkajs's own, slower code (still correct)`;
  if (logger) logger.warn({ kafkajsVersion: installedVersion }, msg);
  else console.warn(msg);
}

const kafkajs = require('kafkajs') as typeof KafkaJS;
export default kafkajs;

/**
 * kafkajs's DefaultPartitioner (the Java client's: murmur2 of the key, positive,
 * modulo the partition count) with murmur2 in 32-bit integer arithmetic
 * instead of kafkajs's Long objects. Messages without a key take kafkajs's own.
 */
export const Murmur2Partitioner: KafkaJS.ICustomPartitioner = () => {
  const keyless = kafkajs.Partitioners.DefaultPartitioner();
  return (args) => {
    const { partitionMetadata, message } = args;
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key === null || message.key === undefined) return keyless(args);
    return (murmur2(Buffer.isBuffer(message.key) ? message.key : Buffer.from(String(message.key))) & 0x7fffffff) % partitionMetadata.length;
  };
};

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) as a signed 32-bit int. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const end = length & ~3;
  for (let i = 0; i < end; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[end + 2] << 16;
  if (rest >= 2) h ^= data[end + 1] << 8;
  if (rest >= 1) h = Math.imul(h ^ data[end], m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}
