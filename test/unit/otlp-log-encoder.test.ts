// The OTLP log encoder against the SDK path it replaces: the same records
// emitted through the OpenTelemetry JS SDK's LoggerProvider (as OtlpSink did
// before) and serialized by the SDK's ProtobufLogsSerializer (what its OTLP log
// exporters send) must give exactly the bytes of OtlpLogEncoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import fc from 'fast-check';
import { eventNameOf, severityOf, toNumber, writeLogAttributes } from '../../src/pipeline/sinks/otlp-attributes.js';
import { OtlpLogEncoder } from '../../src/pipeline/sinks/otlp-log-encoder.js';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { httpRecord, knownRecords } from '../peers/flow-fixtures.js';
import { frozenPod, sampleRecords } from './pipeline-fixtures.js';

const RESOURCE = {
  'service.name': 'podflow', 'service.version': '1.2.3', 'service.instance.id': 'boot-1',
  'k8s.node.name': 'node-ä', 'host.name': 'node-ä', 'k8s.cluster.name': 'prod',
};
const SCOPE = { name: 'podflow', version: '1.2.3' };

interface Entry { record: FlowRecord; body: string | undefined; now: number }

/** The request the SDK sends for these records, emitted as OtlpSink emitted them through LoggerProvider. */
async function sdkRequest(entries: Entry[], resource: Record<string, string> = RESOURCE): Promise<Uint8Array> {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource: resourceFromAttributes(resource), processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger(SCOPE.name, SCOPE.version);
  for (const { record: r, body, now } of entries) {
    const attributes: AnyValueMap = {};
    writeLogAttributes(r, { attribute: (key, value) => { attributes[key] = value; } });
    const severity = severityOf(r);
    logger.emit({
      timestamp: r.time ? [toNumber(r.time.seconds), r.time.nanos ?? 0] : now,
      observedTimestamp: now,
      severityNumber: severity.number,
      severityText: severity.text,
      eventName: eventNameOf(r),
      body,
      attributes,
    });
  }
  await provider.forceFlush();
  const bytes = ProtobufLogsSerializer.serializeRequest(exporter.getFinishedLogRecords());
  await provider.shutdown();
  assert.ok(bytes);
  return bytes;
}

function encoded(encoder: OtlpLogEncoder, entries: Entry[]): Uint8Array {
  for (const { record, body, now } of entries) encoder.add(record, body, now);
  const batch = encoder.take();
  assert.ok(batch);
  assert.equal(batch.count, entries.length);
  return batch.bytes;
}

function assertSameBytes(ours: Uint8Array, sdk: Uint8Array, what: string): void {
  // Compared as hex, so a failure shows where the bytes part.
  assert.equal(Buffer.from(ours).toString('hex'), Buffer.from(sdk).toString('hex'), what);
}

test('the known records of every type: the bytes the SDK sends for them', async () => {
  const now = 1796000000123;
  const entries: Entry[] = [httpRecord('node-a'), ...knownRecords('node-a', 40), ...Object.values(sampleRecords())]
    .map((record, i) => ({ record, body: i % 3 === 2 ? undefined : `record ${i}`, now }));
  const encoder = new OtlpLogEncoder(RESOURCE, SCOPE);
  assertSameBytes(encoded(encoder, entries), await sdkRequest(entries), 'known records');
  // The encoder's buffers are reused after release: the next batch is just as exact.
  const again = entries.slice(0, 10);
  const first = encoder.take();
  assert.equal(first, undefined, 'nothing added since the last take');
  assertSameBytes(encoded(encoder, again), await sdkRequest(again), 'second batch');
});

test('edge cases: no time, 64-bit and negative numbers, integral seconds, long and non-ASCII strings, over 128 attributes', async () => {
  const labels = Object.fromEntries(Array.from({ length: 140 }, (_, i) => [`label-${i}`, `v${i}`]));
  const records: FlowRecord[] = [
    { id: 'no-time', type: 1 },
    { id: 'big', type: 1, traffic: { bytes: 2 ** 40 + 3, packets: Number.MAX_SAFE_INTEGER }, process: { cgroupId: 2 ** 63 - 1024 * 4096 } },
    { id: 'negative', type: 3, tcp: { srtt: { seconds: -2, nanos: -5 }, duration: { seconds: 1, nanos: 0 } } },
    { id: 'long', type: 9, time: { seconds: 1796000000, nanos: 999999999 }, http: { path: `/${'a'.repeat(200)}`, host: 'h'.repeat(20000), method: 'GET' } },
    { id: 'ünïcödé ✓ 🚀', type: 8, dns: { query: 'пример.рф', answers: ['10.0.0.1', '', '✓'.repeat(50)], rcode: 'NXDOMAIN' } },
    { id: 'labels', type: 1, source: { ip: '10.0.0.1', pod: { name: 'p', labels } }, destination: { ip: '10.0.0.2', pod: { name: 'q', labels: { 'app.kubernetes.io/name': 'ä' } } } },
    { id: 'old-time', type: 10, time: { seconds: -62135596800, nanos: 1 }, loss: { stage: 'ringbuf', reason: 'full', count: 7 } },
  ];
  const entries = records.map((record, i) => ({ record, body: i === 3 ? 'x'.repeat(70000) : i === 4 ? '' : 'line ✓', now: 1796000000000 + i }));
  const resource = { ...RESOURCE, 'k8s.cluster.name': 'c'.repeat(300) };
  assertSameBytes(encoded(new OtlpLogEncoder(resource, SCOPE), entries), await sdkRequest(entries, resource), 'edge cases');
});

test('frozen pods shared between records, as the enricher attaches them: encoded once per side, same bytes', async () => {
  const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, `v${i}`]));
  const web = frozenPod({ name: 'web-1', namespace: 'shop', uid: 'u1', labels: labels(3), workload: { kind: 'Deployment', name: 'web' } });
  const wide = frozenPod({ name: 'wide-1', namespace: 'shop', labels: labels(100), workload: { kind: 'StatefulSet', name: 'wide' } });
  const huge = frozenPod({ name: 'huge-1', namespace: 'shop', labels: labels(130) });
  const pairs = [[web, wide], [wide, web], [wide, wide], [huge, web], [web, huge], [web, web], [wide, wide], [huge, huge]];
  const entries: Entry[] = [];
  for (let round = 0; round < 3; round++) {
    pairs.forEach(([a, b], i) => entries.push({
      record: { id: `r${round}/${i}`, type: 1, time: { seconds: 1796000000, nanos: i }, source: { ip: '10.0.0.1', pod: a }, destination: { ip: '10.0.0.2', pod: b, service: { name: 's' } } },
      body: 'x', now: 1796000000000,
    }));
  }
  // The same pods unfrozen take the per-attribute path: the bytes must not differ either.
  const encoder = new OtlpLogEncoder(RESOURCE, SCOPE);
  assertSameBytes(encoded(encoder, entries), await sdkRequest(entries), 'frozen pods');
  const thawed = entries.map((e) => ({ ...e, record: structuredClone(e.record) }));
  assertSameBytes(encoded(encoder, thawed), await sdkRequest(entries), 'unfrozen copies');
});

const text = fc.string({ unit: 'grapheme', maxLength: 60 });
const u64 = fc.maxSafeNat();
const time = fc.record({ seconds: fc.integer({ min: -62135596800, max: 253402300799 }), nanos: fc.integer({ min: -999999999, max: 999999999 }) });
const endpoint = fc.record({
  ip: text, port: fc.nat({ max: 65535 }), node: text, hostNetwork: fc.boolean(), network: text,
  pod: fc.record({
    name: text, namespace: text, uid: text, container: text,
    labels: fc.dictionary(text, text, { maxKeys: 80 }),
    workload: fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet', 'Job', 'Other', ''), name: text }),
  }, { requiredKeys: [] }),
  service: fc.record({ name: text, namespace: text }, { requiredKeys: [] }),
}, { requiredKeys: [] });
const record: fc.Arbitrary<FlowRecord> = fc.record({
  id: text, time, startTime: time, conversationId: text, type: fc.integer({ min: 0, max: 11 }),
  source: endpoint, destination: endpoint,
  originalDestination: fc.record({ ip: text, port: fc.nat({ max: 65535 }), service: fc.record({ name: text }) }, { requiredKeys: [] }),
  transport: fc.record({ protocol: fc.constantFrom(0, 1, 6, 17, 58, 132, 99) as fc.Arbitrary<podflow.v1.Protocol>, ipVersion: fc.constantFrom(0, 4, 6) }),
  interface: fc.record({ name: text }), direction: fc.integer({ min: 0, max: 3 }),
  traffic: fc.record({ bytes: u64, packets: u64, bytesReceived: u64, packetsReceived: u64 }, { requiredKeys: [] }),
  tcp: fc.record({ flags: fc.nat({ max: 255 }), srtt: time, retransmits: fc.nat(), duration: time, state: text, failure: text }, { requiredKeys: [] }),
  process: fc.record({ pid: fc.nat(), command: text, cgroupId: u64, containerId: text }, { requiredKeys: [] }),
  drop: fc.record({ reason: text, code: fc.nat(), count: u64 }, { requiredKeys: [] }),
  dns: fc.record({ id: fc.nat({ max: 65535 }), query: text, qtype: text, rcode: text, answers: fc.array(text, { maxLength: 4 }), latency: time, truncated: fc.boolean() }, { requiredKeys: [] }),
  http: fc.record({ method: text, path: text, status: fc.nat({ max: 999 }), latency: time, host: text, version: text, noResponse: text }, { requiredKeys: [] }),
  loss: fc.record({ stage: text, reason: text, count: u64 }, { requiredKeys: [] }),
  observation: fc.record({ probe: text, hook: text, side: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: [] }),
}, { requiredKeys: [] });
const entry: fc.Arbitrary<Entry> = fc.record({
  record, body: fc.option(fc.string({ unit: 'grapheme', maxLength: 300 }), { nil: undefined }), now: fc.integer({ min: 1_000_000_000_000, max: 4_102_444_800_000 }),
});

test('random records: the bytes the SDK sends for them', async () => {
  // One encoder for every batch: buffers are reused across take() and release().
  const encoder = new OtlpLogEncoder(RESOURCE, SCOPE);
  await fc.assert(
    fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 12 }), async (entries) => {
      for (const { record: r, body, now } of entries) encoder.add(r, body, now);
      const batch = encoder.take();
      assert.ok(batch);
      assertSameBytes(batch.bytes, await sdkRequest(entries), 'random batch');
      encoder.release(batch);
    }),
    { numRuns: 300 },
  );
});

test('a batch past the initial buffer grows it and stays exact', async () => {
  const entries = knownRecords('node-big', 3000).map((record) => ({ record, body: 'b'.repeat(500), now: 1796000000000 }));
  const encoder = new OtlpLogEncoder(RESOURCE, SCOPE);
  const bytes = encoded(encoder, entries);
  assert.ok(bytes.length > 1024 * 1024, `${bytes.length} bytes`);
  assertSameBytes(bytes, await sdkRequest(entries), 'large batch');
});

test('attribute keys past the encoded-key bound (5,000 distinct label keys) are still written exactly', async () => {
  const entries = knownRecords('node-keys', 100).map((record, i) => {
    const labels = Object.fromEntries(Array.from({ length: 50 }, (_, j) => [`key-${i}-${j}`, `v${j}`]));
    return { record: { ...record, source: { ...record.source, pod: { name: `p${i}`, namespace: 'ns', labels } } }, body: undefined, now: 1796000000000 };
  });
  const encoder = new OtlpLogEncoder(RESOURCE, SCOPE);
  // Twice: the second pass finds the first 4,096 keys encoded and writes the rest anew.
  assertSameBytes(encoded(encoder, entries), await sdkRequest(entries), 'first pass');
  assertSameBytes(encoded(encoder, entries), await sdkRequest(entries), 'second pass');
});
