// DNS decoding in user space: names, presentation escaping, query/response
// pairing, timeouts, bounded pending queries, and service translation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { ipBytes } from '../../src/enrich/ip.js';
import { decodeDnsEvent, type DnsMessage } from '../../src/probes/dns/decode.js';
import { DnsEvent as L, FlowKey as T, SvcOrig as O } from '../../src/probes/shared/layouts.js';
import { writeOrig, writeTuple } from './event-fixtures.js';
import { DnsMatcher } from '../../src/probes/dns/matcher.js';
import { conversationId } from '../../src/probes/shared/conversation.js';
import { presentName, qtypeName, rcodeName } from '../../src/probes/dns/names.js';
import { encodeDnsPorts } from '../../src/probes/dns/plan.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const ctx = { clock: new MonotonicClock(), nodeName: 'node-a', interfaces: new InterfaceIndex() };

function message(over: Partial<DnsMessage>): DnsMessage {
  const m: DnsMessage = {
    tsNs: 1_000_000_000, ifindex: 7, hook: 'tc', ipVersion: 4, protocol: 17,
    saddr: '10.0.0.2', daddr: '10.0.0.53', sport: 40000, dport: 53,
    id: 0x1234, response: false, rcode: 0, qtype: 1, query: 'backend.default.svc', truncated: false, answers: [],
    conversationId: '',
    ...over,
  };
  const [s, d] = [ipBytes(m.saddr)!, ipBytes(m.daddr)!];
  m.conversationId = conversationId(4, m.protocol, s.bytes, 0, m.sport, d.bytes, 0, m.dport);
  return m;
}

function response(q: DnsMessage, over: Partial<DnsMessage>): DnsMessage {
  return message({ ...q, saddr: q.daddr, daddr: q.saddr, sport: q.dport, dport: q.sport, response: true, asked: undefined, ...over });
}

test('names: qtype and rcode names, unnamed numbers in RFC 3597 form', () => {
  assert.equal(qtypeName(1), 'A');
  assert.equal(qtypeName(28), 'AAAA');
  assert.equal(qtypeName(999), 'TYPE999');
  assert.equal(rcodeName(0), 'NOERROR');
  assert.equal(rcodeName(3), 'NXDOMAIN');
  assert.equal(rcodeName(15), 'RCODE15');
});

test('presentName escapes control bytes, spaces, backslashes and high bytes as \\DDD', () => {
  const b = Buffer.from('a\x01b c\\d\xffe', 'latin1');
  assert.equal(presentName(b, 0, b.length), 'a\\001b\\032c\\092d\\255e');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 255 }), (bytes) => {
      const s = presentName(Buffer.from(bytes), 0, bytes.length);
      assert.match(s, /^[\x21-\x7e]*$/);
    }),
  );
});

test('decodeDnsEvent reads the kernel layout and refuses impossible events', () => {
  const ev = Buffer.alloc(L.size);
  ev.writeUInt32LE(5, L.ts_ns);
  writeTuple(ev, L.tuple, { saddr: '10.0.0.53', daddr: '10.0.0.2', sport: 53, dport: 40000, protocol: 17 });
  ev.writeUInt16LE(0xbeef, L.id);
  ev.writeUInt16LE(0x8183, L.flags);
  ev.writeUInt16LE(1, L.qtype);
  const name = Buffer.from('.www.example.com', 'latin1');
  name.copy(ev, L.qname);
  ev.writeUInt16LE(name.length, L.name_len);
  ev[L.answer_count] = 1;
  ev[L.answer_version] = 4;
  Buffer.from([192, 0, 2, 1]).copy(ev, L.answers);
  const m = decodeDnsEvent(ev, 0);
  assert.ok(m);
  assert.equal(m.query, 'www.example.com');
  assert.equal(m.id, 0xbeef);
  assert.equal(m.response, true);
  assert.equal(m.rcode, 3);
  assert.deepEqual(m.answers, ['192.0.2.1']);
  assert.equal(m.saddr, '10.0.0.53');
  assert.equal(m.dport, 40000);
  ev[L.answer_count] = 0;
  const noAnswer = decodeDnsEvent(ev, 0);
  assert.deepEqual(noAnswer?.answers, []);
  assert.ok(Object.isFrozen(noAnswer?.answers), 'shared between messages: frozen');

  ev[L.tuple + T.ip_version] = 5;
  assert.equal(decodeDnsEvent(ev, 0), undefined);
  ev[L.tuple + T.ip_version] = 4;
  ev[L.answer_count] = 9;
  assert.equal(decodeDnsEvent(ev, 0), undefined);
});

test('a query and its response make one record with latency, answers and rcode name', () => {
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  const q = message({});
  m.add(q, out);
  m.add({ ...q, ifindex: 9 }, out); // the same query on a second interface
  assert.equal(out.length, 0);
  m.add(response(q, { tsNs: q.tsNs + 12_500_000, answers: ['10.1.2.3'], ifindex: 9 }), out);
  assert.equal(out.length, 1);
  const r = out[0];
  assert.equal(r?.type, podflow.v1.RecordType.DNS);
  assert.deepEqual(r?.dns, { id: 0x1234, query: 'backend.default.svc', qtype: 'A', rcode: 'NOERROR', answers: ['10.1.2.3'], truncated: false, latency: { seconds: 0, nanos: 12_500_000 } });
  assert.deepEqual(r?.source, newEndpoint('10.0.0.2', 40000));
  assert.deepEqual(r?.destination, newEndpoint('10.0.0.53', 53));
  assert.equal(r?.interface?.index, 7);
  assert.deepEqual(r?.observation, { probe: 'dns', hook: 'tc', side: podflow.v1.Side.UNKNOWN });
  assert.equal(r?.originalDestination, undefined);
  // The response seen again on the other interface finds nothing waiting.
  m.add(response(q, { tsNs: q.tsNs + 13_000_000 }), out);
  assert.equal(out.length, 1);
  assert.equal(m.counters()['dns:unmatched_response'], 1);
});

test('a response pairs only when its question is the one asked (0x20 case aside); another question leaves the query to time out under its own name', () => {
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  // A pod asks its own server for a name carrying data; the server answers with an innocent question.
  const exfil = message({ query: 'c2VjcmV0.exfil.example' });
  m.add(exfil, out);
  m.add(response(exfil, { tsNs: exfil.tsNs + 1_000_000, query: 'www.google.com', answers: ['192.0.2.1'] }), out);
  m.add(response(exfil, { tsNs: exfil.tsNs + 2_000_000, qtype: 28 }), out);
  assert.equal(out.length, 0);
  assert.deepEqual(m.counters(), { 'dns:unmatched_response': 0, 'dns:mismatched_response': 2 });
  m.expire(exfil.tsNs + 5_000_000_000, out);
  assert.deepEqual(out.map((r) => [r.dns?.query, r.dns?.rcode]), [['c2VjcmV0.exfil.example', 'TIMEOUT']]);

  // A resolver randomising the case of its question (0x20) gets it back as sent; either case pairs, and the record keeps the query's.
  const mixed = message({ id: 7, query: 'BaCkEnD.default.svc' });
  m.add(mixed, out);
  m.add(response(mixed, { tsNs: mixed.tsNs + 1_000_000, query: 'backend.DEFAULT.svc', answers: ['10.1.2.3'] }), out);
  assert.deepEqual(out.slice(1).map((r) => [r.dns?.query, r.dns?.rcode, r.dns?.answers]), [['BaCkEnD.default.svc', 'NOERROR', ['10.1.2.3']]]);
});

test('queries apart in one of protocol, client address, client port or id wait apart and pair with their own response', () => {
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  const base = message({});
  const queries = [
    base,
    message({ protocol: 6 }),
    message({ saddr: '10.0.0.3' }),
    message({ sport: 40001 }),
    message({ id: 0x1235 }),
    message({ ipVersion: 6, saddr: 'fd00::2', daddr: 'fd00::53' }),
    message({ ipVersion: 6, saddr: 'fd00::3', daddr: 'fd00::53' }),
  ];
  for (const q of queries) m.add(q, out);
  assert.equal(m.pending, queries.length);
  queries.forEach((q, i) => m.add(response(q, { tsNs: q.tsNs + 1000 * (i + 1) }), out));
  assert.equal(out.length, queries.length);
  assert.deepEqual(out.map((r) => [r.source?.ip, r.source?.port, r.transport?.protocol, r.dns?.id, r.dns?.latency?.nanos]), queries.map((q, i) => [q.saddr, q.sport, q.protocol, q.id, 1000 * (i + 1)]));
  assert.equal(m.pending, 0);
});

test('a query answered from another address (DNAT) names the backend and the original destination', () => {
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  const q = message({ daddr: '10.96.0.10' });
  m.add(q, out);
  m.add(response(q, { saddr: '10.244.1.5', tsNs: q.tsNs + 1000, rcode: 3 }), out);
  assert.equal(out[0]?.destination?.ip, '10.244.1.5');
  assert.deepEqual(out[0]?.originalDestination, newEndpoint('10.96.0.10', 53));
  assert.equal(out[0]?.dns?.rcode, 'NXDOMAIN');
});

/** A query event from 10.0.0.2:40000 to `daddr`:53 over UDP; `orig` as the kernel writes it from the svc map. */
function queryEvent(daddr: string, orig?: { ip: string; port: number }): Buffer {
  const ev = Buffer.alloc(L.size);
  writeTuple(ev, L.tuple, { saddr: '10.0.0.2', daddr, sport: 40000, dport: 53, protocol: 17 });
  ev.writeUInt16LE(0x1234, L.id);
  if (orig) writeOrig(ev, L.orig, orig);
  return ev;
}

test('the original destination the kernel wrote into a query (orig) becomes the record\'s originalDestination', () => {
  const q = decodeDnsEvent(queryEvent('10.244.1.5', { ip: '10.96.0.10', port: 53 }), 0);
  assert.ok(q);
  assert.deepEqual(q.asked, { ip: '10.96.0.10', port: 53 });
  assert.equal(q.conversationId, message({ daddr: '10.244.1.5' }).conversationId);
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  m.add(q, out);
  m.add(response(q, { tsNs: q.tsNs + 1000 }), out);
  assert.deepEqual(out[0]?.destination, newEndpoint('10.244.1.5', 53));
  assert.deepEqual(out[0]?.originalDestination, newEndpoint('10.96.0.10', 53));

  // An IPv6 socket destination is read as one (the kernel writes 16 bytes and version 6).
  assert.deepEqual(decodeDnsEvent(queryEvent('10.244.1.5', { ip: 'fd00:96::a', port: 5353 }), 0)?.asked, { ip: 'fd00:96::a', port: 5353 });
});

test('orig absent, not a version, on a response, or the destination itself: no originalDestination', () => {
  assert.equal(decodeDnsEvent(queryEvent('10.244.1.5'), 0)?.asked, undefined, 'svc had nothing for the socket: orig all zero');
  const bad = queryEvent('10.244.1.5', { ip: '10.96.0.10', port: 53 });
  bad[L.orig + O.ip_version] = 5;
  assert.equal(decodeDnsEvent(bad, 0)?.asked, undefined);
  const resp = queryEvent('10.244.1.5', { ip: '10.96.0.10', port: 53 });
  resp.writeUInt16LE(0x8180, L.flags);
  assert.equal(decodeDnsEvent(resp, 0)?.asked, undefined, 'only queries carry the socket destination');

  const q = decodeDnsEvent(queryEvent('10.244.1.5', { ip: '10.244.1.5', port: 53 }), 0);
  assert.ok(q);
  const m = new DnsMatcher(ctx, { timeoutMs: 5000, maxPending: 10 });
  const out: FlowRecord[] = [];
  m.add(q, out);
  m.add(response(q, { tsNs: q.tsNs + 1000 }), out);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.originalDestination, undefined, 'the socket asked for the backend it reached');
});

test('queries without a response time out with rcode TIMEOUT; the pending set is bounded', () => {
  const m = new DnsMatcher(ctx, { timeoutMs: 100, maxPending: 2 });
  const out: FlowRecord[] = [];
  m.add(message({ id: 1, tsNs: 1e9 }), out);
  m.add(message({ id: 2, tsNs: 1e9 + 50e6 }), out);
  m.expire(1e9 + 99e6, out);
  assert.equal(out.length, 0);
  m.expire(1e9 + 100e6, out);
  assert.equal(out.length, 1);
  assert.equal(out[0]?.dns?.rcode, 'TIMEOUT');
  assert.equal(out[0]?.dns?.id, 1);
  assert.equal(out[0]?.dns?.latency, undefined);
  // No answers: the one shared empty array, frozen so that no record can change another's.
  assert.deepEqual(out[0]?.dns?.answers, []);
  assert.ok(Object.isFrozen(out[0]?.dns?.answers));
  m.add(message({ id: 3, tsNs: 1e9 + 60e6 }), out);
  m.add(message({ id: 4, tsNs: 1e9 + 70e6 }), out); // over maxPending: id 2 reported early
  assert.equal(out.length, 2);
  assert.equal(out[1]?.dns?.id, 2);
  assert.deepEqual(m.losses().find((l) => l.reason === 'dns:pending_full')?.count, 1);
  m.stop();
  assert.deepEqual(m.losses().find((l) => l.reason === 'dns:pending_at_stop')?.count, 2);
  assert.equal(m.pending, 0);
  // After a stop, as before it: bounded, paired, timed out, oldest first.
  out.length = 0;
  for (const id of [5, 6, 7]) m.add(message({ id, tsNs: 2e9 + id }), out);
  assert.deepEqual(out.map((r) => [r.dns?.id, r.dns?.rcode]), [[5, 'TIMEOUT']]);
  assert.equal(m.pending, 2);
  const q7 = message({ id: 7, tsNs: 2e9 + 7 });
  m.add(response(q7, { tsNs: q7.tsNs + 1e6 }), out);
  assert.equal(m.pending, 1);
  m.expire(3e9, out);
  assert.deepEqual(out.map((r) => [r.dns?.id, r.dns?.rcode]), [[5, 'TIMEOUT'], [7, 'NOERROR'], [6, 'TIMEOUT']]);
  assert.equal(m.pending, 0);
  m.expire(4e9, out);
  assert.equal(out.length, 3);
});

test('DNS ports configuration is checked with a clear error', () => {
  assert.deepEqual([...encodeDnsPorts([53, 5353])], [53, 0, 0xe9, 0x14, 0, 0, 0, 0]);
  assert.throws(() => encodeDnsPorts([]), /expected 1 to 4 ports/);
  assert.throws(() => encodeDnsPorts([1, 2, 3, 4, 5]), /expected 1 to 4 ports/);
  assert.throws(() => encodeDnsPorts([70000]), /'70000' is not a port/);
});
