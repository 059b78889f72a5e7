// Property tests: every encoder takes any valid record without throwing, the
// protobuf bytes are those of the generated protobufjs code and decode back to
// the record, the canonical JSON of random records equals what Python's
// json_format makes of the same bytes, and its text is compact JSON escaped as
// JSON.stringify escapes it, the same on the cached and batch paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { podflow } from '../../src/proto/gen/flow.js';
import { formatHuman } from '../../src/proto/human.js';
import { encodeCanonicalJson, JsonEncoder, toCanonicalJson } from '../../src/proto/json.js';
import { OcsfEncoder } from '../../src/proto/ocsf.js';
import { decodeFlowRecord, ProtobufEncoder } from '../../src/proto/protobuf.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { frozenPod, jsonFormatReference } from './pipeline-fixtures.js';

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.maxSafeNat();
const timestamp = fc.record({ seconds: fc.integer({ min: -62135596800, max: 253402300799 }), nanos: fc.integer({ min: 0, max: 999999999 }) });
const duration = fc
  .tuple(fc.integer({ min: 0, max: 315576000000 }), fc.integer({ min: 0, max: 999999999 }), fc.boolean())
  .map(([s, n, neg]) => ({ seconds: neg ? -s : s, nanos: neg ? -n : n }));
const endpoint = fc.record(
  {
    ip: fc.oneof(fc.ipV4(), fc.ipV6(), text),
    port: fc.nat({ max: 65535 }),
    pod: fc.record(
      { name: text, namespace: text, uid: text, labels: fc.dictionary(text, text, { maxKeys: 3 }), workload: fc.record({ kind: text, name: text }), container: text },
      { requiredKeys: [] },
    ),
    service: fc.record({ name: text, namespace: text }, { requiredKeys: [] }),
    node: text,
    hostNetwork: fc.boolean(),
    network: text,
  },
  { requiredKeys: [] },
);
const record: fc.Arbitrary<FlowRecord> = fc.record(
  {
    id: text,
    time: timestamp,
    startTime: timestamp,
    conversationId: text,
    type: fc.integer({ min: 0, max: 10 }),
    nodeName: text,
    source: endpoint,
    destination: endpoint,
    transport: fc.record({ protocol: fc.constantFrom(0, 1, 6, 17, 58, 132), ipVersion: fc.constantFrom(0, 4, 6) }),
    interface: fc.record({ name: text, index: u32 }),
    direction: fc.integer({ min: 0, max: 2 }),
    traffic: fc.record({ bytes: u64, packets: u64, bytesReceived: u64, packetsReceived: u64 }, { requiredKeys: [] }),
    tcp: fc.record({ flags: fc.nat({ max: 255 }), srtt: duration, retransmits: u32, duration, state: text, failure: text }, { requiredKeys: [] }),
    process: fc.record({ pid: u32, command: text, cgroupId: u64, containerId: text }, { requiredKeys: [] }),
    drop: fc.record({ reason: text, code: u32, count: u64 }, { requiredKeys: [] }),
    dns: fc.record({ id: fc.nat({ max: 65535 }), query: text, qtype: text, rcode: text, answers: fc.array(text, { maxLength: 3 }), latency: duration, truncated: fc.boolean() }, { requiredKeys: [] }),
    http: fc.record({ method: text, path: text, status: fc.nat({ max: 999 }), latency: duration, host: text, version: text, noResponse: text }, { requiredKeys: [] }),
    loss: fc.record({ stage: text, reason: text, count: u64 }, { requiredKeys: [] }),
    observation: fc.record({ probe: text, hook: text, side: fc.integer({ min: 0, max: 2 }) }, { requiredKeys: [] }),
    originalDestination: endpoint,
  },
  { requiredKeys: [] },
);

test('no encoder throws on any valid record, and protobuf round-trips', () => {
  const pb = new ProtobufEncoder();
  const json = new JsonEncoder();
  const ocsf = new OcsfEncoder({ productVersion: 'test' });
  fc.assert(
    fc.property(record, (r) => {
      const bytes = pb.encode(r);
      // The specialised encoder writes exactly what the generated code writes.
      assert.deepEqual(Buffer.from(bytes), Buffer.from(podflow.v1.FlowRecord.encode(r).finish()));
      const back = decodeFlowRecord(bytes);
      // The same record with frozen shared sub-messages (as the enricher and the decoders share them) takes the cached paths: identical bytes.
      const frozen = structuredClone(r);
      for (const e of [frozen.source, frozen.destination, frozen.originalDestination]) {
        if (e?.pod) frozenPod(e.pod);
        if (e?.service) Object.freeze(e.service);
      }
      for (const m of [frozen.transport, frozen.interface, frozen.observation]) if (m) Object.freeze(m);
      assert.deepEqual(Buffer.from(pb.encode(frozen)), Buffer.from(bytes));
      assert.deepEqual(Buffer.from(pb.encode(frozen)), Buffer.from(bytes));
      // Defaults vanish on the wire; the canonical JSON of both sides must agree.
      assert.deepEqual(toCanonicalJson(back), toCanonicalJson(r));
      const jsonLine = encodeCanonicalJson(r);
      assert.equal(JSON.stringify(JSON.parse(jsonLine)), jsonLine);
      assert.equal(json.encode(frozen), jsonLine);
      assert.equal(json.encodeLines([frozen, r, frozen]).toString(), `${jsonLine}\n${jsonLine}\n${jsonLine}\n`);
      assert.equal(typeof JSON.stringify(ocsf.toOcsf(r)), 'string');
      const line = formatHuman(r);
      assert.equal(typeof line, 'string');
    }),
    { numRuns: 500 },
  );
});

test('canonical JSON of random records equals json_format.MessageToDict of the same bytes', () => {
  const records = fc.sample(record, { numRuns: 150, seed: 42 });
  const pb = new ProtobufEncoder();
  // An all-default record encodes to zero bytes: nothing to hand over on a line.
  const nonEmpty = records.filter((r) => pb.encode(r).length > 0);
  const reference = jsonFormatReference(nonEmpty.map((r) => pb.encode(r)));
  assert.equal(reference.length, nonEmpty.length);
  nonEmpty.forEach((r, i) => assert.deepEqual(toCanonicalJson(r), reference[i], `record ${i}`));
});

test('any UTF-16 text, lone surrogates and control characters included, is escaped as JSON.stringify escapes it', () => {
  const units = fc.array(fc.nat({ max: 0xffff }), { maxLength: 10 }).map((codes) => String.fromCharCode(...codes));
  fc.assert(
    fc.property(units, units, (a, b) => {
      const q = (s: string): string => (s === '' ? '' : JSON.stringify(s));
      const line = encodeCanonicalJson({ id: a, http: { path: b }, source: { pod: { labels: { [a]: b } } } });
      const id = a === '' ? '' : `"id":${q(a)},`;
      const path = b === '' ? '{}' : `{"path":${q(b)}}`;
      assert.equal(line, `{${id}"source":{"pod":{"labels":{${JSON.stringify(a)}:${JSON.stringify(b)}}}},"http":${path}}`);
    }),
    { numRuns: 2000 },
  );
});
