// Protobuf wire encoding of FlowRecord through the generated static code.
import protobuf from 'protobufjs/minimal.js';
import { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';

const FlowRecordCodec = podflow.v1.FlowRecord;
const TWO_32 = 4294967296;

/** protobufjs 8's contiguous writer, whose buffer we append cached bytes to. */
interface ContiguousWriter {
  buf: Uint8Array;
  pos: number;
  _reserve(n: number): void;
}

function isContiguous(w: unknown): w is ContiguousWriter {
  return typeof (w as ContiguousWriter | undefined)?._reserve === 'function' && (w as ContiguousWriter).buf instanceof Uint8Array;
}

// The enricher attaches one frozen Pod object (labels and workload frozen too)
// per pod to every record of that pod (src/enrich/model.ts). Frozen means its
// bytes never change, so they are encoded once and appended after that: the
// labels map and workload are the costliest part of a record. Other pods take
// the generated path as before; the output is byte for byte the same either way.
function immutable(pod: podflow.v1.IPod): boolean {
  return Object.isFrozen(pod) && (!pod.labels || Object.isFrozen(pod.labels)) && (!pod.workload || Object.isFrozen(pod.workload));
}

const encodePodUncached = podflow.v1.Pod.encode.bind(podflow.v1.Pod);
const podBytes = new WeakMap<object, Uint8Array>();
podflow.v1.Pod.encode = function encodePod(message: podflow.v1.IPod, writer?: protobuf.Writer): protobuf.Writer {
  if (!writer || !isContiguous(writer) || !immutable(message)) return encodePodUncached(message, writer);
  let bytes = podBytes.get(message);
  if (!bytes) {
    bytes = encodePodUncached(message).finish();
    podBytes.set(message, bytes);
  }
  writer._reserve(bytes.length);
  writer.buf.set(bytes, writer.pos);
  writer.pos += bytes.length;
  return writer;
};

/**
 * 64-bit varints straight from a safe non-negative number: protobufjs makes
 * a LongBits object for each one (six per FLOW record). Negative or unsafe
 * values keep protobufjs' own path.
 */
function fastVarint64(writer: protobuf.Writer): void {
  const slow = writer.uint64.bind(writer);
  const fast = function (this: protobuf.Writer & ContiguousWriter, value: Parameters<protobuf.Writer['uint64']>[0]): protobuf.Writer {
    if (typeof value !== 'number' || !(value >= 0 && value <= Number.MAX_SAFE_INTEGER)) return slow(value);
    if (value < TWO_32) return this.uint32(value);
    this._reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    let v = value;
    while (v >= 128) {
      buf[pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    buf[pos++] = v;
    this.pos = pos;
    return this;
  };
  writer.uint64 = fast;
  writer.int64 = fast;
}

/**
 * Encodes records into protobuf bytes. One encoder keeps one growable Writer
 * buffer for its lifetime, so a record costs little more than its output
 * (a slice of protobufjs' buffer pool). Not reentrant: one encoder per sink.
 */
export class ProtobufEncoder {
  private readonly writer = protobuf.Writer.create();

  constructor() {
    if (isContiguous(this.writer)) fastVarint64(this.writer);
  }

  /** The message bytes, in a buffer of their own. */
  encode(record: FlowRecord): Uint8Array {
    return FlowRecordCodec.encode(record, this.cleared()).finish();
  }

  /** Varint length, then the message (the framing of writeDelimitedTo, and of the file sink). */
  encodeDelimited(record: FlowRecord): Uint8Array {
    return FlowRecordCodec.encode(record, this.cleared().fork()).ldelim().finish();
  }

  // A previous encode that threw may have left forks open.
  private cleared(): protobuf.Writer {
    const w = this.writer;
    if (w.states) w.states.length = 0; // emptied, not replaced: fork() would allocate a new one
    w.pos = 0;
    return w;
  }
}

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
