// The record factory gives every record (and endpoint, Tcp, Dns) one shape:
// every field of the schema, in schema order. The decoders' text caches
// (IPv4 text, short byte strings) give the same text as making it each time,
// whatever collides in their slots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newDns, newEndpoint, newRecord, newTcp, Observations, transportOf } from '../../src/pipeline/record-factory.js';
import reflectRoot from '../../src/proto/gen/flow.reflect.js';
import { podflow } from '../../src/proto/gen/flow.js';
import { formatIp } from '../../src/probes/shared/ip.js';
import { TextCache } from '../../src/probes/shared/text-cache.js';

const fieldsOf = (type: string): string[] => reflectRoot.lookupType(type).fieldsArray.slice().sort((a, b) => a.id - b.id).map((f) => f.name);

test('records, endpoints, Tcp and Dns have every field of the schema, in field-number order', () => {
  reflectRoot.resolveAll();
  assert.deepEqual(Object.keys(newRecord(podflow.v1.RecordType.FLOW, 'n')), fieldsOf('podflow.v1.FlowRecord'));
  assert.deepEqual(Object.keys(newEndpoint('10.0.0.1', 80)), fieldsOf('podflow.v1.Endpoint'));
  assert.deepEqual(Object.keys(newTcp()), fieldsOf('podflow.v1.Tcp'));
  assert.deepEqual(Object.keys(newDns(1, 'a', 'A', 'NOERROR', [], false)), fieldsOf('podflow.v1.Dns'));
});

test('transports and observations are shared frozen objects per value', () => {
  assert.equal(transportOf(6, 4), transportOf(6, 4));
  assert.deepEqual(transportOf(17, 6), { protocol: 17, ipVersion: 6 });
  assert.notEqual(transportOf(6, 4), transportOf(6, 6));
  assert.ok(Object.isFrozen(transportOf(6, 4)));
  const o = new Observations('http');
  assert.equal(o.of('tc'), o.of('tc'));
  assert.equal(o.of('tc', podflow.v1.Side.CLIENT), o.of('tc', podflow.v1.Side.CLIENT));
  assert.deepEqual(o.of('socket_filter', podflow.v1.Side.SERVER), { probe: 'http', hook: 'socket_filter', side: podflow.v1.Side.SERVER });
  assert.equal(o.of('tc').hook, 'tc', 'a second hook does not replace the first');
});

test('IPv4 text from the cache equals the dotted quad, for addresses that collide in its slots', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), { minLength: 1, maxLength: 200 }), (addrs) => {
      for (let round = 0; round < 2; round++) {
        for (const a of addrs) assert.equal(formatIp(Uint8Array.from(a), 0, 4), a.join('.'));
      }
    }),
    { numRuns: 300 },
  );
});

test('a text cache gives each byte string its own text, with 4 slots for 200 strings and past maxLength', () => {
  let presented = 0;
  const cache = new TextCache(4, 8, (buf, start, end) => (presented++, buf.toString('latin1', start, end)));
  const words = Array.from({ length: 200 }, (_, i) => `w${i}`).concat(['longer than eight']);
  for (let round = 0; round < 3; round++) {
    for (const w of words) {
      const buf = Buffer.from(`..${w}..`, 'latin1');
      assert.equal(cache.text(buf, 2, 2 + w.length), w);
    }
  }
  assert.ok(presented > words.length, 'collisions present the text again');
  let once = 0;
  const fresh = new TextCache(4, 8, (b, start, end) => (once++, b.toString('latin1', start, end)));
  const buf = Buffer.from('w7', 'latin1');
  for (let i = 0; i < 3; i++) assert.equal(fresh.text(buf, 0, 2), 'w7');
  assert.equal(once, 1, 'a repeated string is presented once');
  assert.throws(() => new TextCache(3, 8, () => ''), /power of two/);
});
