// One FlowRecord as one Kafka message: the value in the configured encoding,
// the key that keeps a conversation on one partition, and headers that let a
// consumer route and decode without looking inside the value.
import { podflow } from '../../proto/gen/flow.js';
import { ProtobufEncoder } from '../../proto/protobuf.js';
import { encodeCanonicalJson } from '../../proto/json.js';
import { OcsfEncoder, OCSF_SCHEMA_VERSION } from '../../proto/ocsf.js';
import type { FlowRecord } from '../types.js';

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
  key: Buffer;
  value: Buffer;
  /** Constant values are shared Buffers; the record id is written as it is. */
  headers: Record<string, Buffer | string>;
}

export interface KafkaMessageOptions {
  encoding: KafkaEncoding;
  topic: string;
  /** `<topic>.<type>` per record type, e.g. podflow.flows.tcp_close. */
  topicPerRecordType: boolean;
  productVersion: string;
}

const TYPE_NAMES = podflow.v1.RecordType as unknown as Record<number, string>;
const SCHEMA_VERSION_BYTES = Buffer.from(SCHEMA_VERSION);

export class KafkaMessageEncoder {
  private readonly encodeValue: (record: FlowRecord) => Buffer;
  private readonly contentType: Buffer;
  private readonly topics = new Map<number, string>();
  // Header values that repeat are encoded once and shared by every message.
  private readonly typeNames = new Map<number, Buffer>();
  private nodeName = '';
  private node = Buffer.alloc(0);

  constructor(private readonly options: KafkaMessageOptions) {
    this.contentType = Buffer.from(CONTENT_TYPES[options.encoding]);
    this.encodeValue = valueEncoder(options);
  }

  encode(record: FlowRecord): KafkaMessage {
    const type = record.type ?? 0;
    const nodeName = record.nodeName ?? '';
    if (nodeName !== this.nodeName) {
      this.nodeName = nodeName;
      this.node = Buffer.from(nodeName);
    }
    return {
      topic: this.topicOf(type),
      // The conversation id is direction- and side-independent, so both
      // directions hash to one partition and stay ordered relative to each other.
      key: Buffer.from(record.conversationId || record.id || ''),
      value: this.encodeValue(record),
      headers: {
        'content-type': this.contentType,
        'schema-version': SCHEMA_VERSION_BYTES,
        'record-type': this.typeName(type),
        'record-id': record.id ?? '',
        node: this.node,
      },
    };
  }

  private typeName(type: number): Buffer {
    let name = this.typeNames.get(type);
    if (name === undefined) {
      name = Buffer.from(TYPE_NAMES[type] ?? String(type));
      this.typeNames.set(type, name);
    }
    return name;
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

function valueEncoder(options: KafkaMessageOptions): (record: FlowRecord) => Buffer {
  switch (options.encoding) {
    case 'protobuf': {
      const protobuf = new ProtobufEncoder();
      return (record) => {
        const bytes = protobuf.encode(record);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      };
    }
    case 'json':
      return (record) => Buffer.from(encodeCanonicalJson(record));
    case 'ocsf': {
      const ocsf = new OcsfEncoder({ productVersion: options.productVersion });
      return (record) => Buffer.from(ocsf.encode(record));
    }
    default:
      throw new Error(`unknown Kafka encoding "${String(options.encoding)}": expected one of ${KAFKA_ENCODINGS.join(', ')}`);
  }
}
