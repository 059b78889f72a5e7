import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { conversationId } from '../../src/probes/shared/conversation.js';
import { ipBytes } from '../../src/enrich/ip.js';
import { formatIp } from '../../src/probes/shared/ip.js';
import { connectFailure, tcpStateName } from '../../src/probes/shared/names.js';

/** conversationId of two endpoints given as text (address bytes through the one parser). */
function conversationIdOf(protocol: number, ipA: string, portA: number, ipB: string, portB: number): string {
  const a = ipBytes(ipA)!;
  const b = ipBytes(ipB)!;
  return conversationId(a.ipVersion, protocol, a.bytes, 0, portA, b.bytes, 0, portB);
}

const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const port = fc.integer({ min: 0, max: 65535 });
const proto = fc.constantFrom(1, 6, 17, 58);

test('conversationId is equal for both directions (IPv4 and IPv6)', () => {
  for (const [addr, version] of [[v4, 4], [v6, 6]] as const) {
    fc.assert(
      fc.property(proto, addr, port, addr, port, (p, a, ap, b, bp) => {
        assert.equal(conversationId(version, p, a, 0, ap, b, 0, bp), conversationId(version, p, b, 0, bp, a, 0, ap));
      }),
    );
  }
});

test('conversationId reads the addresses at the given offsets', () => {
  const buf = Uint8Array.from([9, 9, 10, 0, 0, 1, 7, 10, 0, 0, 2]);
  assert.equal(conversationId(4, 6, buf, 2, 80, buf, 7, 40000), conversationIdOf(6, '10.0.0.1', 80, '10.0.0.2', 40000));
});

test('conversationId differs when any part of the 5-tuple differs', () => {
  const base = conversationIdOf(6, '10.0.0.1', 1234, '10.0.0.2', 80);
  assert.equal(base.length, 14);
  assert.match(base, /^[0-9a-f]{14}$/);
  const others = [
    conversationIdOf(17, '10.0.0.1', 1234, '10.0.0.2', 80),
    conversationIdOf(6, '10.0.0.1', 1235, '10.0.0.2', 80),
    conversationIdOf(6, '10.0.0.1', 1234, '10.0.0.3', 80),
    conversationIdOf(6, '10.0.0.1', 80, '10.0.0.2', 1234),
    conversationIdOf(6, '::ffff:10.0.0.1', 1234, '::ffff:10.0.0.2', 80),
  ];
  for (const o of others) assert.notEqual(o, base);
  assert.equal(new Set(others).size, others.length);
});

test('ipBytes (the one text-to-bytes parser) refuses what is not an address', () => {
  for (const bad of ['10.0.0.256', '10.0.0', 'fd00:::1', '1:2:3:4:5:6:7:8:9', 'host.example', '']) assert.equal(ipBytes(bad), null, bad);
  assert.deepEqual(ipBytes('::ffff:10.0.0.1'), ipBytes('::FFFF:a00:1'));
});

test('formatIp writes IPv6 as WHATWG URL (RFC 5952) does, and ipBytes reads it back', () => {
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const { bytes } = ipBytes(text)!;
      const formatted = formatIp(bytes, 0, 6);
      const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      if (!canonical.includes('.')) assert.equal(formatted, canonical);
      assert.deepEqual(ipBytes(formatted)!.bytes, bytes);
    }),
  );
  assert.equal(formatIp(ipBytes('fd00:232::1')!.bytes, 0, 6), 'fd00:232::1');
  assert.equal(formatIp(ipBytes('::')!.bytes, 0, 6), '::');
  assert.equal(formatIp(ipBytes('1:0:0:2:0:0:0:3')!.bytes, 0, 6), '1:0:0:2::3');
  assert.equal(formatIp(Uint8Array.from([10, 232, 1, 2]), 0, 4), '10.232.1.2');
});

test('TCP state and connect failure names', () => {
  assert.equal(tcpStateName(1), 'ESTABLISHED');
  assert.equal(tcpStateName(12), 'NEW_SYN_RECV');
  assert.equal(tcpStateName(99), 'STATE_99');
  assert.equal(connectFailure(111), 'REFUSED');
  assert.equal(connectFailure(110), 'TIMEOUT');
  assert.equal(connectFailure(113), 'UNREACHABLE');
  assert.equal(connectFailure(101), 'UNREACHABLE');
  assert.equal(connectFailure(0), 'ABORTED');
  assert.equal(connectFailure(13), 'EACCES');
});
