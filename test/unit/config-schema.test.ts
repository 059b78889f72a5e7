import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { envName, OPTIONS } from '../../src/config/index.js';
import { KAFKA_COMPRESSIONS, KAFKA_ENCODINGS, OTLP_PROTOCOLS } from '../../src/config/schema.js';
import * as kafkaCodecs from '../../src/pipeline/sinks/kafka-codecs.js';
import * as kafkaMessage from '../../src/pipeline/sinks/kafka-message.js';
import * as otlpSink from '../../src/pipeline/sinks/otlp-sink.js';

test('the config accepts exactly the Kafka and OTLP sinks\' option values', () => {
  assert.deepEqual(KAFKA_COMPRESSIONS, kafkaCodecs.KAFKA_COMPRESSIONS);
  assert.deepEqual(KAFKA_ENCODINGS, kafkaMessage.KAFKA_ENCODINGS);
  assert.deepEqual(OTLP_PROTOCOLS, otlpSink.OTLP_PROTOCOLS);
});

test('every option is settable from the environment under a unique PODFLOW_* name', () => {
  const names = OPTIONS.map((o) => envName(o.path));
  assert.equal(new Set(names).size, names.length);
  for (const binding of ['PODFLOW_OUTPUT', 'PODFLOW_SINKS', 'PODFLOW_DURATION', 'PODFLOW_INTERFACES', 'PODFLOW_METRICS_ADDR', 'PODFLOW_METADATA_FILE',
    'PODFLOW_FILE_PATH', 'PODFLOW_KAFKA_BROKERS', 'PODFLOW_KAFKA_TOPIC', 'PODFLOW_OTLP_ENDPOINT']) {
    assert.ok(names.includes(binding), binding);
  }
});

test('README.md documents every option by YAML key and variable', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  for (const option of OPTIONS) {
    assert.ok(doc.includes(`\`${option.path.join('.')}\``), `YAML key ${option.path.join('.')} missing`);
    assert.ok(doc.includes(`\`${envName(option.path)}\``), `${envName(option.path)} missing`);
  }
});
