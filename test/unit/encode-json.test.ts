// Canonical proto3 JSON, compared with Python's google.protobuf.json_format
// (the reference runtime) reading our protobuf bytes; string escaping compared
// with JSON.stringify; the batch and cache paths compared with single records.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import reflectRoot from '../../src/proto/gen/flow.reflect.js';
import { encodeCanonicalJson, JsonEncoder, toCanonicalJson } from '../../src/proto/json.js';
import { ProtobufEncoder } from '../../src/proto/protobuf.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { frozenPod, jsonFormatReference, sampleRecords } from './pipeline-fixtures.js';

test('every record type matches json_format.MessageToDict of the same bytes', () => {
  const encoder = new ProtobufEncoder();
  const records = Object.values(sampleRecords());
  const reference = jsonFormatReference(records.map((r) => encoder.encode(r)));
  records.forEach((record, i) => assert.deepEqual(toCanonicalJson(record), reference[i], `record ${record.id}`));
});

/** Every field of `type` (walked by reflection) at a value that is not its default. */
function everyField(type: protobuf.Type): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const resolved = field.resolvedType;
    if (field instanceof protobuf.MapField) out[field.name] = { tier: 'web', app: '', 'a"b\\c\n': 'é' };
    else if (resolved?.fullName === '.google.protobuf.Timestamp') out[field.name] = { seconds: 1764504001, nanos: 1500 };
    else if (resolved?.fullName === '.google.protobuf.Duration') out[field.name] = { seconds: -3, nanos: -250000000 };
    else if (resolved instanceof protobuf.Type) out[field.name] = field.repeated ? [everyField(resolved), {}] : everyField(resolved);
    else if (resolved instanceof protobuf.Enum) out[field.name] = Math.max(...Object.values(resolved.values));
    else if (field.type === 'string') out[field.name] = field.repeated ? ['é-"x"', ''] : `${field.name} é\t"\\`;
    else if (field.type === 'bool') out[field.name] = true;
    else if (field.type === 'uint64' || field.type === 'int64') out[field.name] = 2 ** 40 + 300;
    else out[field.name] = 300;
  }
  return out;
}

/** Key order of every object but maps (their order in Python is the hash table's). */
function keyOrder(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => keyOrder(v, `${path}[${i}]`));
  const keys = Object.keys(value);
  if (path.endsWith('.labels')) return [];
  return [`${path}: ${keys.join(',')}`, ...keys.flatMap((k) => keyOrder((value as Record<string, unknown>)[k], `${path}.${k}`))];
}

test('every field of the schema (walked by reflection) is written, in field-number order, as json_format writes it', () => {
  reflectRoot.resolveAll();
  const record = everyField(reflectRoot.lookupType('podflow.v1.FlowRecord')) as FlowRecord;
  const [reference] = jsonFormatReference([new ProtobufEncoder().encode(record)]);
  const ours = toCanonicalJson(record);
  assert.deepEqual(ours, reference);
  assert.deepEqual(keyOrder(ours), keyOrder(reference));
});

test('names, enums, 64-bit integers, timestamps and durations follow the canonical mapping', () => {
  const json = JSON.parse(encodeCanonicalJson(sampleRecords().TCP_CLOSE));
  assert.equal(json.type, 'TCP_CLOSE');
  assert.equal(json.conversationId, 'c0ffee');
  assert.equal(json.transport.protocol, 'TCP');
  assert.equal(json.traffic.bytesReceived, '8000');
  assert.equal(json.process.cgroupId, '123456789012');
  assert.equal(json.time, '2025-11-30T12:00:01.123Z');
  assert.equal(json.startTime, '2025-11-30T11:43:20.000000500Z');
  assert.equal(json.tcp.duration, '1001.122999500s');
  assert.equal(json.tcp.srtt, '0.001500s');
  assert.equal(json.observation.side, 'CLIENT');
});

test('defaults are omitted, present empty messages are not', () => {
  const json = toCanonicalJson({ type: 1, traffic: { bytes: 0, packets: 0 }, tcp: { flags: 0, state: '' }, source: { ip: '', port: 0, hostNetwork: false } });
  assert.deepEqual(json, { type: 'FLOW', traffic: {}, tcp: {}, source: {} });
  assert.equal(encodeCanonicalJson({}), '{}');
  assert.equal(encodeCanonicalJson({ source: {}, dns: { answers: [] } }), '{"source":{},"dns":{}}');
});

test('timestamp and duration edge cases', () => {
  const time = (seconds: number, nanos: number): unknown => toCanonicalJson({ time: { seconds, nanos } }).time;
  const duration = (seconds: number, nanos: number): unknown => (toCanonicalJson({ tcp: { duration: { seconds, nanos } } }).tcp as { duration: string }).duration;
  assert.equal(time(0, 0), '1970-01-01T00:00:00Z');
  assert.equal(time(1, 10000), '1970-01-01T00:00:01.000010Z');
  assert.equal(time(-1, 999999999), '1969-12-31T23:59:59.999999999Z');
  assert.equal(time(951782400, 0), '2000-02-29T00:00:00Z'); // leap day of a century leap year
  assert.equal(time(-62135596800, 0), '0001-01-01T00:00:00Z');
  assert.equal(time(253402300799, 999000000), '9999-12-31T23:59:59.999Z');
  assert.equal(time(1e15, 0), '9999-12-31T23:59:59Z'); // clamped to RFC 3339's range
  // Every weekday of a few 400-year cycles, at drifting times of day, against Date.
  for (let s = -4 * 146097 * 86400; s < 146097 * 86400; s += 7 * 86400 + 3599) {
    assert.equal(time(s, 0), new Date(s * 1000).toISOString().replace('.000Z', 'Z'), `seconds ${s}`);
  }
  assert.equal(duration(0, 0), '0s');
  assert.equal(duration(1, 500000000), '1.500s');
  assert.equal(duration(-1, -500000000), '-1.500s');
  assert.equal(duration(0, -1000), '-0.000001s');
  assert.equal(duration(315576000000, 999999999), '315576000000.999999999s');
});

test('strings are escaped exactly as JSON.stringify escapes them, in values, map keys and lists', () => {
  const strings = ['plain', 'quote " and \\ backslash', 'ctl \u0000\u0001\b\t\n\f\r\u001f', 'del \u007f', 'é日本🙂', 'lone \ud800 and \udfff', 'line \u2028 sep', '🙂'.slice(0, 1)];
  for (const s of strings) {
    const line = encodeCanonicalJson({ id: s, source: { pod: { labels: { [s]: s } } }, dns: { answers: [s, ''] } });
    const q = JSON.stringify(s);
    assert.equal(line, `{"id":${q},"source":{"pod":{"labels":{${q}:${q}}}},"dns":{"answers":[${q},""]}}`);
    assert.equal(toCanonicalJson({ id: s }).id, s);
  }
  // A label key that is an Object.prototype name is an ordinary map key.
  assert.equal(encodeCanonicalJson({ source: { pod: { labels: JSON.parse('{"__proto__":"x"}') as Record<string, string> } } }), '{"source":{"pod":{"labels":{"__proto__":"x"}}}}');
});

test('64-bit and 32-bit numbers at the edges of exact doubles', () => {
  const json = toCanonicalJson({ traffic: { bytes: Number.MAX_SAFE_INTEGER, packets: 9007199254740979, bytesReceived: 2 ** 64 }, interface: { index: 4294967295 }, process: { cgroupId: 10 } });
  assert.deepEqual(json, { interface: { index: 4294967295 }, traffic: { bytes: '9007199254740991', packets: '9007199254740979', bytesReceived: String(2 ** 64) }, process: { cgroupId: '10' } });
});

test('shared frozen pods and services are written from the cache; other objects are written afresh', () => {
  const { HTTP } = sampleRecords();
  const expected = encodeCanonicalJson(structuredClone(HTTP)); // a clone is not frozen: no cache
  const encoder = new JsonEncoder();
  assert.equal(encoder.encode(HTTP), expected);
  assert.equal(encoder.encode(HTTP), expected);
  // The same frozen pod as the first field of another endpoint.
  const lone = { source: { pod: HTTP.source!.pod, service: HTTP.destination!.service } };
  assert.equal(encoder.encode(lone), encodeCanonicalJson(structuredClone(lone)));
  // A pod that is not frozen may change between records.
  const pod = { name: 'a', labels: { app: 'x' } };
  assert.equal(encoder.encode({ source: { pod } }), '{"source":{"pod":{"name":"a","labels":{"app":"x"}}}}');
  pod.labels.app = 'y';
  assert.equal(encoder.encode({ source: { pod } }), '{"source":{"pod":{"name":"a","labels":{"app":"y"}}}}');
  // Frozen at the top but with a mutable label map: not cached either.
  const half = Object.freeze({ name: 'b', labels: { app: 'x' } });
  encoder.encode({ source: { pod: half } });
  half.labels.app = 'z';
  assert.match(encoder.encode({ source: { pod: half } }), /"app":"z"/);
  const frozen = frozenPod({ name: 'c', labels: { app: 'x' } });
  assert.equal(encoder.encode({ destination: { ip: '10.0.0.1', pod: frozen } }), encoder.encode({ destination: { ip: '10.0.0.1', pod: frozen } }));
});

test('frozen transports, interfaces and observations shared between records are written from the cache', () => {
  const transport = Object.freeze({ protocol: 6, ipVersion: 4 });
  const iface = Object.freeze({ name: 'eth0', index: 2 });
  const observation = Object.freeze({ probe: 'tcp', hook: 'hoök "x"', side: 2 });
  const encoder = new JsonEncoder();
  const expected = '{"transport":{"protocol":"TCP","ipVersion":4},"interface":{"name":"eth0","index":2},"observation":{"probe":"tcp","hook":"hoök \\"x\\"","side":"SERVER"}}';
  for (let i = 0; i < 3; i++) {
    assert.equal(encoder.encode({ transport, interface: iface, observation }), expected);
    assert.equal(encoder.encodeLines([{ transport, interface: iface, observation }]).toString(), `${expected}\n`);
  }
  // Empty frozen messages are cached as `{}`.
  const empty = Object.freeze({});
  assert.equal(encoder.encode({ transport: empty, observation: empty }), '{"transport":{},"observation":{}}');
  assert.equal(encoder.encode({ transport: empty, observation: empty }), '{"transport":{},"observation":{}}');
});

test('a batch of lines is one Buffer of the single-record lines, and later batches never overwrite it', () => {
  const records = Object.values(sampleRecords());
  const expected = records.map((r) => encodeCanonicalJson(r) + '\n').join('');
  const encoder = new JsonEncoder();
  const first = encoder.encodeLines(records);
  assert.equal(first.toString(), expected);
  assert.equal(encoder.encodeLines(records, 2).toString(), expected.split('\n').slice(0, 2).join('\n') + '\n');
  assert.equal(encoder.encodeLines(records, 0).length, 0);
  // Batches larger than a slab, and single records larger than one.
  const big = { ...sampleRecords().HTTP, http: { path: '/' + 'y'.repeat(300000), host: '日本'.repeat(3000) } };
  const many = Array.from({ length: 3000 }, (_, i) => records[i % records.length]);
  for (const batch of [many, [big, big], many]) {
    const lines = encoder.encodeLines(batch).toString().split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines, batch.map((r) => encodeCanonicalJson(r)));
  }
  assert.equal(encoder.encode(big), encodeCanonicalJson(big));
  assert.equal(first.toString(), expected);
});

test('a batch is touched ahead in blocks: records of any shape, across block boundaries, come out as single records do', () => {
  const { HTTP, DNS, TCP_CLOSE } = sampleRecords();
  const odd: FlowRecord[] = [
    {},
    { id: 42 as unknown as string, conversationId: null, time: { seconds: { low: 1764504001, high: 0 } as unknown as number, nanos: 5 } },
    { startTime: {}, source: {}, destination: { ip: '' }, traffic: {}, tcp: {}, process: {}, dns: {}, http: {}, originalDestination: {} },
    { source: null, destination: undefined, time: null },
    { id: 'é"\n', conversationId: 'x\\y', source: { ip: '10.0.0.1' } },
  ];
  const records = Array.from({ length: 64 * 2 + 7 }, (_, i) => [HTTP, DNS, TCP_CLOSE, ...odd][i % 8]);
  const encoder = new JsonEncoder();
  for (const count of [records.length, 64, 65, 1]) {
    const lines = encoder.encodeLines(records, count).toString().split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines, records.slice(0, count).map((r) => encodeCanonicalJson(r)));
  }
});

test('the date and time of a timestamp are reused within a second and written again across a second boundary', () => {
  const encoder = new JsonEncoder();
  const at = (seconds: number, nanos: number): string => new Date(seconds * 1000 + nanos / 1e6).toISOString().replace('.000Z', 'Z');
  const steps: [number, number][] = [[1764504000, 999000000], [1764504000, 0], [1764504001, 1000000], [1764504000, 500000000], [1764590399, 0], [1764590400, 0]];
  const records = steps.map(([seconds, nanos]) => ({ time: { seconds, nanos }, startTime: { seconds: seconds - 1, nanos } }));
  const lines = encoder.encodeLines(records).toString().trimEnd().split('\n');
  steps.forEach(([seconds, nanos], i) => {
    assert.equal(lines[i], `{"time":"${at(seconds, nanos)}","startTime":"${at(seconds - 1, nanos)}"}`);
    assert.equal(encoder.encode(records[i]!), lines[i]);
  });
});

test('records whose seconds go back and forth share the dates kept, slots that collide included', () => {
  const encoder = new JsonEncoder();
  const at = (seconds: number, nanos: number): string => new Date(seconds * 1000 + nanos / 1e6).toISOString().replace('.000Z', 'Z');
  const s = 1764504000;
  // s, s + 16 and s - 16 share a slot of the table; startTime runs a few seconds behind time.
  const steps = [s, s + 1, s, s + 16, s, s - 16, s + 1, s - 3, s + 16, s + 32, s - 1, -16, 0, -1, s];
  const records = steps.map((seconds, i) => ({ time: { seconds, nanos: i * 1000000 }, startTime: { seconds: seconds - (i % 4), nanos: 0 } }));
  const expected = steps.map((seconds, i) => `{"time":"${at(seconds, i * 1000000)}","startTime":"${at(seconds - (i % 4), 0)}"}`);
  assert.deepEqual(encoder.encodeLines(records).toString().trimEnd().split('\n'), expected);
  assert.deepEqual(records.map((r) => encoder.encode(r)), expected);
});

test('strings that need escaping next to plain ones, in one record and from one batch to the next', () => {
  const encoder = new JsonEncoder();
  const plain = { id: 'node-a/0/1', conversationId: 'c0ffee', nodeName: 'node-a', source: { ip: '10.0.0.1', node: 'n1' } };
  const escaped = { id: 'node-"a"/0/2', conversationId: 'c0\u0000ffee', nodeName: 'nöde', source: { ip: '10.0.0.1', node: 'n\\1' } };
  const expected = (r: typeof plain): string =>
    `{"id":${JSON.stringify(r.id)},"conversationId":${JSON.stringify(r.conversationId)},"nodeName":${JSON.stringify(r.nodeName)},"source":{"ip":${JSON.stringify(r.source.ip)},"node":${JSON.stringify(r.source.node)}}}`;
  for (const batch of [[plain, escaped, plain], [escaped, escaped], [plain]]) {
    assert.equal(encoder.encodeLines(batch).toString(), batch.map((r) => `${expected(r)}\n`).join(''));
  }
});

test('a nodeName is copied while records repeat it, and written afresh when it changes or is not a string', () => {
  const encoder = new JsonEncoder();
  const name = 'ip-10-0-12-34.eu-west-1.compute.internal';
  const values: unknown[] = [name, name, undefined, name, '', 7, 'nöde "x"', `${name}`, null, name];
  const records = values.map((nodeName) => ({ type: 1, nodeName }) as FlowRecord);
  const expected = values.map((v) => `{"type":"FLOW"${v === undefined || v === null || v === '' ? '' : `,"nodeName":${JSON.stringify(v)}`}}`);
  assert.deepEqual(encoder.encodeLines(records).toString().trimEnd().split('\n'), expected);
  assert.deepEqual(records.map((r) => encoder.encode(r)), expected);
});
