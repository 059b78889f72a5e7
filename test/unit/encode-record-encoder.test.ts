// createRecordEncoder: the one place a format name becomes an encoder, used by
// the stdout, file and Kafka sinks and the observe socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHuman } from '../../src/proto/human.js';
import { encodeCanonicalJson } from '../../src/proto/json.js';
import { OcsfEncoder } from '../../src/proto/ocsf.js';
import { decodeDelimitedFlowRecords, decodeFlowRecord } from '../../src/proto/protobuf.js';
import { createRecordEncoder, LINE_FORMATS, RECORD_FORMATS } from '../../src/proto/record-encoder.js';
import { observeEncoder, OBSERVE_FORMATS } from '../../src/agent/observe-format.js';
import { VERSION } from '../../src/agent/version.js';
import { sampleRecords } from './pipeline-fixtures.js';

const records = Object.values(sampleRecords());

test('each text format is the encoder of its module; protobuf plain and delimited decode back', () => {
  const human = createRecordEncoder('human', { productVersion: '1.2.3' });
  const json = createRecordEncoder('json', { productVersion: '1.2.3' });
  const ocsf = createRecordEncoder('ocsf', { productVersion: '1.2.3' });
  const reference = new OcsfEncoder({ productVersion: '1.2.3' });
  const protobuf = createRecordEncoder('protobuf', { productVersion: '1.2.3' });
  const delimited = createRecordEncoder('protobuf', { productVersion: '1.2.3', delimited: true });
  for (const record of records) {
    assert.equal(human(record), formatHuman(record));
    assert.equal(json(record), encodeCanonicalJson(record));
    assert.equal(ocsf(record), reference.encode(record));
    assert.equal(encodeCanonicalJson(decodeFlowRecord(protobuf(record))), encodeCanonicalJson(record));
  }
  const framed = Buffer.concat(records.map((r) => delimited(r)));
  assert.deepEqual(decodeDelimitedFlowRecords(framed).map(encodeCanonicalJson), records.map(encodeCanonicalJson));
  assert.deepEqual(RECORD_FORMATS, [...LINE_FORMATS, 'protobuf']);
});

test('an unknown format names itself and the formats there are', () => {
  assert.throws(() => createRecordEncoder('yaml' as 'json', { productVersion: 'x' }), /unknown record format "yaml": expected one of human, json, ocsf, protobuf/);
});

test('observe offers the same line formats as the sinks, plus table', () => {
  assert.deepEqual(OBSERVE_FORMATS, ['human', 'json', 'ocsf', 'table']);
  const ocsf = new OcsfEncoder({ productVersion: VERSION });
  for (const record of records) {
    assert.equal(observeEncoder('human')(record), formatHuman(record));
    assert.equal(observeEncoder('ocsf')(record), ocsf.encode(record));
  }
});
