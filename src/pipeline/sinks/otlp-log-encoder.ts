// Encodes FlowRecords straight into an OTLP ExportLogsServiceRequest
// (opentelemetry/proto/collector/logs/v1), one log record per FlowRecord.
//
// Why not the SDK's LoggerProvider: per record it builds a LogRecordImpl,
// validates every attribute value (a recursive walk with a WeakSet), copies the
// attributes into a new object, and its serializer walks everything twice (a
// size estimate, then the bytes); at 100k records/s that was most of the
// sink's CPU. Here each record is written once, as it is accepted, into the
// batch's buffer: attributes go from the record to protobuf without an
// intermediate object (writeLogAttributes), the Resource and the scope are
// encoded once, the attributes of a frozen Pod the enricher shares between
// records are encoded once per side and copied after that (keyed by object
// identity, as src/proto/protobuf-encoder.ts does for FlowRecord), and batch
// buffers are reused. The SDK still sends the bytes (otlp-log-exporter.ts).
//
// The bytes are those the SDK's ProtobufLogsSerializer writes for the same
// log records emitted through LoggerProvider (test/unit/otlp-log-encoder.test.ts
// compares them byte for byte): same field order, minimal varint lengths,
// dropped_attributes_count always written, the SDK's default limit of 128
// attributes per record (the rest counted in dropped_attributes_count), numbers
// as int_value when integral and double_value otherwise, HrTime to nanoseconds
// with the SDK's arithmetic.
import type { FlowRecord } from '../types.js';
import { ProtoWriter, varintSize } from '../../proto/proto-writer.js';
import type { podflow } from '../../proto/gen/flow.js';
import {
  eventNameOf, severityOf, toNumber, writeLogAttributes, writePodAttributes, type EndpointSide, type LogAttributeSink, type LogAttributeValue,
} from './otlp-attributes.js';

/** One ExportLogsServiceRequest ready for the transport. */
export interface EncodedLogBatch {
  bytes: Uint8Array;
  /** Log records in it. */
  count: number;
  /** The LOSS records among them, kept by the sink for another export should this one fail. */
  loss?: FlowRecord[];
}

/** A pod's attributes on one side of a record, encoded once. */
interface PodAttributes {
  bytes: Uint8Array;
  count: number;
}

/** The enricher shares one frozen Pod object per pod between records (src/enrich/model.ts). */
function frozen(pod: podflow.v1.IPod): boolean {
  return Object.isFrozen(pod) && (pod.labels == null || Object.isFrozen(pod.labels)) && (pod.workload == null || Object.isFrozen(pod.workload));
}

/** The SDK's default LogRecordLimits.attributeCountLimit. */
const ATTRIBUTE_COUNT_LIMIT = 128;
const INITIAL_BUFFER = 1024 * 1024;
/** Batch buffers kept for reuse (a few exports are in flight at once). */
const POOLED_BUFFERS = 4;
/**
 * Attribute keys kept encoded (KeyValue.key with its tag and length). The keys
 * are podflow's fixed names plus pod label keys; past this many, new keys are
 * encoded each time rather than kept.
 */
const ENCODED_KEYS = 4096;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;


export class OtlpLogEncoder extends ProtoWriter implements LogAttributeSink {
  private records = 0;
  private attributeCount = 0;
  private droppedAttributes = 0;
  private readonly free: Buffer[] = [];
  /** Encoded attributes of frozen pods, per side, keyed by object identity. */
  private readonly pods = new WeakMap<object, Partial<Record<EndpointSide, PodAttributes>>>();
  /** KeyValue.key fields by key, copied rather than encoded again char by char for each record (about 5% of add()). */
  private readonly keys = new Map<string, Uint8Array>();
  /** ResourceLogs.resource and ScopeLogs.scope, tag and length included. */
  private readonly resourceField: Uint8Array;
  private readonly scopeField: Uint8Array;
  /** Bytes before the first log record: room for the request's header, written at take(). */
  private readonly headerRoom: number;
  /** toNanos() result. */
  private lo = 0;
  private hi = 0;
  // Observed time of the current write() call, as fixed64 halves.
  private observedMs = NaN;
  private observedLo = 0;
  private observedHi = 0;

  constructor(resource: Readonly<Record<string, string>>, scope: { name: string; version: string }) {
    super(INITIAL_BUFFER);
    let at = this.field(0x0a); // ResourceLogs.resource
    for (const [key, value] of Object.entries(resource)) this.keyValue(0x0a, key, value);
    this.byte(0x10); // dropped_attributes_count, always written by the SDK
    this.byte(0);
    this.closeLength(at);
    this.resourceField = Uint8Array.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    at = this.field(0x0a); // ScopeLogs.scope
    this.stringField(0x0a, scope.name); // InstrumentationScope.name
    if (scope.version) {
      this.stringField(0x12, scope.version); // InstrumentationScope.version
    }
    this.closeLength(at);
    this.scopeField = Uint8Array.from(this.buf.subarray(0, this.pos));
    this.headerRoom = 2 * (1 + 5) + this.resourceField.length + this.scopeField.length;
    this.pos = this.headerRoom;
  }

  /** Log records added since the last take(). */
  get count(): number {
    return this.records;
  }

  /** Encoded bytes added since the last take(). */
  get size(): number {
    return this.pos - this.headerRoom;
  }

  /**
   * Appends one log record: the FlowRecord's time (else nowMs), severity by
   * type, the body, its attributes, observed time nowMs, event name.
   */
  add(r: FlowRecord, body: string | undefined, nowMs: number): void {
    const at = this.field(0x12); // ScopeLogs.log_records
    const t = r.time;
    this.byte(0x09); // time_unix_nano, fixed64
    if (t) this.toNanos(toNumber(t.seconds), t.nanos ?? 0);
    else this.millisToNanos(nowMs);
    this.fixed64(this.lo, this.hi);
    const severity = severityOf(r);
    this.byte(0x10); // severity_number
    this.varint32(severity.number);
    this.stringField(0x1a, severity.text); // severity_text
    if (body !== undefined) {
      const b = this.field(0x2a); // body: AnyValue
      this.stringField(0x0a, body); // string_value
      this.closeLength(b);
    }
    this.attributeCount = 0;
    this.droppedAttributes = 0;
    writeLogAttributes(r, this); // attributes, field 6
    this.byte(0x38); // dropped_attributes_count
    this.varint32(this.droppedAttributes);
    this.byte(0x59); // observed_time_unix_nano, fixed64
    if (nowMs !== this.observedMs) {
      this.observedMs = nowMs;
      this.millisToNanos(nowMs);
      this.observedLo = this.lo;
      this.observedHi = this.hi;
    }
    this.fixed64(this.observedLo, this.observedHi);
    this.stringField(0x62, eventNameOf(r)); // event_name
    this.closeLength(at);
    this.records++;
  }

  /** LogRecord.attributes (field 6), up to the SDK's count limit. */
  attribute(key: string, value: LogAttributeValue): void {
    if (this.attributeCount >= ATTRIBUTE_COUNT_LIMIT) {
      this.droppedAttributes++;
      return;
    }
    this.attributeCount++;
    this.keyValue(0x32, key, value);
  }

  /** An endpoint's pod attributes: copied when this frozen pod was seen on this side before. */
  pod(side: EndpointSide, pod: podflow.v1.IPod): void {
    const cached = this.pods.get(pod)?.[side];
    if (cached !== undefined && this.attributeCount + cached.count <= ATTRIBUTE_COUNT_LIMIT) {
      this.bytes(cached.bytes);
      this.attributeCount += cached.count;
      return;
    }
    const from = this.pos;
    const count = this.attributeCount;
    const dropped = this.droppedAttributes;
    writePodAttributes(this, side, pod);
    // Cached only whole: a block cut by the attribute limit depends on the record.
    if (cached === undefined && this.droppedAttributes === dropped && frozen(pod)) {
      const entry = this.pods.get(pod) ?? {};
      entry[side] = { bytes: Uint8Array.from(this.buf.subarray(from, this.pos)), count: this.attributeCount - count };
      this.pods.set(pod, entry);
    }
  }

  /**
   * The request holding every record added since the last call (undefined if
   * none). Its bytes stay valid until release(); the next records go to another buffer.
   */
  take(): EncodedLogBatch | undefined {
    if (this.records === 0) return undefined;
    const records = this.pos - this.headerRoom;
    const scopeLogs = this.scopeField.length + records;
    const resourceLogs = this.resourceField.length + 1 + varintSize(scopeLogs) + scopeLogs;
    // The header ends where the first record starts.
    const start = this.headerRoom - (1 + varintSize(resourceLogs) + this.resourceField.length + 1 + varintSize(scopeLogs) + this.scopeField.length);
    const end = this.pos;
    this.pos = start;
    this.byte(0x0a); // ExportLogsServiceRequest.resource_logs
    this.varint32(resourceLogs);
    this.bytes(this.resourceField);
    this.byte(0x12); // ResourceLogs.scope_logs
    this.varint32(scopeLogs);
    this.bytes(this.scopeField);
    const batch = { bytes: this.buf.subarray(start, end), count: this.records };
    this.use(this.free.pop() ?? Buffer.allocUnsafeSlow(Math.max(INITIAL_BUFFER, this.buf.length)));
    this.pos = this.headerRoom;
    this.records = 0;
    return batch;
  }

  /** Takes a batch's buffer back once the transport is done with it. */
  release(batch: EncodedLogBatch): void {
    const buffer = batch.bytes as Buffer;
    if (this.free.length < POOLED_BUFFERS && buffer.buffer.byteLength >= INITIAL_BUFFER) {
      this.free.push(Buffer.from(buffer.buffer, 0, buffer.buffer.byteLength));
    }
  }

  // ---- protobuf writing (the SDK's ProtobufWriter semantics) ----

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  private fixed64(lo: number, hi: number): void {
    this.room(8);
    this.buf.writeUInt32LE(lo >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  /**
   * [seconds, nanos] (HrTime) as the halves of uint64 nanoseconds in lo and
   * hi, computed as the SDK's writeHrTimeAsFixed64 does: seconds split at
   * bit 16 so that every product stays an exact double.
   */
  private toNanos(seconds: number, nanos: number): void {
    const fromLow = (seconds & 0xffff) * 1e9;
    const fromHigh = ((seconds / 0x10000) >>> 0) * 1e9;
    const low = (fromLow >>> 0) + (((fromHigh & 0xffff) * 0x10000) >>> 0) + nanos;
    this.lo = low >>> 0;
    this.hi = (Math.floor(fromLow / 0x100000000) + ((fromHigh / 0x10000) >>> 0) + Math.floor(low / 0x100000000)) >>> 0;
  }

  /** Epoch milliseconds, through the SDK's millisToHrTime. */
  private millisToNanos(ms: number): void {
    this.toNanos(Math.trunc(ms / 1000), Math.round((ms % 1000) * 1e6));
  }

  private keyValue(tag: number, key: string, value: LogAttributeValue): void {
    const at = this.field(tag);
    const encoded = this.keys.get(key);
    if (encoded !== undefined) {
      this.bytes(encoded);
    } else {
      const from = this.pos;
      this.stringField(0x0a, key); // KeyValue.key
      if (this.keys.size < ENCODED_KEYS) this.keys.set(key, Uint8Array.from(this.buf.subarray(from, this.pos)));
    }
    const v = this.field(0x12); // KeyValue.value
    this.anyValue(value);
    this.closeLength(v);
    this.closeLength(at);
  }

  private anyValue(value: LogAttributeValue): void {
    if (typeof value === 'string') {
      this.stringField(0x0a, value); // string_value
    } else if (typeof value === 'number') {
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        this.byte(0x18); // int_value
        this.number64(value);
      } else {
        this.byte(0x21); // double_value
        this.room(8);
        this.buf.writeDoubleLE(value, this.pos);
        this.pos += 8;
      }
    } else if (typeof value === 'boolean') {
      this.byte(0x10); // bool_value
      this.byte(value ? 1 : 0);
    } else {
      const at = this.field(0x2a); // array_value
      for (const item of value) {
        const i = this.field(0x0a); // ArrayValue.values
        this.anyValue(item);
        this.closeLength(i);
      }
      this.closeLength(at);
    }
  }
}
