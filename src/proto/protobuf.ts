// Protobuf wire format of FlowRecord: encoding through the specialised
// ProtobufEncoder (the hot path), decoding through the generated static code.
import protobuf from 'protobufjs/minimal.js';
import { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';

export { ProtobufEncoder } from './protobuf-encoder.js';

const FlowRecordCodec = podflow.v1.FlowRecord;

/**
 * Decodes one message into the plain-object form (64-bit integers as numbers,
 * enums as numbers); throws a protobufjs error naming the offset on malformed input.
 */
export function decodeFlowRecord(bytes: Uint8Array): FlowRecord {
  return FlowRecordCodec.toObject(FlowRecordCodec.decode(bytes), { longs: Number });
}

/** Decodes a concatenation of length-delimited messages (the file sink's protobuf format). */
export function decodeDelimitedFlowRecords(bytes: Uint8Array): FlowRecord[] {
  const reader = protobuf.Reader.create(bytes);
  const out: FlowRecord[] = [];
  while (reader.pos < reader.len) out.push(FlowRecordCodec.toObject(FlowRecordCodec.decode(reader, reader.uint32()), { longs: Number }));
  return out;
}
