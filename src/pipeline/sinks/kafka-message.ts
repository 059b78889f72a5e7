// One FlowRecord as one Kafka message: the value in the configured encoding,
// the key that keeps a conversation on one partition, and headers that let a
// consumer route and decode without looking inside the value.
import { podflow } from '../../proto/gen/flow.js';
import { OCSF_SCHEMA_VERSION } from '../../proto/ocsf.js';
import { createRecordEncoder } from '../../proto/record-encoder.js';
import type { FlowRecord } from '../types.js';
import { ENCODED_TAIL, KEY_HASH, kafkaRecordsPreEncoded, murmur2, RecordSlab, sizeBound } from './kafka-client.js';

export const KAFKA_ENCODINGS = ['protobuf', 'json', 'ocsf'] as const;
export type KafkaEncoding = (typeof KAFKA_ENCODINGS)[number];

/** The protobuf package version of the schema; bumps only with podflow.v2. */
export const SCHEMA_VERSION = 'v1';
const MESSAGE_NAME = 'podflow.v1.FlowRecord';

export const CONTENT_TYPES: Record<KafkaEncoding, string> = {
  protobuf: `application/x-protobuf; messageType=${MESSAGE_NAME}`,
  json: `application/json; messageType=${MESSAGE_NAME}`,
  ocsf: `application/json; schema=ocsf/${OCSF_SCHEMA_VERSION}`,
};

export interface KafkaMessage {
  topic: string;
  /**
   * Key, value and headers for kafkajs's own encoder: null and absent when
   * kafka-client.ts sends ENCODED_TAIL (kafkaRecordsPreEncoded), so a buffered
   * message holds one view, not four.
   */
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string>;
  /** Key, value and headers in Kafka's record encoding, which kafka-client.ts copies as they are. */
  [ENCODED_TAIL]: Buffer;
  [KEY_HASH]: number;
}

export interface KafkaMessageOptions {
  encoding: KafkaEncoding;
  topic: string;
  /** `<topic>.<type>` per record type, e.g. podflow.flows.tcp_close. */
  topicPerRecordType: boolean;
  productVersion: string;
}

const TYPE_NAMES = podflow.v1.RecordType as unknown as Record<number, string>;

/** Header entries in Kafka's record encoding (key and value, each length-prefixed), encoded once; `count` first if given. */
function headerEntries(entries: [string, string][], count?: number): Buffer {
  const slab = new RecordSlab(1024);
  slab.begin(5 + entries.reduce((n, [k, v]) => n + sizeBound(k) + sizeBound(v), 0));
  if (count !== undefined) slab.varint(count);
  for (const [k, v] of entries) {
    slab.bytes(k);
    slab.bytes(v);
  }
  return Buffer.from(slab.end());
}

export class KafkaMessageEncoder {
  private readonly encodeValue: (record: FlowRecord) => Uint8Array | string;
  private readonly slab = new RecordSlab();
  private readonly contentType: Buffer;
  private readonly schemaVersion = Buffer.from(SCHEMA_VERSION);
  private readonly topics = new Map<number, string>();
  // Header values that repeat are encoded once and shared by every message.
  private readonly typeHeaders = new Map<number, { value: Buffer; entries: Buffer }>();
  private nodeName = '';
  private node = { value: Buffer.alloc(0), entry: headerEntries([['node', '']]) };

  constructor(private readonly options: KafkaMessageOptions) {
    this.contentType = Buffer.from(CONTENT_TYPES[options.encoding]);
    this.encodeValue = createRecordEncoder(options.encoding, { productVersion: options.productVersion });
  }

  encode(record: FlowRecord): KafkaMessage {
    const type = record.type ?? 0;
    const typeHeader = this.typeHeader(type);
    const nodeName = record.nodeName ?? '';
    if (nodeName !== this.nodeName) {
      this.nodeName = nodeName;
      this.node = { value: Buffer.from(nodeName), entry: headerEntries([['node', nodeName]]) };
    }
    // The conversation id is direction- and side-independent, so both
    // directions hash to one partition and stay ordered relative to each other.
    const key = record.conversationId || record.id || '';
    const id = record.id ?? '';
    const value = this.encodeValue(record);
    const slab = this.slab;
    slab.begin(sizeBound(key) + sizeBound(value) + typeHeader.entries.length + sizeBound(id) + this.node.entry.length);
    if (kafkaRecordsPreEncoded) {
      const hash = slab.hashedField(key);
      slab.bytes(value);
      this.writeHeaders(typeHeader, id);
      return { topic: this.topicOf(type), key: null, value: null, [ENCODED_TAIL]: slab.end(), [KEY_HASH]: hash };
    }
    const keyBytes = slab.field(key);
    const valueBytes = slab.field(value);
    this.writeHeaders(typeHeader, id);
    return {
      topic: this.topicOf(type),
      key: keyBytes,
      value: valueBytes,
      headers: {
        'content-type': this.contentType,
        'schema-version': this.schemaVersion,
        'record-type': typeHeader.value,
        'record-id': id,
        node: this.node.value,
      },
      [ENCODED_TAIL]: slab.end(),
      [KEY_HASH]: murmur2(keyBytes),
    };
  }

  private writeHeaders(typeHeader: { entries: Buffer }, id: string): void {
    this.slab.raw(typeHeader.entries);
    this.slab.bytes(id);
    this.slab.raw(this.node.entry);
  }

  /**
   * The header count and the entries before the record id (content type,
   * schema version, record type), then the record id's key: one copy per message.
   */
  private typeHeader(type: number): { value: Buffer; entries: Buffer } {
    let header = this.typeHeaders.get(type);
    if (header === undefined) {
      const name = TYPE_NAMES[type] ?? String(type);
      const entries = headerEntries([
        ['content-type', CONTENT_TYPES[this.options.encoding]], ['schema-version', SCHEMA_VERSION], ['record-type', name], ['record-id', ''],
      ], 5); // these four and node, after the id
      // Without the empty record id's one-byte length: the id follows.
      header = { value: Buffer.from(name), entries: entries.subarray(0, -1) };
      this.typeHeaders.set(type, header);
    }
    return header;
  }

  /** Every topic this encoder can name: the topic, or one per record type. */
  allTopics(): string[] {
    if (!this.options.topicPerRecordType) return [this.options.topic];
    return Object.values(podflow.v1.RecordType).filter((type): type is number => typeof type === 'number' && type > 0).map((type) => this.topicOf(type));
  }

  private topicOf(type: number): string {
    if (!this.options.topicPerRecordType) return this.options.topic;
    let topic = this.topics.get(type);
    if (topic === undefined) {
      topic = `${this.options.topic}.${(TYPE_NAMES[type] ?? String(type)).toLowerCase()}`;
      this.topics.set(type, topic);
    }
    return topic;
  }
}
