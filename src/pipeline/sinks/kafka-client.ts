// kafkajs, with its per-message hot paths replaced. kafkajs 2.2.4 (its last
// release) encodes every record through six Encoder objects, each a zero-filled
// 512-byte Buffer, plus one Buffer per varint, after a spread copy of every
// message; and it groups a request's messages by partition by copying the
// partition's array once per message (quadratic). At 200k records/s that is
// most of the producer's CPU and garbage. Its module layout is fixed, so two
// modules are replaced in the require cache before kafkajs loads them: the
// Produce request (v3, which v4 to v7 reuse) writes a partition's records
// straight into one Buffer from the messages' pre-encoded bytes, and the
// grouping appends. The wire format and the grouping result are unchanged;
// other kafkajs versions are left alone (slower, still correct).
//
// Every podflow module imports kafkajs from here, so this runs before kafkajs's
// own modules are evaluated.
import { createRequire } from 'node:module';
import type * as KafkaJS from 'kafkajs';

const require = createRequire(import.meta.url);
const PATCHED_VERSION = '2.2.4';
const PRODUCE_REQUEST_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request.js';
const GROUPING_MODULE = 'kafkajs/src/producer/groupMessagesPerPartition.js';

/**
 * A message may carry its key, value and headers already in Kafka's record
 * encoding (RecordSlab.bytes for key and value, then a header count and
 * entries): the Produce request then only prepends each record's length and
 * deltas. The message's key, value and headers serve kafkajs's own encoder,
 * used when this one is not installed (kafkaRecordsPreEncoded false).
 */
export const ENCODED_TAIL = Symbol('kafka record key, value and headers, encoded');
/** murmur2 of a message's key, computed where the key was encoded: what Murmur2Partitioner places it by. */
export const KEY_HASH = Symbol('murmur2 of the kafka message key');

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

  /** bytes(value), returning the murmur2 of the value's bytes. */
  hashedField(value: Uint8Array | string): number {
    const size = this.bytes(value);
    return murmur2(this.buf, this.pos - size, this.pos);
  }

  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
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

// ---- the Produce request (v3 to v7) ----

interface KafkaEncoder {
  buf: Buffer;
  buffer: Buffer;
  size(): number;
  writeInt8(v: number): KafkaEncoder;
  writeInt16(v: number): KafkaEncoder;
  writeInt32(v: number): KafkaEncoder;
  writeUInt32(v: number): KafkaEncoder;
  writeInt64(v: unknown): KafkaEncoder;
  writeString(v: string | null): KafkaEncoder;
  writeBytes(v: Buffer): KafkaEncoder;
  writeBuffer(v: Buffer): KafkaEncoder;
  writeEncoder(v: KafkaEncoder): KafkaEncoder;
  writeArray(v: KafkaEncoder[]): KafkaEncoder;
}
interface ProduceMessage {
  [ENCODED_TAIL]?: Buffer;
  timestamp?: unknown;
}
interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}
type ProduceRequest = (args: ProduceArgs) => unknown;

const MAGIC_BYTE = 2;
const TRANSACTIONAL_FLAG = 16;
const COMPRESSION_CODEC_MASK = 0x07;

/**
 * kafkajs's Produce request v3 for requests whose every message carries its
 * ENCODED_TAIL and no timestamp of its own (podflow's); kafkajs's for others.
 */
function produceRequest(stock: ProduceRequest): ProduceRequest {
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaEncoder;
  const Long = require('kafkajs/src/utils/long.js') as { fromInt(v: number): unknown };
  const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
  const { lookupCodec } = require('kafkajs/src/protocol/message/compression/index.js') as {
    lookupCodec(type: number): { compress(encoder: { buffer: Buffer }): Promise<Buffer> } | null;
  };
  const { Produce: apiKey } = require('kafkajs/src/protocol/requests/apiKeys.js') as { Produce: number };

  const preEncoded = (args: ProduceArgs) => args.topicData.every(({ partitions }) => partitions.every(({ messages }) =>
    messages.every((m) => m[ENCODED_TAIL] !== undefined && (m.timestamp === undefined || m.timestamp === null))));

  return (args) => {
    if (!preEncoded(args)) return stock(args);
    const { acks, timeout, transactionalId = null, producerId = Long.fromInt(-1), producerEpoch = 0, compression = 0, topicData } = args;
    const codec = compression === 0 ? null : lookupCodec(compression);

    /** RecordBatch v2 of one partition (kafkajs's RecordBatch with firstOffset 0, leader epoch 0, one timestamp). */
    const partitionData = async ({ partition, firstSequence = 0, messages }: ProducePartition): Promise<KafkaEncoder> => {
      const now = Date.now();
      const records = recordsOf(messages);
      const body = new Encoder()
        .writeInt16((compression & COMPRESSION_CODEC_MASK) | (transactionalId ? TRANSACTIONAL_FLAG : 0))
        .writeInt32(messages.length - 1) // lastOffsetDelta
        .writeInt64(now) // firstTimestamp
        .writeInt64(now) // maxTimestamp
        .writeInt64(producerId)
        .writeInt16(producerEpoch)
        .writeInt32(firstSequence)
        .writeInt32(messages.length)
        .writeBuffer(codec ? await codec.compress({ buffer: records }) : records);
      const batch = new Encoder().writeInt32(0).writeInt8(MAGIC_BYTE).writeUInt32(crc32C(body.buffer)).writeEncoder(body);
      const recordBatch = new Encoder().writeInt64(Long.fromInt(0)).writeBytes(batch.buffer);
      return new Encoder().writeInt32(partition).writeInt32(recordBatch.size()).writeEncoder(recordBatch);
    };

    return {
      apiKey,
      apiVersion: 3,
      apiName: 'Produce',
      expectResponse: () => acks !== 0,
      encode: async () => {
        const topics: KafkaEncoder[] = [];
        for (const { topic, partitions } of topicData) {
          const encoded: KafkaEncoder[] = [];
          for (const p of partitions) encoded.push(await partitionData(p));
          topics.push(new Encoder().writeString(topic).writeArray(encoded));
        }
        return new Encoder().writeString(transactionalId).writeInt16(acks).writeInt32(timeout).writeArray(topics);
      },
    };
  };
}

/**
 * A partition's records (format v2) in one Buffer: per message its length,
 * attributes 0, timestamp delta 0 (the batch's one timestamp), offset delta i,
 * then its pre-encoded key, value and headers.
 */
function recordsOf(messages: ProduceMessage[]): Buffer {
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    const body = 2 + varintSize(i) + messages[i][ENCODED_TAIL]!.length;
    total += varintSize(body) + body;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    const tail = messages[i][ENCODED_TAIL]!;
    pos = varintAt(out, pos, 2 + varintSize(i) + tail.length);
    out[pos++] = 0; // attributes
    out[pos++] = 0; // timestampDelta
    pos = varintAt(out, pos, i);
    pos += tail.copy(out, pos);
  }
  return out;
}

/** The zigzag varint of v >= 0 at pos; returns the position after it. */
function varintAt(buf: Buffer, pos: number, v: number): number {
  let u = v * 2;
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[pos++] = u;
  return pos;
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
  replaceModule(PRODUCE_REQUEST_MODULE, produceRequest(require(PRODUCE_REQUEST_MODULE) as ProduceRequest));
  replaceModule(GROUPING_MODULE, groupMessagesPerPartition);
}
/** Whether messages' ENCODED_TAIL is what goes on the wire (their key, value and headers are then not read). */
export const kafkaRecordsPreEncoded = unpatchedReason === null;
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
    const hash = (message as { [KEY_HASH]?: number })[KEY_HASH];
    if (hash !== undefined) return (hash & 0x7fffffff) % partitionMetadata.length;
    if (message.key === null || message.key === undefined) return keyless(args);
    return (murmur2(Buffer.isBuffer(message.key) ? message.key : Buffer.from(String(message.key))) & 0x7fffffff) % partitionMetadata.length;
  };
};

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) of data[from, to) as a signed 32-bit int. */
export function murmur2(data: Uint8Array, from = 0, to = data.length): number {
  const m = 0x5bd1e995;
  const length = to - from;
  let h = 0x9747b28c ^ length;
  const end = from + (length & ~3);
  for (let i = from; i < end; i += 4) {
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
