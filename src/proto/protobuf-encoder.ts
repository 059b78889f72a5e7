// The protobuf encoder specialised for podflow.v1.FlowRecord: the hot path of
// every protobuf sink. It writes the same bytes as the generated protobufjs
// code (test/unit/encode-protobuf.test.ts compares the two for every field of
// the schema, found by walking its reflection, and for random records), with
// less work per record:
// - field tags are constants and fields are written straight into one Buffer
//   (no Writer calls, no fork/ldelim state, no LongBits objects);
// - a sub-message reserves one length byte and is moved up in the rare case its
//   body reaches 128 bytes;
// - deep-frozen sub-messages shared between records (the enricher's Pod and
//   Service, the decoders' Observation) are encoded once and copied after
//   that, keyed by object identity;
// - records are laid out one after another in 64 KiB slabs and returned as
//   views of them, so a record costs one small view object and no copy.
// Field numbers are written by hand below, as in the generated code; the
// reflection test fails when a field of the schema is missing here. Unknown
// fields kept by protobufjs' decoder ($unknowns) are not written: records come
// from the probes, not from decoding.
import protobuf from 'protobufjs/minimal.js';
import type { podflow } from './gen/flow.js';
import type { FlowRecord } from '../pipeline/types.js';
import { ProtoWriter } from './proto-writer.js';
import { Chunk, ChunkCache } from './slab-writer.js';

type Int64 = number | protobuf.Long | string | null | undefined;
type Timestamp = { seconds?: Int64; nanos?: number | null };

const SLAB = 64 * 1024;
/** A record starts in a new slab when less than this is left (records rarely exceed it). */
const MIN_FREE = 4 * 1024;

export class ProtobufEncoder extends ProtoWriter {
  // Encoded field bytes (tag, length, body) of deep-frozen shared objects, one cache per field.
  private readonly pods = new ChunkCache();
  private readonly services = new ChunkCache();
  private readonly observations = new ChunkCache();
  /**
   * The nodeName field of the last record, as text and as encoded bytes: every
   * record of an agent names its node (40 characters and more for a cloud
   * node's name, one utf8Write call per record otherwise), copied as words
   * while the text stays the same.
   */
  private nodeNameText: string | undefined;
  private nodeNameBytes: Chunk | undefined;

  constructor() {
    super(SLAB);
  }

  /**
   * The message bytes: a view of this encoder's current slab that later calls
   * never overwrite (holding a view keeps its 64 KiB slab alive). Not
   * reentrant: one encoder per sink.
   */
  encode(record: FlowRecord): Buffer {
    this.begin();
    this.flowRecord(record);
    return this.finish();
  }

  /** Varint length, then the message (writeDelimitedTo framing). */
  encodeDelimited(record: FlowRecord): Buffer {
    this.begin();
    const at = this.openLength();
    this.flowRecord(record);
    this.closeLength(at);
    return this.finish();
  }

  private begin(): void {
    if (this.buf.length - this.pos < MIN_FREE) {
      this.replace(SLAB);
    }
    this.start = this.pos;
  }

  private finish(): Buffer {
    const out = this.view(this.start, this.pos);
    this.start = this.pos;
    return out;
  }

  // ---- wire primitives (protobufjs' Writer semantics, byte for byte) ----
  // Each field writer checks room once and writes its tag itself: helper calls
  // nested in helpers stop being inlined in a function as large as flowRecord.
  // Tags of scalar fields are one byte (fields 1 to 15: all of them today; the
  // reflection test fails for a scalar field whose tag would need two).

  private uint32(tag: number, v: number | null | undefined): void {
    if (v == null || v === 0) return;
    this.room(6);
    this.buf[this.pos] = tag;
    this.pos = ProtoWriter.varint32At(this.buf, this.pos + 1, v >>> 0);
  }

  /** int32 and enums: negative values take ten bytes. */
  private int32(tag: number, v: number | null | undefined): void {
    if (v == null || v === 0) return;
    v |= 0;
    if (v < 0) {
      this.varint32(tag);
      this.number64(v);
      return;
    }
    this.room(6);
    this.buf[this.pos] = tag;
    this.pos = ProtoWriter.varint32At(this.buf, this.pos + 1, v);
  }

  /** uint64 and int64 (the same on the wire); numbers without allocating. */
  private int64(tag: number, v: Int64): void {
    if (v == null) return;
    if (typeof v === 'number') {
      if (v === 0) return;
      if (v > 0 && v < 4294967296) return this.uint32(tag, v);
      this.varint32(tag);
      this.number64(v);
      return;
    }
    if (typeof v === 'object' && !(v.low || v.high)) return;
    const bits = protobuf.util.LongBits.from(v);
    this.varint32(tag);
    this.varint64(bits.lo, bits.hi);
  }

  private bool(tag: number, v: boolean | null | undefined): void {
    if (v == null || v === false) return;
    this.room(2);
    this.buf[this.pos++] = tag;
    this.buf[this.pos++] = v ? 1 : 0;
  }

  private string(tag: number, v: string | null | undefined): void {
    if (v == null || v === '') return;
    this.stringField(tag, v);
  }

  // ---- messages (field numbers from proto/podflow/v1/flow.proto) ----

  private flowRecord(r: FlowRecord): void {
    this.string(10, r.id); // 1
    if (r.time != null) this.timestamp(18, r.time); // 2
    if (r.startTime != null) this.timestamp(26, r.startTime); // 3
    this.string(34, r.conversationId); // 4
    this.int32(40, r.type); // 5
    this.nodeName(r.nodeName); // 6
    if (r.source != null) this.endpoint(58, r.source); // 7
    if (r.destination != null) this.endpoint(66, r.destination); // 8
    const t = r.transport; // 9 (a cache would cost more than these few bytes)
    if (t != null) {
      const at = this.field(74);
      this.int32(8, t.protocol);
      this.uint32(16, t.ipVersion);
      this.closeLength(at);
    }
    const i = r.interface; // 10
    if (i != null) {
      const at = this.field(82);
      this.string(10, i.name);
      this.uint32(16, i.index);
      this.closeLength(at);
    }
    this.int32(88, r.direction); // 11
    const tr = r.traffic; // 12
    if (tr != null) {
      const at = this.field(98);
      this.int64(8, tr.bytes);
      this.int64(16, tr.packets);
      this.int64(24, tr.bytesReceived);
      this.int64(32, tr.packetsReceived);
      this.closeLength(at);
    }
    if (r.tcp != null) this.tcp(r.tcp); // 13
    const p = r.process; // 14
    if (p != null) {
      const at = this.field(114);
      this.uint32(8, p.pid);
      this.string(18, p.command);
      this.int64(24, p.cgroupId);
      this.string(34, p.containerId);
      this.closeLength(at);
    }
    const d = r.drop; // 15
    if (d != null) {
      const at = this.field(122);
      this.string(10, d.reason);
      this.uint32(16, d.code);
      this.int64(24, d.count);
      this.closeLength(at);
    }
    if (r.dns != null) this.dns(r.dns); // 16
    if (r.http != null) this.http(r.http); // 17
    const l = r.loss; // 18
    if (l != null) {
      const at = this.field(146);
      this.string(10, l.stage);
      this.string(18, l.reason);
      this.int64(24, l.count);
      this.closeLength(at);
    }
    if (r.observation != null) this.shared(this.observations, 154, r.observation, this.observation); // 19
    if (r.originalDestination != null) this.endpoint(162, r.originalDestination); // 20
  }

  private nodeName(v: string | null | undefined): void {
    if (v == null || v === '') return;
    if (v === this.nodeNameText && this.nodeNameBytes !== undefined) {
      this.chunk(this.nodeNameBytes);
      return;
    }
    const from = this.pos;
    this.stringField(50, v);
    this.nodeNameText = v;
    this.nodeNameBytes = new Chunk(this.buf.subarray(from, this.pos));
  }

  private observation(o: podflow.v1.IObservation): void {
    this.string(10, o.probe);
    this.string(18, o.hook);
    this.int32(24, o.side);
  }

  private timestamp(tag: number, t: Timestamp): void {
    const at = this.field(tag);
    this.int64(8, t.seconds);
    this.int32(16, t.nanos);
    this.closeLength(at);
  }

  private endpoint(tag: number, e: podflow.v1.IEndpoint): void {
    const at = this.field(tag);
    this.string(10, e.ip); // 1
    this.uint32(16, e.port); // 2
    if (e.pod != null) this.shared(this.pods, 26, e.pod, this.pod); // 3
    if (e.service != null) this.shared(this.services, 34, e.service, this.service); // 4
    this.string(42, e.node); // 5
    this.bool(48, e.hostNetwork); // 6
    this.string(58, e.network); // 7
    this.closeLength(at);
  }

  /** A sub-message field whose deep-frozen value is encoded once per object. */
  private shared<T extends object>(cache: ChunkCache, tag: number, value: T, body: (value: T) => void): void {
    if (this.copyCached(cache, value)) return;
    const from = this.pos;
    const at = this.field(tag);
    body.call(this, value);
    this.closeLength(at);
    this.remember(cache, value, from);
  }

  private pod(p: podflow.v1.IPod): void {
    this.string(10, p.name); // 1
    this.string(18, p.namespace); // 2
    this.string(26, p.uid); // 3
    const labels = p.labels; // 4: map<string, string>, entries written in key order of the object
    if (labels != null) {
      for (const key of Object.keys(labels)) {
        const at = this.field(34);
        this.stringField(10, key);
        this.stringField(18, labels[key]);
        this.closeLength(at);
      }
    }
    const w = p.workload; // 5
    if (w != null) {
      const at = this.field(42);
      this.string(10, w.kind);
      this.string(18, w.name);
      this.closeLength(at);
    }
    this.string(50, p.container); // 6
  }

  private service(s: podflow.v1.IService): void {
    this.string(10, s.name);
    this.string(18, s.namespace);
  }

  private tcp(t: podflow.v1.ITcp): void {
    const at = this.field(106);
    this.uint32(8, t.flags); // 1
    if (t.srtt != null) this.timestamp(18, t.srtt); // 2: Duration, same fields as Timestamp
    this.uint32(24, t.retransmits); // 3
    if (t.duration != null) this.timestamp(34, t.duration); // 4
    this.string(42, t.state); // 5
    this.string(50, t.failure); // 6
    this.closeLength(at);
  }

  private dns(d: podflow.v1.IDns): void {
    const at = this.field(130);
    this.uint32(8, d.id); // 1
    this.string(18, d.query); // 2
    this.string(26, d.qtype); // 3
    this.string(34, d.rcode); // 4
    const answers = d.answers; // 5: repeated, empty strings included
    if (answers != null) {
      for (let i = 0; i < answers.length; i++) {
        this.stringField(42, answers[i]);
      }
    }
    if (d.latency != null) this.timestamp(50, d.latency); // 6
    this.bool(56, d.truncated); // 7
    this.closeLength(at);
  }

  private http(h: podflow.v1.IHttp): void {
    const at = this.field(138);
    this.string(10, h.method); // 1
    this.string(18, h.path); // 2
    this.uint32(24, h.status); // 3
    if (h.latency != null) this.timestamp(34, h.latency); // 4
    this.string(42, h.host); // 5
    this.string(50, h.version); // 6
    this.string(58, h.noResponse); // 7
    this.closeLength(at);
  }
}
