import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseByteSize, parseDuration, parseHostPort } from '../../src/config/index.js';

test('durations: every unit combination adds up', () => {
  fc.assert(fc.property(fc.nat(99), fc.nat(59), fc.nat(59), fc.nat(999), (h, m, s, ms) => {
    assert.equal(parseDuration(`${h}h${m}m${s}s${ms}ms`), ((h * 60 + m) * 60 + s) * 1000 + ms);
  }));
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('250ms'), 250);
});

test('durations: anything else is rejected, never guessed', () => {
  for (const bad of ['', '10', 's', '10 s', '-1s', '1d', '1s 2s', 'ten seconds', '1e3ms']) assert.equal(parseDuration(bad), undefined, bad);
});

test('sizes: binary and decimal units', () => {
  assert.equal(parseByteSize('256MiB'), 256 * 1024 ** 2);
  assert.equal(parseByteSize('10MB'), 10e6);
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize('1.5KiB'), 1536);
  for (const bad of ['', 'MiB', '10 parsecs', '-1MiB']) assert.equal(parseByteSize(bad), undefined, bad);
});

test('host:port: names, IPv4, bracketed IPv6; nothing without a valid port', () => {
  assert.deepEqual(parseHostPort('kafka-0.kafka.svc:9092'), { host: 'kafka-0.kafka.svc', port: 9092 });
  assert.deepEqual(parseHostPort('10.0.0.5:9092'), { host: '10.0.0.5', port: 9092 });
  assert.deepEqual(parseHostPort('[fd00::5]:9092'), { host: 'fd00::5', port: 9092 });
  for (const bad of ['kafka', 'kafka:', ':9092', 'kafka:0', 'kafka:65536', 'fd00::5:9092', '[10.0.0.1]:9092', 'bad_host:1', 'http://kafka:9092']) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});
