// The one place a record format name becomes an encoder, for every sink that
// encodes records (stdout, file, Kafka, the observe socket): text formats
// give a line without its newline, protobuf gives the message bytes.
import type { FlowRecord } from '../pipeline/types.js';
import { formatHuman } from './human.js';
import { encodeCanonicalJson } from './json.js';
import { OcsfEncoder } from './ocsf.js';
import { ProtobufEncoder } from './protobuf-encoder.js';

export const LINE_FORMATS = ['human', 'json', 'ocsf'] as const;
export type LineFormat = (typeof LINE_FORMATS)[number];
export const RECORD_FORMATS = [...LINE_FORMATS, 'protobuf'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

/** One record to one line of text, without the newline. */
export type LineEncoder = (record: FlowRecord) => string;
/** One record to its protobuf bytes: a view that stays valid (see ProtobufEncoder.encode). */
export type BytesEncoder = (record: FlowRecord) => Uint8Array;

export interface RecordEncoderOptions {
  /** OCSF metadata.product.version. */
  productVersion: string;
  /** Protobuf only: a varint length before each message (writeDelimitedTo framing). */
  delimited?: boolean;
}

export function createRecordEncoder(format: LineFormat, options: RecordEncoderOptions): LineEncoder;
export function createRecordEncoder(format: 'protobuf', options: RecordEncoderOptions): BytesEncoder;
export function createRecordEncoder(format: RecordFormat, options: RecordEncoderOptions): LineEncoder | BytesEncoder;
export function createRecordEncoder(format: RecordFormat, options: RecordEncoderOptions): LineEncoder | BytesEncoder {
  switch (format) {
    case 'human':
      return formatHuman;
    case 'json':
      return encodeCanonicalJson;
    case 'ocsf': {
      const ocsf = new OcsfEncoder({ productVersion: options.productVersion });
      return (record) => ocsf.encode(record);
    }
    case 'protobuf': {
      // One encoder per call: it is not reentrant, and each sink gets its own.
      const protobuf = new ProtobufEncoder();
      return options.delimited ? (record) => protobuf.encodeDelimited(record) : (record) => protobuf.encode(record);
    }
    default:
      throw new Error(`unknown record format "${String(format)}": expected one of ${RECORD_FORMATS.join(', ')}`);
  }
}
