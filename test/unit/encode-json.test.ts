// Canonical proto3 JSON, compared with Python's google.protobuf.json_format
// (the reference runtime) reading our protobuf bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationToJson, encodeCanonicalJson, timestampToJson, toCanonicalJson } from '../../src/proto/json.js';
import { ProtobufEncoder } from '../../src/proto/protobuf.js';
import { jsonFormatReference, sampleRecords } from './pipeline-fixtures.js';

test('every record type matches json_format.MessageToDict of the same bytes', () => {
  const encoder = new ProtobufEncoder();
  const records = Object.values(sampleRecords());
  const reference = jsonFormatReference(records.map((r) => encoder.encode(r)));
  records.forEach((record, i) => assert.deepEqual(toCanonicalJson(record), reference[i], `record ${record.id}`));
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
  assert.deepEqual(toCanonicalJson({}), {});
});

test('timestamp and duration edge cases', () => {
  assert.equal(timestampToJson(0, 0), '1970-01-01T00:00:00Z');
  assert.equal(timestampToJson(1, 10000), '1970-01-01T00:00:01.000010Z');
  assert.equal(timestampToJson(-1, 999999999), '1969-12-31T23:59:59.999999999Z');
  assert.equal(durationToJson(0, 0), '0s');
  assert.equal(durationToJson(1, 500000000), '1.500s');
  assert.equal(durationToJson(-1, -500000000), '-1.500s');
  assert.equal(durationToJson(0, -1000), '-0.000001s');
});
