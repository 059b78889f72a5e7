// The protobuf encoding checked by protoc, an independent implementation, and
// the specialised encoder checked against the generated protobufjs code.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { podflow } from '../../src/proto/gen/flow.js';
import reflectRoot from '../../src/proto/gen/flow.reflect.js';
import { decodeDelimitedFlowRecords, decodeFlowRecord, ProtobufEncoder } from '../../src/proto/protobuf.js';
import { frozenPod, sampleRecords } from './pipeline-fixtures.js';

const PROTO_ARGS = ['-I', 'proto', 'proto/podflow/v1/flow.proto'];

function protocDecode(bytes: Uint8Array): string {
  return execFileSync('protoc', ['--decode=podflow.v1.FlowRecord', ...PROTO_ARGS], { input: bytes }).toString();
}

function protocEncode(text: string): Buffer {
  return execFileSync('protoc', ['--encode=podflow.v1.FlowRecord', ...PROTO_ARGS], { input: text });
}

test('protoc --decode reads the HTTP record field by field', () => {
  const bytes = new ProtobufEncoder().encode(sampleRecords().HTTP);
  const text = protocDecode(bytes);
  for (const line of [
    'id: "node-a/b00t/9"',
    'type: HTTP',
    'seconds: 1764504001',
    'nanos: 123000000',
    'conversation_id: "c0ffee"',
    'name: "frontend-7d9"',
    'protocol: TCP',
    'method: "GET"',
    'path: "/api/users"',
    'status: 200',
    'nanos: 325000000',
    'side: SERVER',
  ]) {
    assert.ok(text.includes(line), `protoc output lacks ${line}:\n${text}`);
  }
});

test('protoc re-encodes its decoding of every record type to the same bytes', () => {
  const encoder = new ProtobufEncoder();
  for (const [name, record] of Object.entries(sampleRecords())) {
    // A map with several entries has no fixed wire order; compare single-label pods.
    for (const e of [record.source, record.destination]) if (e?.pod?.labels) e.pod = frozenPod({ ...e.pod, labels: { app: 'x' } });
    const ours = Buffer.from(encoder.encode(record));
    const theirs = protocEncode(protocDecode(ours));
    assert.equal(ours.toString('hex'), theirs.toString('hex'), `${name} differs from protoc's encoding`);
  }
});

test('64-bit counters above 2^32 survive the wire', () => {
  const record = sampleRecords().FLOW;
  const text = protocDecode(new ProtobufEncoder().encode(record));
  assert.match(text, /bytes_received: 9876543210/);
  assert.equal(decodeFlowRecord(new ProtobufEncoder().encode(record)).traffic?.bytesReceived, 9876543210);
});

test('one encoder reused for many records gives independent buffers', () => {
  const encoder = new ProtobufEncoder();
  const records = Object.values(sampleRecords());
  const buffers = records.map((r) => encoder.encode(r));
  records.forEach((r, i) => assert.equal(decodeFlowRecord(buffers[i]).id, r.id));
});

test('length-delimited frames concatenate and decode back', () => {
  const encoder = new ProtobufEncoder();
  const records = Object.values(sampleRecords());
  const stream = Buffer.concat(records.map((r) => encoder.encodeDelimited(r)));
  const decoded = decodeDelimitedFlowRecords(stream);
  assert.deepEqual(decoded.map((d) => d.id), records.map((r) => r.id));
  assert.deepEqual(decoded.map((d) => d.type), records.map((r) => r.type));
});

test('frozen pods (encoded once, then appended) give the same bytes as fresh ones', () => {
  const encoder = new ProtobufEncoder();
  for (const record of Object.values(sampleRecords())) {
    const cached = Buffer.from(encoder.encode(record)).toString('hex');
    const again = Buffer.from(encoder.encode(record)).toString('hex');
    const fresh = structuredClone(record); // structuredClone does not keep the freeze
    assert.equal(cached, Buffer.from(encoder.encode(fresh)).toString('hex'));
    assert.equal(again, cached);
  }
});

// ---- the specialised encoder against the generated protobufjs code ----

function generated(record: FlowRecord): string {
  return Buffer.from(podflow.v1.FlowRecord.encode(record).finish()).toString('hex');
}

/** A value of a scalar field type that is not its default and takes more than one byte where it can. */
function scalarSample(type: string): unknown {
  if (type === 'string') return 'é-x';
  if (type === 'bool') return true;
  if (type === 'uint64' || type === 'int64') return 2 ** 40 + 300;
  return 300; // uint32, int32
}

/**
 * One object per leaf field of `type` (recursively), each with only that
 * field set, plus each sub-message present but empty.
 */
function oneFieldSamples(type: protobuf.Type): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const field of type.fieldsArray) {
    const resolved = field.resolvedType;
    if (field instanceof protobuf.MapField) {
      out.push({ [field.name]: { [String(scalarSample(field.keyType))]: scalarSample(field.type) } }, { [field.name]: { k: '' } });
    } else if (resolved instanceof protobuf.Type) {
      out.push({ [field.name]: {} });
      for (const sample of oneFieldSamples(resolved)) out.push({ [field.name]: field.repeated ? [sample, {}] : sample });
    } else if (resolved instanceof protobuf.Enum) {
      out.push({ [field.name]: Math.max(...Object.values(resolved.values)) });
    } else {
      const v = scalarSample(field.type);
      out.push({ [field.name]: field.repeated ? [v, typeof v === 'string' ? '' : v] : v });
    }
  }
  return out;
}

test('every field of the schema (walked by reflection) is encoded as the generated code encodes it', () => {
  reflectRoot.resolveAll();
  const samples = oneFieldSamples(reflectRoot.lookupType('podflow.v1.FlowRecord'));
  assert.ok(samples.length > 100, `only ${samples.length} samples`);
  const encoder = new ProtobufEncoder();
  for (const sample of samples) {
    const record = sample as FlowRecord;
    assert.equal(Buffer.from(encoder.encode(record)).toString('hex'), generated(record), `differs for ${JSON.stringify(sample)}`);
  }
});

test('long strings, non-ASCII, negative and large numbers, and records larger than a slab match the generated code', () => {
  const encoder = new ProtobufEncoder();
  const { HTTP, DNS } = sampleRecords();
  const records: FlowRecord[] = [
    { ...HTTP, http: { ...HTTP.http, path: '/' + 'a'.repeat(42) } }, // 43 characters
    // Below 32 characters copied by hand (utf8Write at the first non-ASCII one), from 32 on by utf8Write with one
    // length byte reserved (moved up past 127 bytes), from 4096 on with the byte length counted first.
    { ...HTTP, nodeName: 'ip-10-0-12-34.eu-west-1.compute.internal', id: `ip-10-0-12-34.eu-west-1.compute.internal/60cee44a/${'9'.repeat(16)}` },
    { ...HTTP, http: { ...HTTP.http, path: '/' + 'b'.repeat(30), host: 'c'.repeat(32) } }, // 31 and 32 characters
    { ...HTTP, http: { ...HTTP.http, path: 'é' + 'd'.repeat(30), host: 'e'.repeat(31) + 'é' } }, // 31 and 32, non-ASCII first and last
    { ...HTTP, http: { ...HTTP.http, path: 'f'.repeat(126) + '€', host: '🙂'.repeat(21) } }, // 127 characters, 129 bytes; surrogate pairs
    { ...HTTP, http: { ...HTTP.http, path: 'g'.repeat(127), host: 'h'.repeat(4096) } }, // 127 bytes; the byte length counted first
    { ...HTTP, http: { ...HTTP.http, path: '/ünïcødé/' + '€'.repeat(40) } },
    { ...HTTP, http: { ...HTTP.http, path: '/' + 'x'.repeat(20000), host: '日本'.repeat(3000) } }, // 3-byte length prefixes
    { ...HTTP, http: { ...HTTP.http, path: '/' + 'y'.repeat(200000) } }, // larger than a 64 KiB slab
    { ...DNS, dns: { ...DNS.dns, answers: ['', 'a'.repeat(300), '🙂'] } },
    { time: { seconds: -62135596800, nanos: -5 }, type: -1 as podflow.v1.RecordType, traffic: { bytes: Number.MAX_SAFE_INTEGER, packets: 2 ** 32, bytesReceived: 1.5 } },
    { tcp: { duration: { seconds: -1, nanos: -999999999 }, srtt: { seconds: 315576000000 } } },
    {},
  ];
  for (const record of records) {
    const before = Buffer.from(encoder.encode(record)).toString('hex');
    assert.equal(before, generated(record));
    assert.equal(Buffer.from(encoder.encodeDelimited(record)).toString('hex'), Buffer.from(podflow.v1.FlowRecord.encode(record, protobuf.Writer.create().fork()).ldelim().finish()).toString('hex'));
  }
  // Views handed out earlier are never overwritten by later records.
  const first = encoder.encode(HTTP);
  const copy = Buffer.from(first).toString('hex');
  for (let i = 0; i < 2000; i++) encoder.encode(DNS);
  assert.equal(Buffer.from(first).toString('hex'), copy);
});

test('frozen observations shared between records are encoded once, as the generated code encodes them', () => {
  const encoder = new ProtobufEncoder();
  const observation = Object.freeze({ probe: 'tcp', hook: 'tracepoint/sock/inet_sock_set_state', side: 1 });
  const record: FlowRecord = { conversationId: 'c', observation, originalDestination: { ip: '10.0.0.1' } };
  for (let i = 0; i < 3; i++) assert.equal(Buffer.from(encoder.encode(record)).toString('hex'), generated(record));
  const empty: FlowRecord = { observation: Object.freeze({}) };
  for (let i = 0; i < 2; i++) assert.equal(Buffer.from(encoder.encode(empty)).toString('hex'), generated(empty));
});

test('the bytes come back as a Buffer', () => {
  const bytes = new ProtobufEncoder().encode(sampleRecords().HTTP);
  assert.ok(Buffer.isBuffer(bytes));
  assert.equal(bytes.toString('hex'), Buffer.from(podflow.v1.FlowRecord.encode(sampleRecords().HTTP).finish()).toString('hex'));
  assert.equal(Buffer.concat([bytes, bytes]).length, 2 * bytes.length);
});

test('a frozen pod is encoded once; a pod that is not frozen is encoded every time', () => {
  const encoder = new ProtobufEncoder();
  const pod = frozenPod({ name: 'a', namespace: 'b', labels: { app: 'x' } });
  const record: FlowRecord = { source: { ip: '10.0.0.1', pod } };
  assert.equal(Buffer.from(encoder.encode(record)).toString('hex'), generated(record));
  const mutable = { name: 'a', namespace: 'b', labels: { app: 'x' } };
  const other: FlowRecord = { source: { ip: '10.0.0.1', pod: mutable } };
  encoder.encode(other);
  mutable.labels.app = 'changed';
  assert.equal(Buffer.from(encoder.encode(other)).toString('hex'), generated(other));
});

test('the node name, kept as bytes while it repeats, encodes as the generated code encodes it when it changes', () => {
  const enc = new ProtobufEncoder();
  const flow = sampleRecords().FLOW;
  const names = ['ip-10-0-12-34.eu-west-1.compute.internal', 'ip-10-0-12-34.eu-west-1.compute.internal', 'node-a', '', 'nœud-ü', 'x'.repeat(200), 'node-a', 'ip-10-0-12-34.eu-west-1.compute.internal'];
  for (const nodeName of [...names, ...names.map((n) => n.slice(0) + '')]) {
    const record = { ...flow, nodeName };
    assert.equal(Buffer.from(enc.encode(record)).toString('hex'), generated(record), nodeName);
  }
  assert.equal(Buffer.from(enc.encode({ ...flow, nodeName: undefined })).toString('hex'), generated({ ...flow, nodeName: undefined }));
});
