// The protobuf encoding checked by protoc, an independent implementation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
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
