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
// - strings are copied byte by byte and checked once copied: the rare string
//   that needs escaping (control characters, `"`, `\`, lone surrogates) or
//   holds non-ASCII text is then written again by JSON.stringify, whose
//   escaping is the reference;
// - field names are bytes made once (`,"name":`), enum fields the bytes of
//   key and value together;
// - deep-frozen sub-messages shared between records (the enricher's Pod and
//   Service, the decoders' Transport, Interface and Observation) are written
//   once and their bytes copied after that, keyed by object identity (as
//   ProtobufEncoder does);
// - the date and time of a Timestamp are kept by seconds in a small table
//   both Timestamp fields share (a batch holds records of a few seconds in
//   turn: TCP events of now, flows and HTTP exchanges that started earlier);
// - nodeName is copied as key and value bytes while it stays the same (one
//   string for all the records of a probe);
// - the records of a batch are touched ahead, a block at a time, so that their
//   cache misses overlap instead of stalling the writing one by one;
// - a batch of lines is laid out in one slab and returned as one view of it.
// Field names are written by hand below; test/unit/encode-json.test.ts walks
// the schema's reflection and fails when a field is missing or out of order.
// Values of the wrong type (a string in a number field) are written as
// JSON.stringify writes them, as a generic converter would.
import reflectRoot from './gen/flow.reflect.js';
import type { podflow } from './gen/flow.js';
import { Chunk, ChunkCache, SlabWriter } from './slab-writer.js';
import type { FlowRecord } from '../pipeline/types.js';

type Int64 = number | { low: number; high: number; unsigned?: boolean } | string | bigint | null | undefined;
type TimeLike = { seconds?: Int64; nanos?: number | null };
/** `,"name":`: how every field starts (the first comma of an object becomes `{` when it closes). */
type Key = Chunk;
/** An enum field: its key, and by value id the key and the name as a JSON string together. */
interface EnumField {
  key: Key;
  values: Readonly<Record<string, Chunk>>;
}

const SLAB = 256 * 1024;
/** A record starts in a new slab when less than this is left (records rarely exceed it). */
const MIN_FREE = 16 * 1024;
/** The most a batch reserves per line up front (a longer line grows the slab). */
const MAX_LINE_ESTIMATE = 4096;
// RFC 3339 covers years 0001..9999; protoc rejects anything outside.
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;
const QUOTE = 0x22;
/** "00".."99" as byte pairs: digits are written two at a time. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 48 + (i & 1 ? (i >> 1) % 10 : Math.floor((i >> 1) / 10)));
/**
 * 1 for the UTF-16 code units a string is not copied with: those a JSON string
 * cannot hold as they are (controls, `"`, `\`) and everything past ASCII. By
 * code unit, all 2^16 of them: one load and no compare per character.
 */
const UNCOPIED = Uint8Array.from({ length: 0x10000 }, (_, c) => (c < 0x20 || c === QUOTE || c === 0x5c || c >= 0x80 ? 1 : 0));

const ascii = (text: string): Chunk => new Chunk(Uint8Array.from(text, (c) => c.charCodeAt(0)));

function key(name: string): Key {
  return ascii(`,"${name}":`);
}

function enumField(name: string, enumName: string): EnumField {
  const values: Record<string, Chunk> = Object.create(null) as Record<string, Chunk>;
  for (const [id, value] of Object.entries(reflectRoot.lookupEnum(enumName).valuesById)) values[id] = ascii(`,"${name}":${JSON.stringify(value)}`);
  return { key: key(name), values };
}

const NAMES = [
  'id', 'time', 'startTime', 'conversationId', 'nodeName', 'source', 'destination', 'transport', 'interface', 'traffic', 'tcp', 'process',
  'drop', 'dns', 'http', 'loss', 'observation', 'originalDestination', 'ipVersion', 'name', 'index', 'bytes', 'packets', 'bytesReceived',
  'packetsReceived', 'pid', 'command', 'cgroupId', 'containerId', 'reason', 'code', 'count', 'stage', 'probe', 'hook', 'ip', 'port', 'pod',
  'service', 'node', 'hostNetwork', 'network', 'namespace', 'uid', 'labels', 'workload', 'kind', 'container', 'flags', 'srtt',
  'retransmits', 'duration', 'state', 'failure', 'query', 'qtype', 'rcode', 'answers', 'latency', 'truncated', 'method', 'path', 'status',
  'host', 'version', 'noResponse',
] as const;
/** Field keys by JSON name (one entry for a name several messages use). */
const K = Object.fromEntries(NAMES.map((name) => [name, key(name)])) as Readonly<Record<(typeof NAMES)[number], Key>>;
const TYPE = enumField('type', 'podflow.v1.RecordType');
const PROTOCOL = enumField('protocol', 'podflow.v1.Protocol');
const DIRECTION = enumField('direction', 'podflow.v1.Direction');
const SIDE = enumField('side', 'podflow.v1.Side');

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

/** `"2025-11-30T12:00:01` (the text of a Timestamp before its fraction) of `seconds`. */
class DateText {
  seconds = NaN;
  text = new Chunk(new Uint8Array(0));
}

/**
 * Dates kept, by the low bits of their seconds. The agent's records do not
 * come in time order (TCP events are stamped when they happen, a flow when it
 * ends, an HTTP exchange's startTime when it started): under short
 * connections one date per field made a new text (and Chunk) for 8.5% of the
 * records, 3.5% of the agent's main thread.
 */
const DATE_SLOTS = 16;

/**
 * Records a batch touches ahead of writing them. A record's objects (the
 * record, its timestamps, endpoints, strings) are scattered over the heap and
 * mostly out of the CPU's caches by the time a sink encodes them: written one
 * by one, each cache miss stalls the writing in turn (a quarter of the time
 * for the pipeline benchmark's batches). Loaded first, in a loop of
 * independent iterations, their misses overlap; a block this size is still in
 * cache when it is written.
 */
const TOUCH_BLOCK = 64;

/** Loads what the encoder reads first in each of a record's objects; returns a sum the caller keeps, so the loads stay. */
function touch(r: FlowRecord): number {
  let n = 0;
  const { id, conversationId, time, startTime } = r;
  if (typeof id === 'string') n += id.length;
  if (time != null && typeof time.seconds === 'number') n++;
  if (startTime != null && typeof startTime.seconds === 'number') n++;
  if (typeof conversationId === 'string') n += conversationId.length;
  const { source, destination, traffic, tcp, process, dns, http, originalDestination } = r;
  if (source?.ip != null) n++;
  if (destination?.ip != null) n++;
  if (traffic?.bytes != null) n++;
  if (tcp?.flags != null) n++;
  if (process?.pid != null) n++;
  if (dns?.query != null) n++;
  if (http?.path != null) n++;
  if (originalDestination?.ip != null) n++;
  return n;
}

/**
 * A string field's last text and its bytes (key and value), copied while the
 * field holds the same string: a record's nodeName is its probe's, one string
 * for every record (a cloud node's name is 30 to 60 characters). Only strings
 * are kept; undefined matches at first and writes nothing, as the field would.
 * Not for fields whose text changes often: a Chunk costs about half a
 * microsecond to make (its typed arrays).
 */
class LastString {
  value: unknown = undefined;
  bytes = new Chunk(new Uint8Array(0));
}

export class JsonEncoder extends SlabWriter {
  /** Bytes per line of the last batch: the room the next batch reserves up front. */
  private lineBytes = 1024;
  /**
   * What touch() returned for the last batch, kept so the compiler cannot drop
   * its loads as unused (protected: a private field never read is an error).
   */
  protected touched = 0;
  // The date and time of the seconds seen last, by their low bits.
  private readonly dates = Array.from({ length: DATE_SLOTS }, () => new DateText());
  private readonly nodeName = new LastString();
  // `,"pod":{...}` bytes of deep-frozen shared objects, one cache per field.
  private readonly pods = new ChunkCache();
  private readonly services = new ChunkCache();
  private readonly transports = new ChunkCache();
  private readonly interfaces = new ChunkCache();
  private readonly observations = new ChunkCache();

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
   * (holding it keeps its slab alive), unless `rewind` says the caller is done
   * with every Buffer it was given before: the batch is then written from the
   * start of the current slab. A batch is about a megabyte, past glibc's mmap
   * threshold, so a fresh slab per batch is an mmap, a page fault per 4 KiB
   * and an munmap (8% of the agent's CPU under `-o json`). Not reentrant: one
   * encoder per sink.
   */
  encodeLines(records: readonly FlowRecord[], count = records.length, rewind = false): Buffer {
    if (rewind) this.pos = 0;
    // Room for the whole batch up front: growing would copy it.
    this.begin(Math.max(MIN_FREE, Math.ceil(count * this.lineBytes * 1.25)));
    let touched = 0;
    for (let block = 0; block < count; block += TOUCH_BLOCK) {
      const end = Math.min(count, block + TOUCH_BLOCK);
      for (let i = block; i < end; i++) touched += touch(records[i]);
      for (let i = block; i < end; i++) {
        this.flowRecord(records[i]);
        this.room(1);
        this.buf[this.pos++] = 0x0a;
      }
    }
    this.touched = touched;
    const out = this.view(this.start, this.pos);
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

  /** ASCII text as is (numbers as text, punctuation). */
  private raw(s: string): void {
    const n = s.length;
    this.room(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
    this.pos = pos;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
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
    // Copied whatever it holds, and checked once at the end: no branch per character (4-5% of a
    // batch's time). Bytes copied from a string that must be escaped are written over.
    let uncopied = 0;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      uncopied |= UNCOPIED[c];
      buf[pos++] = c;
    }
    if (uncopied !== 0) return this.json(v);
    buf[pos++] = QUOTE;
    this.pos = pos;
  }

  /** A non-negative integer below 2^53. */
  private digits(v: number): void {
    if (v < 1e9) return this.padded(v, v < 10 ? 1 : v < 100 ? 2 : v < 1e3 ? 3 : v < 1e4 ? 4 : v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : v < 1e8 ? 8 : 9);
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

  /**
   * Exactly `width` digits of the integer 0 <= v < 10^width, width <= 9: in
   * int32 arithmetic (% of doubles is a call into C), two digits at a time.
   */
  private padded(v: number, width: number): void {
    this.room(width);
    const buf = this.buf;
    let pos = this.pos + width;
    this.pos = pos;
    v |= 0;
    for (; width >= 2; width -= 2) {
      const q = (v / 100) | 0;
      const pair = 2 * (v - 100 * q);
      buf[--pos] = PAIRS[pair + 1];
      buf[--pos] = PAIRS[pair];
      v = q;
    }
    if (width === 1) buf[pos - 1] = 48 + v;
  }

  private number(v: number): void {
    if (v >= 0 && Number.isSafeInteger(v)) this.digits(v);
    else this.raw(Number.isFinite(v) ? String(v) : 'null');
  }

  // ---- fields: each writes `,"name":value`, or nothing at its default ----

  private string(key: Key, v: string | null | undefined): void {
    if (typeof v !== 'string') {
      if (isDefault(v)) return;
      this.chunk(key);
      return this.json(v);
    }
    if (v === '') return;
    this.chunk(key);
    this.stringValue(v);
  }

  /** A string field through its LastString: copied while the text is the same, written and kept otherwise. */
  private lastString(last: LastString, key: Key, v: string | null | undefined): void {
    if (v === last.value) return this.chunk(last.bytes);
    const from = this.pos;
    this.string(key, v);
    if (typeof v === 'string') {
      last.value = v;
      last.bytes = new Chunk(this.buf.subarray(from, this.pos));
    }
  }

  /** A string inside a list or map, where the default is written (""). */
  private stringElement(v: unknown): void {
    if (typeof v === 'string') this.stringValue(v);
    else if (isDefault(v)) this.raw('""');
    else this.json(v);
  }

  /** uint32 and int32. */
  private uint(key: Key, v: number | null | undefined): void {
    if (typeof v === 'number') {
      if (v === 0) return;
      this.chunk(key);
      this.number(v);
    } else if (!isDefault(v)) {
      this.chunk(key);
      this.json(v);
    }
  }

  /** uint64 and int64: a decimal string. */
  private int64(key: Key, v: Int64): void {
    if (typeof v === 'number') {
      if (v === 0) return;
      this.chunk(key);
      this.byte(QUOTE);
      if (v > 0 && Number.isSafeInteger(v)) this.digits(v);
      else this.raw(String(v));
      this.byte(QUOTE);
    } else if (!isDefault(v)) {
      const n = num(v);
      if (n === 0) return;
      this.chunk(key);
      this.raw(`"${String(n)}"`);
    }
  }

  private enum(field: EnumField, v: number | null | undefined): void {
    if (v == null || isDefault(v)) return;
    const named = field.values[v];
    if (named !== undefined) return this.chunk(named);
    this.chunk(field.key);
    if (typeof v === 'number') this.number(v);
    else this.json(v);
  }

  private bool(key: Key, v: boolean | null | undefined): void {
    if (v === true) {
      this.chunk(key);
      this.raw('true');
    } else if (!isDefault(v)) {
      this.chunk(key);
      this.json(v);
    }
  }

  /** Writes the key of a sub-message; returns where its body starts. */
  private open(key: Key): number {
    this.chunk(key);
    return this.pos;
  }

  /** Ends an object whose fields start at `at`: its first comma becomes `{`. */
  private close(at: number): void {
    if (this.pos === at) return this.raw('{}');
    this.buf[at] = 0x7b;
    this.byte(0x7d);
  }

  // ---- messages, in schema order (proto/podflow/v1/flow.proto) ----

  private flowRecord(r: FlowRecord): void {
    const at = this.pos;
    this.string(K.id, r.id);
    if (r.time != null) this.timestamp(K.time, r.time);
    if (r.startTime != null) this.timestamp(K.startTime, r.startTime);
    this.string(K.conversationId, r.conversationId);
    this.enum(TYPE, r.type);
    this.lastString(this.nodeName, K.nodeName, r.nodeName);
    if (r.source != null) this.endpoint(K.source, r.source);
    if (r.destination != null) this.endpoint(K.destination, r.destination);
    if (r.transport != null) this.shared(this.transports, K.transport, r.transport, this.transport);
    if (r.interface != null) this.shared(this.interfaces, K.interface, r.interface, this.interface);
    this.enum(DIRECTION, r.direction);
    const tr = r.traffic;
    if (tr != null) {
      const body = this.open(K.traffic);
      this.int64(K.bytes, tr.bytes);
      this.int64(K.packets, tr.packets);
      this.int64(K.bytesReceived, tr.bytesReceived);
      this.int64(K.packetsReceived, tr.packetsReceived);
      this.close(body);
    }
    if (r.tcp != null) this.tcp(r.tcp);
    const p = r.process;
    if (p != null) {
      const body = this.open(K.process);
      this.uint(K.pid, p.pid);
      this.string(K.command, p.command);
      this.int64(K.cgroupId, p.cgroupId);
      this.string(K.containerId, p.containerId);
      this.close(body);
    }
    const d = r.drop;
    if (d != null) {
      const body = this.open(K.drop);
      this.string(K.reason, d.reason);
      this.uint(K.code, d.code);
      this.int64(K.count, d.count);
      this.close(body);
    }
    if (r.dns != null) this.dns(r.dns);
    if (r.http != null) this.http(r.http);
    const l = r.loss;
    if (l != null) {
      const body = this.open(K.loss);
      this.string(K.stage, l.stage);
      this.string(K.reason, l.reason);
      this.int64(K.count, l.count);
      this.close(body);
    }
    if (r.observation != null) this.shared(this.observations, K.observation, r.observation, this.observation);
    if (r.originalDestination != null) this.endpoint(K.originalDestination, r.originalDestination);
    this.close(at);
  }

  private endpoint(key: Key, e: podflow.v1.IEndpoint): void {
    const at = this.open(key);
    this.string(K.ip, e.ip);
    this.uint(K.port, e.port);
    if (e.pod != null) this.shared(this.pods, K.pod, e.pod, this.pod);
    if (e.service != null) this.shared(this.services, K.service, e.service, this.service);
    this.string(K.node, e.node);
    this.bool(K.hostNetwork, e.hostNetwork);
    this.string(K.network, e.network);
    this.close(at);
  }

  /** A sub-message field whose deep-frozen value is written once per object. */
  private shared<T extends object>(cache: ChunkCache, key: Key, value: T, body: (value: T) => void): void {
    if (this.copyCached(cache, value)) return;
    const from = this.pos;
    const at = this.open(key);
    body.call(this, value);
    this.close(at);
    this.remember(cache, value, from);
  }

  private transport(t: podflow.v1.ITransport): void {
    this.enum(PROTOCOL, t.protocol);
    this.uint(K.ipVersion, t.ipVersion);
  }

  private interface(i: podflow.v1.IInterface): void {
    this.string(K.name, i.name);
    this.uint(K.index, i.index);
  }

  private observation(o: podflow.v1.IObservation): void {
    this.string(K.probe, o.probe);
    this.string(K.hook, o.hook);
    this.enum(SIDE, o.side);
  }

  private pod(p: podflow.v1.IPod): void {
    this.string(K.name, p.name);
    this.string(K.namespace, p.namespace);
    this.string(K.uid, p.uid);
    const labels = p.labels;
    if (labels != null) {
      // Map entries in the object's key order; values keep their default ("").
      const keys = Object.keys(labels);
      if (keys.length > 0) {
        const at = this.open(K.labels);
        for (const key of keys) {
          this.byte(0x2c);
          this.stringValue(key);
          this.byte(0x3a);
          this.stringElement(labels[key]);
        }
        this.close(at);
      }
    }
    const w = p.workload;
    if (w != null) {
      const at = this.open(K.workload);
      this.string(K.kind, w.kind);
      this.string(K.name, w.name);
      this.close(at);
    }
    this.string(K.container, p.container);
  }

  private service(s: podflow.v1.IService): void {
    this.string(K.name, s.name);
    this.string(K.namespace, s.namespace);
  }

  private tcp(t: podflow.v1.ITcp): void {
    const at = this.open(K.tcp);
    this.uint(K.flags, t.flags);
    if (t.srtt != null) this.duration(K.srtt, t.srtt);
    this.uint(K.retransmits, t.retransmits);
    if (t.duration != null) this.duration(K.duration, t.duration);
    this.string(K.state, t.state);
    this.string(K.failure, t.failure);
    this.close(at);
  }

  private dns(d: podflow.v1.IDns): void {
    const at = this.open(K.dns);
    this.uint(K.id, d.id);
    this.string(K.query, d.query);
    this.string(K.qtype, d.qtype);
    this.string(K.rcode, d.rcode);
    const answers = d.answers;
    if (Array.isArray(answers) && answers.length > 0) {
      this.chunk(K.answers);
      this.byte(0x5b);
      for (let i = 0; i < answers.length; i++) {
        if (i > 0) this.byte(0x2c);
        this.stringElement(answers[i]);
      }
      this.byte(0x5d);
    }
    if (d.latency != null) this.duration(K.latency, d.latency);
    this.bool(K.truncated, d.truncated);
    this.close(at);
  }

  private http(h: podflow.v1.IHttp): void {
    const at = this.open(K.http);
    this.string(K.method, h.method);
    this.string(K.path, h.path);
    this.uint(K.status, h.status);
    if (h.latency != null) this.duration(K.latency, h.latency);
    this.string(K.host, h.host);
    this.string(K.version, h.version);
    this.string(K.noResponse, h.noResponse);
    this.close(at);
  }

  // ---- well-known types ----

  /** "2025-11-30T12:00:01.123Z": seconds clamped to years 0001..9999 (NaN reads as 0). */
  private timestamp(key: Key, t: TimeLike): void {
    this.chunk(key);
    const s = Math.min(MAX_SECONDS, Math.max(MIN_SECONDS, Math.trunc(num(t.seconds ?? 0)) || 0));
    const nanos = Math.min(999999999, Math.max(0, Math.trunc(num(t.nanos ?? 0)) || 0));
    const date = this.dates[s & (DATE_SLOTS - 1)]!;
    if (s === date.seconds) this.chunk(date.text);
    else this.dateTime(s, date);
    this.fraction(nanos);
    this.room(2);
    this.buf[this.pos++] = 0x5a; // Z
    this.buf[this.pos++] = QUOTE;
  }

  /** `"YYYY-MM-DDTHH:MM:SS` of seconds since the epoch, kept in `date` for the next Timestamps of these seconds. */
  private dateTime(s: number, date: DateText): void {
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
    date.seconds = s;
    date.text = new Chunk(this.buf.subarray(from, this.pos));
  }

  /** "1.500s", "-0.000001s" (NaN reads as 0). */
  private duration(key: Key, t: TimeLike): void {
    this.chunk(key);
    const s = Math.trunc(num(t.seconds ?? 0)) || 0;
    const n = Math.trunc(num(t.nanos ?? 0)) || 0;
    this.byte(QUOTE);
    if (s < 0 || n < 0) this.byte(0x2d);
    const abs = Math.abs(s);
    if (Number.isSafeInteger(abs)) this.digits(abs);
    else this.raw(String(abs));
    this.fraction(Math.min(999999999, Math.abs(n)));
    this.room(2);
    this.buf[this.pos++] = 0x73; // s
    this.buf[this.pos++] = QUOTE;
  }

  /** Fraction digits the way the canonical mapping writes them: none, 3, 6 or 9. */
  private fraction(nanos: number): void {
    if (nanos === 0) return;
    this.byte(0x2e);
    const n = nanos | 0; // below 10^9: int32 arithmetic
    if (n % 1000000 === 0) this.padded(n / 1000000, 3);
    else if (n % 1000 === 0) this.padded(n / 1000, 6);
    else this.padded(n, 9);
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
