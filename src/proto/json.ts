// proto3 canonical JSON of FlowRecord (the mapping protoc and every official
// runtime implement): lowerCamelCase names, enums by name, 64-bit integers as
// strings, Timestamp as RFC 3339 ("Z", 0/3/6/9 fraction digits), Duration as
// "1.500s", fields at their default value omitted, fields in schema order.
//
// This is on the hot path of `podflow run -o json` and every JSON sink, so the
// text is written straight as UTF-8 bytes into one Buffer, in schema order,
// with no intermediate objects:
// - each field writes `,"name":value`; closing an object turns its first comma
//   into `{` (or writes `{}` when nothing was written);
// - strings are copied byte by byte while they are plain ASCII; the rare
//   string that needs escaping (control characters, `"`, `\`, lone surrogates)
//   or holds non-ASCII text goes through JSON.stringify, whose escaping is the
//   reference;
// - frozen metadata objects the enricher shares between records (Pod,
//   Service) are written once and their bytes copied after that, keyed by
//   object identity (as ProtobufEncoder does);
// - a batch of lines is laid out in one slab and returned as one view of it.
// Field names are written by hand below; test/unit/encode-json.test.ts walks
// the schema's reflection and fails when a field is missing or out of order.
// Values of the wrong type (a string in a number field) are written as
// JSON.stringify writes them, as a generic converter would.
import reflectRoot from './gen/flow.reflect.js';
import type { podflow } from './gen/flow.js';
import { SlabWriter } from './slab-writer.js';
import type { FlowRecord } from '../pipeline/types.js';

type Int64 = number | { low: number; high: number; unsigned?: boolean } | string | bigint | null | undefined;
type TimeLike = { seconds?: Int64; nanos?: number | null };
/** Enum value -> its name as a JSON string. */
type EnumNames = Readonly<Record<string, string>>;

const SLAB = 256 * 1024;
/** A record starts in a new slab when less than this is left (records rarely exceed it). */
const MIN_FREE = 16 * 1024;
/** The most a batch reserves per line up front (a longer line grows the slab). */
const MAX_LINE_ESTIMATE = 4096;
// RFC 3339 covers years 0001..9999; protoc rejects anything outside.
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;
const QUOTE = 0x22;

function enumNames(name: string): EnumNames {
  const names: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [id, value] of Object.entries(reflectRoot.lookupEnum(name).valuesById)) names[id] = JSON.stringify(value);
  return names;
}

const RECORD_TYPE = enumNames('podflow.v1.RecordType');
const PROTOCOL = enumNames('podflow.v1.Protocol');
const DIRECTION = enumNames('podflow.v1.Direction');
const SIDE = enumNames('podflow.v1.Side');

/** What the canonical mapping omits (for values of the declared type, and what a generic converter treats alike). */
function isDefault(value: unknown): boolean {
  return value === undefined || value === null || value === 0 || value === '' || value === false;
}

/** A 64-bit integer of any form protobufjs accepts, as a number. */
function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'low' in value && 'high' in value) {
    const long = value as { low: number; high: number; unsigned?: boolean };
    return (long.unsigned ? long.high >>> 0 : long.high) * 4294967296 + (long.low >>> 0);
  }
  return Number(value) || 0;
}

export class JsonEncoder extends SlabWriter {
  /** Bytes per line of the last batch: the room the next batch reserves up front. */
  private lineBytes = 1024;
  /** `"2025-11-30T12:00:01` of the last Timestamp's seconds: records of a batch mostly share them. */
  private dateSeconds = NaN;
  private date = '';
  // `,"pod":{...}` bytes of deep-frozen shared objects.
  private readonly pods = new WeakMap<object, Uint8Array>();
  private readonly services = new WeakMap<object, Uint8Array>();

  constructor() {
    super(SLAB);
  }

  /** One line of canonical JSON, without the newline. */
  encode(record: FlowRecord): string {
    this.begin(MIN_FREE);
    this.flowRecord(record);
    const line = this.buf.toString('utf8', this.start, this.pos);
    // The string is a copy: the room is reused by the next record.
    this.pos = this.start;
    return line;
  }

  /**
   * The first `count` records as JSON lines, each ending in "\n", in one
   * Buffer: a view of this encoder's slab that later calls never overwrite
   * (holding it keeps its slab alive). Not reentrant: one encoder per sink.
   */
  encodeLines(records: readonly FlowRecord[], count = records.length): Buffer {
    // Room for the whole batch up front: growing would copy it.
    this.begin(Math.max(MIN_FREE, Math.ceil(count * this.lineBytes * 1.25)));
    for (let i = 0; i < count; i++) {
      this.flowRecord(records[i]);
      this.room(1);
      this.buf[this.pos++] = 0x0a;
    }
    const out = this.buf.subarray(this.start, this.pos);
    // Bounded: one batch of huge records must not make the next reserve megabytes per line.
    if (count > 0) this.lineBytes = Math.min(MAX_LINE_ESTIMATE, out.length / count);
    this.start = this.pos;
    return out;
  }

  private begin(need: number): void {
    if (this.buf.length - this.pos < need) {
      this.replace(Math.max(SLAB, need));
    }
    this.start = this.pos;
  }

  // ---- text primitives ----

  /** ASCII text as is (keys, punctuation, enum names). */
  private raw(s: string): void {
    const n = s.length;
    this.room(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
  }

  /** Any value as JSON.stringify writes it: the slow path. */
  private json(v: unknown): void {
    const text = JSON.stringify(v);
    const len = Buffer.byteLength(text);
    this.room(len);
    this.pos += this.buf.write(text, this.pos, len);
  }

  /** A JSON string; plain ASCII is copied here, anything else is escaped by JSON.stringify. */
  private stringValue(v: string): void {
    const n = v.length;
    this.room(n + 2);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c < 0x20 || c >= 0x80 || c === QUOTE || c === 0x5c) return this.json(v);
      buf[pos++] = c;
    }
    buf[pos++] = QUOTE;
    this.pos = pos;
  }

  /** A non-negative integer below 2^53. */
  private digits(v: number): void {
    let len = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) len++;
    this.room(len);
    const buf = this.buf;
    let pos = this.pos + len;
    this.pos = pos;
    do {
      // % is exact for doubles; v / 10 rounded up near 2^53 would not be.
      const digit = v % 10;
      buf[--pos] = 48 + digit;
      v = (v - digit) / 10;
    } while (v > 0);
  }

  /** Exactly `width` digits of 0 <= v < 10^width. */
  private padded(v: number, width: number): void {
    this.room(width);
    const buf = this.buf;
    const end = this.pos + width;
    for (let pos = end - 1; pos >= this.pos; pos--) {
      const digit = v % 10;
      buf[pos] = 48 + digit;
      v = (v - digit) / 10;
    }
    this.pos = end;
  }

  private number(v: number): void {
    if (v >= 0 && Number.isSafeInteger(v)) this.digits(v);
    else this.raw(Number.isFinite(v) ? String(v) : 'null');
  }

  // ---- fields: each writes `,"name":value`, or nothing at its default ----

  private string(key: string, v: string | null | undefined): void {
    if (typeof v !== 'string') {
      if (isDefault(v)) return;
      this.raw(key);
      return this.json(v);
    }
    if (v === '') return;
    // Key and value in one pass: the commonest field of a record.
    const k = key.length;
    const n = v.length;
    this.room(k + n + 2);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < k; i++) buf[pos++] = key.charCodeAt(i);
    this.pos = pos;
    buf[pos++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c < 0x20 || c >= 0x80 || c === QUOTE || c === 0x5c) return this.json(v);
      buf[pos++] = c;
    }
    buf[pos++] = QUOTE;
    this.pos = pos;
  }

  /** A string inside a list or map, where the default is written (""). */
  private stringElement(v: unknown): void {
    if (typeof v === 'string') this.stringValue(v);
    else if (isDefault(v)) this.raw('""');
    else this.json(v);
  }

  /** uint32 and int32. */
  private uint(key: string, v: number | null | undefined): void {
    if (typeof v === 'number') {
      if (v === 0) return;
      this.raw(key);
      this.number(v);
    } else if (!isDefault(v)) {
      this.raw(key);
      this.json(v);
    }
  }

  /** uint64 and int64: a decimal string. */
  private int64(key: string, v: Int64): void {
    if (typeof v === 'number') {
      if (v === 0) return;
      this.raw(key);
      this.room(1);
      this.buf[this.pos++] = QUOTE;
      if (v > 0 && Number.isSafeInteger(v)) this.digits(v);
      else this.raw(String(v));
      this.room(1);
      this.buf[this.pos++] = QUOTE;
    } else if (!isDefault(v)) {
      const n = num(v);
      if (n === 0) return;
      this.raw(key);
      this.raw(`"${String(n)}"`);
    }
  }

  private enum(key: string, v: number | null | undefined, names: EnumNames): void {
    if (v == null || isDefault(v)) return;
    this.raw(key);
    const name = names[v];
    if (name !== undefined) this.raw(name);
    else if (typeof v === 'number') this.number(v);
    else this.json(v);
  }

  private bool(key: string, v: boolean | null | undefined): void {
    if (v === true) {
      this.raw(key);
      this.raw('true');
    } else if (!isDefault(v)) {
      this.raw(key);
      this.json(v);
    }
  }

  /** Writes the key of a sub-message; returns where its body starts. */
  private open(key: string): number {
    this.raw(key);
    return this.pos;
  }

  /** Ends an object whose fields start at `at`: its first comma becomes `{`. */
  private close(at: number): void {
    if (this.pos === at) return this.raw('{}');
    this.buf[at] = 0x7b;
    this.room(1);
    this.buf[this.pos++] = 0x7d;
  }

  // ---- messages, in schema order (proto/podflow/v1/flow.proto) ----

  private flowRecord(r: FlowRecord): void {
    const at = this.pos;
    this.string(',"id":', r.id);
    if (r.time != null) this.timestamp(',"time":', r.time);
    if (r.startTime != null) this.timestamp(',"startTime":', r.startTime);
    this.string(',"conversationId":', r.conversationId);
    this.enum(',"type":', r.type, RECORD_TYPE);
    this.string(',"nodeName":', r.nodeName);
    if (r.source != null) this.endpoint(',"source":', r.source);
    if (r.destination != null) this.endpoint(',"destination":', r.destination);
    const t = r.transport;
    if (t != null) {
      const body = this.open(',"transport":');
      this.enum(',"protocol":', t.protocol, PROTOCOL);
      this.uint(',"ipVersion":', t.ipVersion);
      this.close(body);
    }
    const i = r.interface;
    if (i != null) {
      const body = this.open(',"interface":');
      this.string(',"name":', i.name);
      this.uint(',"index":', i.index);
      this.close(body);
    }
    this.enum(',"direction":', r.direction, DIRECTION);
    const tr = r.traffic;
    if (tr != null) {
      const body = this.open(',"traffic":');
      this.int64(',"bytes":', tr.bytes);
      this.int64(',"packets":', tr.packets);
      this.int64(',"bytesReceived":', tr.bytesReceived);
      this.int64(',"packetsReceived":', tr.packetsReceived);
      this.close(body);
    }
    if (r.tcp != null) this.tcp(r.tcp);
    const p = r.process;
    if (p != null) {
      const body = this.open(',"process":');
      this.uint(',"pid":', p.pid);
      this.string(',"command":', p.command);
      this.int64(',"cgroupId":', p.cgroupId);
      this.string(',"containerId":', p.containerId);
      this.close(body);
    }
    const d = r.drop;
    if (d != null) {
      const body = this.open(',"drop":');
      this.string(',"reason":', d.reason);
      this.uint(',"code":', d.code);
      this.int64(',"count":', d.count);
      this.close(body);
    }
    if (r.dns != null) this.dns(r.dns);
    if (r.http != null) this.http(r.http);
    const l = r.loss;
    if (l != null) {
      const body = this.open(',"loss":');
      this.string(',"stage":', l.stage);
      this.string(',"reason":', l.reason);
      this.int64(',"count":', l.count);
      this.close(body);
    }
    const o = r.observation;
    if (o != null) {
      const body = this.open(',"observation":');
      this.string(',"probe":', o.probe);
      this.string(',"hook":', o.hook);
      this.enum(',"side":', o.side, SIDE);
      this.close(body);
    }
    if (r.originalDestination != null) this.endpoint(',"originalDestination":', r.originalDestination);
    this.close(at);
  }

  private endpoint(key: string, e: podflow.v1.IEndpoint): void {
    const at = this.open(key);
    this.string(',"ip":', e.ip);
    this.uint(',"port":', e.port);
    if (e.pod != null) this.shared(this.pods, ',"pod":', e.pod, this.pod);
    if (e.service != null) this.shared(this.services, ',"service":', e.service, this.service);
    this.string(',"node":', e.node);
    this.bool(',"hostNetwork":', e.hostNetwork);
    this.string(',"network":', e.network);
    this.close(at);
  }

  /** A sub-message field whose deep-frozen value is written once per object. */
  private shared<T extends object>(cache: WeakMap<object, Uint8Array>, key: string, value: T, body: (value: T) => void): void {
    if (this.copyCached(cache, value)) return;
    const from = this.pos;
    const at = this.open(key);
    body.call(this, value);
    this.close(at);
    this.remember(cache, value, from);
  }

  private pod(p: podflow.v1.IPod): void {
    this.string(',"name":', p.name);
    this.string(',"namespace":', p.namespace);
    this.string(',"uid":', p.uid);
    const labels = p.labels;
    if (labels != null) {
      // Map entries in the object's key order; values keep their default ("").
      const keys = Object.keys(labels);
      if (keys.length > 0) {
        const at = this.open(',"labels":');
        for (const key of keys) {
          this.raw(',');
          this.stringValue(key);
          this.raw(':');
          this.stringElement(labels[key]);
        }
        this.close(at);
      }
    }
    const w = p.workload;
    if (w != null) {
      const at = this.open(',"workload":');
      this.string(',"kind":', w.kind);
      this.string(',"name":', w.name);
      this.close(at);
    }
    this.string(',"container":', p.container);
  }

  private service(s: podflow.v1.IService): void {
    this.string(',"name":', s.name);
    this.string(',"namespace":', s.namespace);
  }

  private tcp(t: podflow.v1.ITcp): void {
    const at = this.open(',"tcp":');
    this.uint(',"flags":', t.flags);
    if (t.srtt != null) this.duration(',"srtt":', t.srtt);
    this.uint(',"retransmits":', t.retransmits);
    if (t.duration != null) this.duration(',"duration":', t.duration);
    this.string(',"state":', t.state);
    this.string(',"failure":', t.failure);
    this.close(at);
  }

  private dns(d: podflow.v1.IDns): void {
    const at = this.open(',"dns":');
    this.uint(',"id":', d.id);
    this.string(',"query":', d.query);
    this.string(',"qtype":', d.qtype);
    this.string(',"rcode":', d.rcode);
    const answers = d.answers;
    if (Array.isArray(answers) && answers.length > 0) {
      this.raw(',"answers":[');
      for (let i = 0; i < answers.length; i++) {
        if (i > 0) this.raw(',');
        this.stringElement(answers[i]);
      }
      this.raw(']');
    }
    if (d.latency != null) this.duration(',"latency":', d.latency);
    this.bool(',"truncated":', d.truncated);
    this.close(at);
  }

  private http(h: podflow.v1.IHttp): void {
    const at = this.open(',"http":');
    this.string(',"method":', h.method);
    this.string(',"path":', h.path);
    this.uint(',"status":', h.status);
    if (h.latency != null) this.duration(',"latency":', h.latency);
    this.string(',"host":', h.host);
    this.string(',"version":', h.version);
    this.close(at);
  }

  // ---- well-known types ----

  /** "2025-11-30T12:00:01.123Z": seconds clamped to years 0001..9999 (NaN reads as 0). */
  private timestamp(key: string, t: TimeLike): void {
    this.raw(key);
    const s = Math.min(MAX_SECONDS, Math.max(MIN_SECONDS, Math.trunc(num(t.seconds ?? 0)) || 0));
    const nanos = Math.min(999999999, Math.max(0, Math.trunc(num(t.nanos ?? 0)) || 0));
    if (s === this.dateSeconds) this.raw(this.date);
    else this.dateTime(s);
    this.fraction(nanos);
    this.raw('Z"');
  }

  /** `"YYYY-MM-DDTHH:MM:SS` of seconds since the epoch, kept for the next Timestamp. */
  private dateTime(s: number): void {
    const days = Math.floor(s / 86400);
    const secondOfDay = s - days * 86400;
    // Civil date from days since 1970-01-01 (H. Hinnant's civil_from_days).
    const z = days + 719468;
    const era = Math.floor(z / 146097);
    const doe = z - era * 146097;
    const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    const from = this.pos;
    this.raw('"');
    this.padded(year, 4);
    this.raw('-');
    this.padded(month, 2);
    this.raw('-');
    this.padded(day, 2);
    this.raw('T');
    this.padded(Math.floor(secondOfDay / 3600), 2);
    this.raw(':');
    this.padded(Math.floor(secondOfDay / 60) % 60, 2);
    this.raw(':');
    this.padded(secondOfDay % 60, 2);
    this.dateSeconds = s;
    this.date = this.buf.toString('latin1', from, this.pos);
  }

  /** "1.500s", "-0.000001s" (NaN reads as 0). */
  private duration(key: string, t: TimeLike): void {
    this.raw(key);
    const s = Math.trunc(num(t.seconds ?? 0)) || 0;
    const n = Math.trunc(num(t.nanos ?? 0)) || 0;
    this.raw(s < 0 || n < 0 ? '"-' : '"');
    const abs = Math.abs(s);
    if (Number.isSafeInteger(abs)) this.digits(abs);
    else this.raw(String(abs));
    this.fraction(Math.min(999999999, Math.abs(n)));
    this.raw('s"');
  }

  /** Fraction digits the way the canonical mapping writes them: none, 3, 6 or 9. */
  private fraction(nanos: number): void {
    if (nanos === 0) return;
    this.raw('.');
    if (nanos % 1000000 === 0) this.padded(nanos / 1000000, 3);
    else if (nanos % 1000 === 0) this.padded(nanos / 1000, 6);
    else this.padded(nanos, 9);
  }
}

const shared = new JsonEncoder();

/** One line of canonical JSON, without the newline (one shared encoder: not reentrant, and nothing here re-enters). */
export function encodeCanonicalJson(record: FlowRecord): string {
  return shared.encode(record);
}

/** The canonical JSON value of a record, parsed (for tests and tools; sinks write encodeCanonicalJson's text). */
export function toCanonicalJson(record: FlowRecord): Record<string, unknown> {
  return JSON.parse(encodeCanonicalJson(record)) as Record<string, unknown>;
}
