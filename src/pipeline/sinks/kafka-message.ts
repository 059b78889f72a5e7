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
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export interface KafkaMessageOptions {
  encoding: KafkaEncoding;
  topic: string;
  /** `<topic>.<type>` per record type, e.g. podflow.flows.tcp_close. */
  topicPerRecordType: boolean;
  productVersion: string;
}

const TYPE_NAMES = podflow.v1.RecordType as unknown as Record<number, string>;

export class KafkaMessageEncoder {
  private readonly encodeValue: (record: FlowRecord) => Buffer;
  private readonly contentType: string;
  private readonly topics = new Map<number, string>();

  constructor(private readonly options: KafkaMessageOptions) {
    this.contentType = CONTENT_TYPES[options.encoding];
    this.encodeValue = valueEncoder(options);
  }

  encode(record: FlowRecord): KafkaMessage {
    const type = record.type ?? 0;
    const typeName = TYPE_NAMES[type] ?? String(type);
    return {
      topic: this.topicOf(type, typeName),
      // The conversation id is direction- and side-independent, so both
      // directions hash to one partition and stay ordered relative to each other.
      key: record.conversationId || record.id || '',
      value: this.encodeValue(record),
      headers: {
        'content-type': this.contentType,
        'schema-version': SCHEMA_VERSION,
        'record-type': typeName,
        'record-id': record.id ?? '',
        node: record.nodeName ?? '',
      },
    };
  }

  private topicOf(type: number, typeName: string): string {
    if (!this.options.topicPerRecordType) return this.options.topic;
    let topic = this.topics.get(type);
    if (topic === undefined) {
      topic = `${this.options.topic}.${typeName.toLowerCase()}`;
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
