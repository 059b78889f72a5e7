// The dns and http probes of the packet object's TC programs under
// BPF_PROG_TEST_RUN, each loaded with only that probe enabled (the socket-filter
// program shares their parser; TEST_RUN hands socket filters the packet from
// the IP header, unlike a real AF_PACKET socket, so it is tested with real
// traffic in l7-dns.test.ts): crafted packets give the
// events they should, malformed ones (random bytes, truncated headers,
// compression loops, lying lengths) pass the verifier and never give garbage.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { BpfObject, RingBufferConsumer } from 'libbpf-ts';
import { decodeDnsEvent, type DnsMessage } from '../../src/probes/dns/decode.js';
import { DnsEvent, HttpConn, HttpEvent, L7_COUNTERS, SvcKey, SvcOrig } from '../../src/probes/shared/layouts.js';
import { PendingExchanges } from '../../src/probes/http/pending.js';
import { formatHuman } from '../../src/proto/human.js';
import { decodeHttpEvent } from '../../src/probes/http/decode.js';
import { encodeDnsPorts } from '../../src/probes/dns/plan.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { dnsMessage, ip, tcp, tcpDns, udp, wireName } from './l7-packets.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const ctx = { clock: new MonotonicClock(), nodeName: 'n', interfaces: new InterfaceIndex() };

/** The packet object loaded with one L7 probe enabled, and the raw records of that probe's ring buffer. */
class Harness {
  readonly obj: BpfObject;
  readonly #probe: 'dns' | 'http';

  constructor(probe: 'dns' | 'http', configure?: (obj: BpfObject) => void) {
    this.obj = BpfObject.open(BUILD + 'packet.bpf.o');
    this.#probe = probe;
    this.obj.setGlobal(`packet_${probe}`, 1);
    configure?.(this.obj);
    this.obj.load();
  }

  /** Runs `prog` (packet_tc_ingress, packet_tc_egress) on each packet and returns the events they produced. */
  run(prog: string, ...packets: Buffer[]): Promise<Buffer[]> {
    return this.runInTurn(packets.map((packet) => [prog, 0, packet]));
  }

  /**
   * Runs each [program, ifindex the packet came in by (__sk_buff ingress_ifindex, at offset 36), packet] right
   * after the one before, with no turn of the event loop in between (which gives the scheduler a chance to move
   * this thread to another CPU), and returns their events.
   */
  runInTurn(steps: readonly (readonly [prog: string, ifindex: number, packet: Buffer])[]): Promise<Buffer[]> {
    const ctx = Buffer.alloc(40);
    for (const [prog, ifindex, data] of steps) {
      ctx.writeUInt32LE(ifindex, 36);
      const r = this.obj.program(prog).testRun({ data, ctx });
      // TC_ACT_UNSPEC (-1, TCX_NEXT): observe only, the programs after this one still run.
      assert.equal(r.retval | 0, -1, `${prog} must hand every packet on`);
    }
    return this.#drain();
  }

  /**
   * The events the ring buffer holds: those of the runs (and sweeps) since the last drain, each committed
   * by the time its testRun returned. A consumer started and stopped at once hands over every one of them
   * (stop() drains the ring), however late its thread gets to run; waiting for a quiet spell instead
   * (100 ms without an event) cut runs short on a loaded machine.
   */
  async #drain(): Promise<Buffer[]> {
    const events: Buffer[] = [];
    const consumer = new RingBufferConsumer(this.obj.map(`${this.#probe}_events`), (batch, offsets, count) => {
      for (let i = 0; i < count; i++) events.push(Buffer.from(batch.subarray(offsets[i], offsets[i + 1])));
    });
    consumer.start();
    consumer.stop();
    // Handed over through the event loop after stop(); stats() counts what the thread handed over.
    const deadline = Date.now() + 60_000;
    while (events.length < consumer.stats().records) {
      if (Date.now() > deadline) assert.fail(`${events.length} of the ${consumer.stats().records} events handed over arrived`);
      await sleep(5);
    }
    assert.equal(consumer.stats().droppedAtStop, 0, 'every event found a batch');
    return events;
  }

  counter(name: (typeof L7_COUNTERS)[number]): number {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(L7_COUNTERS.indexOf(name));
    const map = this.obj.map('l7_counters');
    const v = map.lookup(key);
    return v ? map.perCpuValues(v).reduce((n, b) => n + Number(b.readBigUInt64LE(0)), 0) : 0;
  }

  close(): void {
    this.obj.close();
  }
}

let dns: Harness;
let http: Harness;
/** http with flows and dns enabled too: the three share the ingress program's note for the egress one. */
let httpAmongAll: Harness;

before(() => {
  dns = new Harness('dns');
  http = new Harness('http');
  httpAmongAll = new Harness('http', (obj) => {
    obj.setGlobal('packet_flows', 1);
    obj.setGlobal('packet_dns', 1);
  });
});

after(() => {
  dns?.close();
  http?.close();
  httpAmongAll?.close();
});

function decodeOne(events: Buffer[]): DnsMessage {
  assert.equal(events.length, 1, `expected one event, got ${events.length}`);
  const e = events[0] ?? Buffer.alloc(0);
  assert.equal(e.length >= DnsEvent.size, true);
  const m = decodeDnsEvent(e, 0);
  assert.ok(m, 'the event decodes');
  return m;
}

const A = (a: number[]) => ({ type: 1, rdata: Buffer.from(a) });

test('dns: a UDP query and a response with CNAME, A and AAAA answers', async () => {
  const q = dnsMessage({ id: 0x4242, flags: 0x0100, qname: wireName('www.example.com'), qtype: 1 });
  const m = decodeOne(await dns.run('packet_tc_egress', ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 53, q))));
  assert.deepEqual(
    { id: m.id, response: m.response, query: m.query, qtype: m.qtype, truncated: m.truncated, saddr: m.saddr, sport: m.sport, dport: m.dport, protocol: m.protocol, hook: m.hook },
    { id: 0x4242, response: false, query: 'www.example.com', qtype: 1, truncated: false, saddr: '10.237.0.2', sport: 40000, dport: 53, protocol: 17, hook: 'tc' },
  );

  const cname = { type: 5, rdata: wireName('web.example.com') };
  const aaaa = { type: 28, rdata: Buffer.from('fd000237000000000000000000000005', 'hex'), owner: wireName('web.example.com') };
  const resp = dnsMessage({ id: 0x4242, flags: 0x8180, qname: wireName('www.example.com'), qtype: 1, answers: [cname, A([10, 237, 0, 7]), aaaa, A([10, 237, 0, 8])] });
  const r = decodeOne(await dns.run('packet_tc_ingress', ip('10.237.0.53', '10.237.0.2', 17, udp(53, 40000, resp))));
  assert.equal(r.response, true);
  assert.equal(r.rcode, 0);
  assert.deepEqual(r.answers, ['10.237.0.7', 'fd00:237::5', '10.237.0.8']);
});

test('dns: over TCP and IPv6, NXDOMAIN', async () => {
  const resp = dnsMessage({ id: 7, flags: 0x8183, qname: wireName('nope.example'), qtype: 28 });
  const r = decodeOne(await dns.run('packet_tc_ingress', ip('fd00:237::53', 'fd00:237::2', 6, tcp(53, 41000, 1, tcpDns(resp)))));
  assert.deepEqual([r.protocol, r.ipVersion, r.rcode, r.qtype, r.query, r.saddr], [6, 6, 3, 28, 'nope.example', 'fd00:237::53']);
  // A TCP segment without payload (an ACK) is not DNS and not counted as malformed.
  const before = dns.counter('dns:malformed');
  assert.equal((await dns.run('packet_tc_ingress', ip('10.237.0.53', '10.237.0.2', 6, tcp(53, 41000, 1, Buffer.alloc(0), 0x10)))).length, 0);
  assert.equal(dns.counter('dns:malformed'), before);
  // Other ports are not looked at.
  assert.equal((await dns.run('packet_tc_egress', ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 54, dnsMessage({ id: 9, flags: 0x0100, qname: wireName('a.b'), qtype: 1 }))))).length, 0);
});

test('dns over TCP: every message of a segment (RFC 7766 pipelining), a length sent apart pairs with its message, the rest is counted lost', async () => {
  const query = (id: number, name: string) => dnsMessage({ id, flags: 0x0100, qname: wireName(name), qtype: id % 2 ? 1 : 28 });
  const seg = (sport: number, seq: number, payload: Buffer) => ip('10.237.0.2', '10.237.0.53', 6, tcp(sport, 53, seq, payload));
  const ids = (events: Buffer[]) => events.map((e) => [decodeDnsEvent(e, 0)?.id, decodeDnsEvent(e, 0)?.query]);
  const unparsed = () => dns.counter('dns:tcp_unparsed');

  // glibc's A and AAAA in one segment.
  let before = unparsed();
  const two = Buffer.concat([tcpDns(query(1111, 'first.example')), tcpDns(query(2222, 'second.example'))]);
  assert.deepEqual(ids(await dns.run('packet_tc_egress', seg(41100, 1, two))), [[1111, 'first.example'], [2222, 'second.example']]);
  assert.equal(unparsed(), before);

  // The length in a segment of its own, the message in the next (and again at another interface: the same pairing).
  const split = tcpDns(query(3333, 'split.example'));
  const prefix = seg(41101, 1000, split.subarray(0, 2));
  const body = seg(41101, 1002, split.subarray(2));
  assert.deepEqual(ids(await dns.run('packet_tc_egress', prefix, prefix, body, body)), [[3333, 'split.example'], [3333, 'split.example']]);
  // A segment at another sequence number is not taken for that message.
  const malformed = dns.counter('dns:malformed');
  assert.deepEqual(ids(await dns.run('packet_tc_egress', prefix, seg(41101, 1003, split.subarray(2)))), []);
  assert.equal(dns.counter('dns:malformed') - malformed + unparsed() - before, 1, 'the misaligned segment is counted');

  // More messages than parsed per segment (4): the others are counted, each.
  before = unparsed();
  const six = Buffer.concat([1, 2, 3, 4, 5, 6].map((i) => tcpDns(query(4440 + i, `m${i}.example`))));
  assert.deepEqual(ids(await dns.run('packet_tc_egress', seg(41102, 1, six))).map(([id]) => id), [4441, 4442, 4443, 4444]);
  assert.equal(unparsed() - before, 2);

  // A message whose header the segment cuts, and a lone byte of a length: lost, counted.
  before = unparsed();
  const cut = Buffer.concat([tcpDns(query(5551, 'whole.example')), tcpDns(query(5552, 'cut.example')).subarray(0, 9)]);
  const oneByte = Buffer.concat([tcpDns(query(5553, 'whole.example')), Buffer.from([0])]);
  assert.deepEqual(ids(await dns.run('packet_tc_egress', seg(41103, 1, cut), seg(41104, 1, oneByte))).map(([id]) => id), [5551, 5553]);
  assert.equal(unparsed() - before, 2);

  // A response longer than its segment (its answers continue in the next) still gives its event from what is there.
  before = unparsed();
  const many = Array.from({ length: 40 }, (_, i) => A([10, 237, 1, i]));
  const big = tcpDns(dnsMessage({ id: 6666, flags: 0x8180, qname: wireName('big.example'), qtype: 1, answers: many }));
  const r = decodeOne(await dns.run('packet_tc_ingress', ip('10.237.0.53', '10.237.0.2', 6, tcp(53, 41105, 1, big.subarray(0, 200)))));
  assert.deepEqual([r.id, r.query, r.answers.length], [6666, 'big.example', 4]);
  assert.equal(unparsed(), before);
});

test('dns: a response in IPv6 fragments is read from its first fragment (a fragment header is followed)', async () => {
  const many = Array.from({ length: 80 }, (_, i) => ({ type: 28, rdata: Buffer.from(`fd0002370000000000000000000100${(i + 16).toString(16)}`, 'hex') }));
  const datagram = udp(53, 41001, dnsMessage({ id: 0x6464, flags: 0x8180, qname: wireName('big.example'), qtype: 28, answers: many }));
  /** An IPv6 fragment header carrying UDP: offset in 8-byte units, more fragments, then the fragment's bytes. */
  const fragment = (offset: number, more: boolean, bytes: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h[0] = 17;
    h.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
    h.writeUInt32BE(0x64, 4);
    return Buffer.concat([h, bytes]);
  };
  const events = await dns.run(
    'packet_tc_ingress',
    ip('fd00:237::53', 'fd00:237::2', 44, fragment(0, true, datagram.subarray(0, 1232))),
    ip('fd00:237::53', 'fd00:237::2', 44, fragment(154, false, datagram.subarray(1232))),
  );
  const r = decodeOne(events);
  assert.deepEqual([r.id, r.response, r.rcode, r.query, r.sport, r.dport, r.protocol], [0x6464, true, 0, 'big.example', 53, 41001, 17]);
  assert.deepEqual(r.answers, ['fd00:237::1:10', 'fd00:237::1:11', 'fd00:237::1:12', 'fd00:237::1:13']);
});

test('dns: names at and over the 255-byte limit, and compressed questions', async () => {
  const label = 'a'.repeat(63);
  const longest = [label, label, label, 'b'.repeat(61)].join('.'); // 255 bytes on the wire
  const m = decodeOne(await dns.run('packet_tc_egress', ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 53, dnsMessage({ id: 1, flags: 0x0100, qname: wireName(longest), qtype: 1 })))));
  assert.equal(m.query, longest);
  assert.equal(m.truncated, false);

  // A name longer than RFC 1035 allows: cut after the complete labels, flagged.
  const tooLong = [label, label, label, label, 'c'].join('.');
  const t = decodeOne(await dns.run('packet_tc_egress', ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 53, dnsMessage({ id: 2, flags: 0x0100, qname: wireName(tooLong), qtype: 1 })))));
  assert.equal(t.truncated, true);
  assert.equal(t.query, [label, label, label].join('.'));
  assert.equal(t.qtype, 0);

  // A compression loop in the question (a pointer to itself): not followed, flagged.
  const loop = decodeOne(await dns.run('packet_tc_egress', ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 53, dnsMessage({ id: 3, flags: 0x0100, qname: Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12]), qtype: 1 })))));
  assert.equal(loop.truncated, true);
  assert.equal(loop.query, 'www');
});

test('dns: malformed messages give no event and are counted', async () => {
  const before = dns.counter('dns:malformed');
  const good = dnsMessage({ id: 5, flags: 0x0100, qname: wireName('x.example'), qtype: 1 });
  const packets = [
    udp(40000, 53, good.subarray(0, 7)), // truncated header
    udp(40000, 53, good.subarray(0, 15)), // name runs past the message
    udp(40000, 53, dnsMessage({ id: 5, flags: 0x0100, qname: Buffer.from([0x45, 1, 2, 0]), qtype: 1 })), // reserved label type
    udp(40000, 53, dnsMessage({ id: 5, flags: 0x0100, qname: wireName('x'), qtype: 1, qdcount: 0 })),
    udp(40000, 53, dnsMessage({ id: 5, flags: 0x2800, qname: wireName('x'), qtype: 1 })), // opcode UPDATE
  ].map((l4) => ip('10.237.0.2', '10.237.0.53', 17, l4));
  assert.equal((await dns.run('packet_tc_egress', ...packets)).length, 0);
  assert.equal(dns.counter('dns:malformed') - before, packets.length);
  // An IP header claiming more than the packet holds: the parse stops at the real end.
  const lying = ip('10.237.0.2', '10.237.0.53', 17, udp(40000, 53, good));
  lying.writeUInt16BE(1400, 14 + 2);
  const m = decodeOne(await dns.run('packet_tc_egress', lying));
  assert.equal(m.query, 'x.example');
});

test('dns: answer sections with loops, bad pointers and lying lengths never give garbage addresses', async () => {
  const q = wireName('loop.example');
  const selfLoop = { type: 1, rdata: Buffer.from([1, 2, 3, 4]), owner: Buffer.from([0xc0, 12 + q.length + 4]) }; // points at itself: skipped as 2 bytes, not followed
  const longRd = { type: 1, rdata: Buffer.from([9, 9, 9, 9]) };
  const msg = dnsMessage({ id: 6, flags: 0x8180, qname: q, qtype: 1, answers: [selfLoop, longRd] });
  // The second record claims 200 bytes of rdata: it must not be read.
  msg.writeUInt16BE(200, msg.length - 4 - 2);
  const m = decodeOne(await dns.run('packet_tc_ingress', ip('10.237.0.53', '10.237.0.2', 17, udp(53, 40000, msg))));
  assert.deepEqual(m.answers, ['1.2.3.4']);
});

test('dns: random payloads on port 53 only ever give well-formed events', async () => {
  const header = fc.record({ id: fc.integer({ min: 0, max: 0xffff }), flags: fc.constantFrom(0x0100, 0x8180, 0x8183) });
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    fc.tuple(header, fc.uint8Array({ maxLength: 600 })).map(([h, rest]) => {
      const b = Buffer.alloc(12);
      b.writeUInt16BE(h.id, 0);
      b.writeUInt16BE(h.flags, 2);
      b.writeUInt16BE(1, 4);
      b.writeUInt16BE(rest[0] ?? 0, 6);
      return Buffer.concat([b, Buffer.from(rest)]);
    }),
  );
  // Many packets per kernel run: the ring-buffer wait dominates otherwise.
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(payload, fc.boolean()), { minLength: 100, maxLength: 100 }), async (cases) => {
      const packets = cases.map(([p, overTcp]) => ip('10.237.0.53', '10.237.0.2', overTcp ? 6 : 17, overTcp ? tcp(53, 40000, 1, tcpDns(p)) : udp(53, 40000, p)));
      for (const e of await dns.run('packet_tc_ingress', ...packets)) {
        const m = decodeDnsEvent(e, 0);
        assert.ok(m, 'every event decodes');
        assert.match(m.query, /^[\x21-\x7e]*$/);
        assert.ok(m.query.length <= 4 * 255);
        assert.ok(m.answers.length <= 4);
      }
    }),
    { numRuns: 8 },
  );
});

test('dns: the ports are configurable before load', async () => {
  const custom = new Harness('dns', (obj) => obj.setGlobal('dns_ports', encodeDnsPorts([5353, 8053])));
  try {
    const msg = dnsMessage({ id: 10, flags: 0x0100, qname: wireName('svc.local'), qtype: 1 });
    const on = (port: number) => ip('10.237.0.2', '10.237.0.53', 17, udp(40000, port, msg));
    const events = await custom.run('packet_tc_egress', on(5353), on(53), on(8053));
    assert.deepEqual(events.map((e) => decodeDnsEvent(e, 0)?.dport), [5353, 8053]);
  } finally {
    custom.close();
  }
});

/** A request and its response, which acknowledges the request's bytes. */
function httpPair(client: string, server: string, cport: number, seq: number, request: string, responseHead: string, serverSeen = server): Buffer[] {
  return [
    ip(client, server, 6, tcp(cport, 80, seq, Buffer.from(request, 'latin1'))),
    ip(serverSeen, client, 6, tcp(80, cport, 1000, Buffer.from(responseHead, 'latin1'), 0x18, seq + request.length)),
  ];
}

test('http: one event per exchange, keep-alive pairs each request with the next response', async () => {
  const [req1, resp1] = httpPair('10.237.0.2', '10.237.0.3', 50000, 1, 'GET /api/users?id=1 HTTP/1.1\r\nHost: backend\r\n\r\n', 'HTTP/1.1 200 OK\r\n');
  const [req2, resp2] = httpPair('10.237.0.2', '10.237.0.3', 50000, 100, 'DELETE /api/users/1 HTTP/1.1\r\nHost: backend\r\n\r\n', 'HTTP/1.1 404 Not Found\r\n');
  const body = ip('10.237.0.3', '10.237.0.2', 6, tcp(80, 50000, 1020, Buffer.from('HTTP/1.1 lookalike body segment')));
  const events = await http.run('packet_tc_ingress', req1 as Buffer, req1 as Buffer, resp1 as Buffer, body, req2 as Buffer, resp2 as Buffer);
  assert.equal(events.length, 2);
  const records = events.map((e) => decodeHttpEvent(e, 0, ctx));
  assert.deepEqual(records.map((r) => [r?.http?.method, r?.http?.path, r?.http?.status, r?.http?.host, r?.http?.version]), [
    ['GET', '/api/users?id=1', 200, 'backend', 'HTTP/1.1'],
    ['DELETE', '/api/users/1', 404, 'backend', 'HTTP/1.1'],
  ]);
  assert.deepEqual(records[0]?.source, newEndpoint('10.237.0.2', 50000));
  assert.deepEqual(records[0]?.destination, newEndpoint('10.237.0.3', 80));
  assert.equal(records[0]?.originalDestination, undefined);
});

test('http: a request after empty lines (RFC 9112 2.2) is recorded from its request line; more than 7 bytes of them are counted lost', async () => {
  const exchange = async (cport: number, before: string) => {
    const [req, resp] = httpPair('10.237.0.2', '10.237.0.3', cport, 1, `${before}GET /after/empty HTTP/1.1\r\nHost: backend\r\n\r\n`, 'HTTP/1.1 204 No Content\r\n');
    return (await http.run('packet_tc_ingress', req as Buffer, resp as Buffer)).map((e) => decodeHttpEvent(e, 0, ctx)?.http);
  };
  for (const [i, before] of ['\r\n', '\n', '\r\n\r\n\r\n', '\n\n\n\n\n\n\n'].entries()) {
    const got = await exchange(50060 + i, before);
    assert.deepEqual(got.map((h) => [h?.method, h?.path, h?.host, h?.status]), [['GET', '/after/empty', 'backend', 204]], JSON.stringify(before));
  }
  const lost = http.counter('http:leading_empty_lines');
  assert.deepEqual(await exchange(50070, '\r\n'.repeat(4)), []);
  assert.equal(http.counter('http:leading_empty_lines'), lost + 1);
  // A body segment starting with an empty line is no request.
  assert.deepEqual(await exchange(50071, '\r\nNOT A METHOD\r\n'), []);
});

test('http: an interim response (100 Continue, 103) is not the answer: the final one is, and 101 Switching Protocols is final', async () => {
  const request = 'POST /upload HTTP/1.1\r\nHost: backend\r\nExpect: 100-continue\r\n\r\n';
  const [req, cont] = httpPair('10.237.0.2', '10.237.0.3', 50040, 1, request, 'HTTP/1.1 100 Continue\r\n\r\n');
  const body = ip('10.237.0.2', '10.237.0.3', 6, tcp(50040, 80, 1 + request.length, Buffer.alloc(3000, 97)));
  const hints = ip('10.237.0.3', '10.237.0.2', 6, tcp(80, 50040, 1025, Buffer.from('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n'), 0x18, 1 + request.length));
  const created = ip('10.237.0.3', '10.237.0.2', 6, tcp(80, 50040, 1080, Buffer.from('HTTP/1.1 201 Created\r\n\r\n'), 0x18, 3001 + request.length));
  const unmatched = http.counter('http:unmatched_response');
  const [upgrade, switching] = httpPair('10.237.0.2', '10.237.0.3', 50041, 1, 'GET /ws HTTP/1.1\r\nHost: backend\r\nUpgrade: websocket\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\n\r\n');
  const events = await http.run('packet_tc_ingress', req as Buffer, cont as Buffer, body, hints, created, upgrade as Buffer, switching as Buffer);
  assert.deepEqual(events.map((e) => [decodeHttpEvent(e, 0, ctx)?.http?.path, decodeHttpEvent(e, 0, ctx)?.http?.status]), [
    ['/upload', 201],
    ['/ws', 101],
  ]);
  assert.equal(http.counter('http:unmatched_response'), unmatched, 'the final response was paired, not counted as unmatched');
});

test('http: a request seen before DNAT and its response after it name both ends', async () => {
  const [req, resp] = httpPair('10.237.0.2', '10.238.0.10', 50001, 1, 'GET / HTTP/1.1\r\n\r\n', 'HTTP/1.1 500 Internal Server Error\r\n', '10.237.0.3');
  const events = await http.run('packet_tc_ingress', req as Buffer, resp as Buffer);
  const r = decodeHttpEvent(events[0] ?? Buffer.alloc(0), 0, ctx);
  assert.equal(r?.http?.status, 500);
  assert.deepEqual(r?.destination, newEndpoint('10.237.0.3', 80));
  assert.deepEqual(r?.originalDestination, newEndpoint('10.238.0.10', 80));
});

for (const amongAll of [false, true]) {
  test(`http${amongAll ? ' (flows and dns enabled too)' : ''}: an exchange seen again untranslated on the way out is one event, and its response no unmatched one`, async () => {
    const h = amongAll ? httpAmongAll : http;
    // The egress program recognises the packet its CPU's ingress program handled last (test runs happen on
    // loopback, ifindex 1): each pair runs back to back, and one of three exchanges suffices, in case the test
    // thread changed CPUs in between all the same.
    let unmatchedSecondSightings = 0;
    for (const port of [50030, 50031, 50032]) {
      const request = `GET /twice/${port} HTTP/1.1\r\n\r\n`;
      const req = ip('10.237.0.5', '10.237.0.3', 6, tcp(port, 80, 9000, Buffer.from(request)));
      const resp = ip('10.237.0.3', '10.237.0.5', 6, tcp(80, port, 1, Buffer.from('HTTP/1.1 200 OK\r\n'), 0x18, 9000 + request.length));
      await h.runInTurn([['packet_tc_ingress', 0, req], ['packet_tc_egress', 1, req]]);
      const unmatched = h.counter('http:unmatched_response');
      const events = await h.runInTurn([['packet_tc_ingress', 0, resp], ['packet_tc_egress', 1, resp]]);
      assert.deepEqual(events.map((e) => decodeHttpEvent(e, 0, ctx)?.http?.path), [`/twice/${port}`]);
      unmatchedSecondSightings += h.counter('http:unmatched_response') - unmatched;
    }
    assert.ok(unmatchedSecondSightings < 3, 'the response\'s second sighting was counted as unmatched every time');
  });
}

test('http: an answer from another server to the same client port is not paired unless it acknowledges the request', async () => {
  const unmatched = http.counter('http:unmatched_response');
  const request = 'GET /a HTTP/1.1\r\n\r\n';
  const req = ip('10.237.0.5', '10.237.0.3', 6, tcp(50010, 80, 7000, Buffer.from(request)));
  // Another connection of the same client port, to another server: its own sequence numbers.
  const other = ip('10.237.0.6', '10.237.0.5', 6, tcp(80, 50010, 1, Buffer.from('HTTP/1.1 500 Internal Server Error\r\n'), 0x18, 0x9e3779b9));
  const own = ip('10.237.0.3', '10.237.0.5', 6, tcp(80, 50010, 1, Buffer.from('HTTP/1.1 200 OK\r\n'), 0x18, 7000 + request.length));
  const events = await http.run('packet_tc_ingress', req, other, own);
  assert.equal(http.counter('http:unmatched_response'), unmatched + 1);
  assert.deepEqual(events.map((e) => decodeHttpEvent(e, 0, ctx)?.http?.status), [200]);
});

test('http: responses without a request, unanswered requests and random payloads', async () => {
  const unmatched = http.counter('http:unmatched_response');
  assert.equal((await http.run('packet_tc_ingress', ip('10.237.0.3', '10.237.0.9', 6, tcp(80, 50002, 1, Buffer.from('HTTP/1.1 200 OK\r\n'))))).length, 0);
  assert.equal(http.counter('http:unmatched_response'), unmatched + 1);
  const unanswered = http.counter('http:unanswered_request');
  const r1 = ip('10.237.0.9', '10.237.0.3', 6, tcp(50003, 80, 1, Buffer.from('GET /a HTTP/1.1\r\n\r\n')));
  const r2 = ip('10.237.0.9', '10.237.0.3', 6, tcp(50003, 80, 50, Buffer.from('GET /b HTTP/1.1\r\n\r\n')));
  const resp = ip('10.237.0.3', '10.237.0.9', 6, tcp(80, 50003, 1, Buffer.from('HTTP/1.0 200 OK\r\n')));
  const events = await http.run('packet_tc_egress', r1, r2, resp);
  assert.equal(http.counter('http:unanswered_request'), unanswered + 1);
  assert.equal(decodeHttpEvent(events[0] ?? Buffer.alloc(0), 0, ctx)?.http?.path, '/b');

  // Hostile but near HTTP: random targets and random status digits after real heads, and plain random bytes
  // (random bytes alone would almost never make a record, leaving the field checks below untried).
  const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max }).map((a) => Buffer.from(a));
  const requestHead = fc.oneof(
    bytes(400).map((a) => Buffer.concat([Buffer.from('GET '), a])),
    fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), bytes(120)).map(([m, target]) => Buffer.concat([Buffer.from(`${m} `), target, Buffer.from(' HTTP/1.1\r\n\r\n')])),
    { weight: 4, arbitrary: fc.stringMatching(/^\/[a-z0-9/?=&]{0,40}$/).map((target) => Buffer.from(`GET ${target} HTTP/1.1\r\n\r\n`)) },
  );
  const statusLine = fc.oneof(
    bytes(40).map((b) => Buffer.concat([Buffer.from('HTTP/1.'), b])),
    fc.tuple(fc.constantFrom('0', '1'), fc.uint8Array({ minLength: 3, maxLength: 3 }), bytes(20)).map(([minor, code, rest]) => Buffer.concat([Buffer.from(`HTTP/1.${minor} `), code, rest])),
    { weight: 4, arbitrary: fc.integer({ min: 100, max: 599 }).map((code) => Buffer.from(`HTTP/1.1 ${code} X\r\n`)) },
  );
  let decoded = 0;
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(requestHead, statusLine), { minLength: 50, maxLength: 50 }), async (pairs) => {
      // One client port per exchange, so each request meets its own response (and no earlier run's answered one).
      const base = 51000 + 50 * run++;
      const packets = pairs.flatMap(([a, b], i) => [
        ip('10.237.0.4', '10.237.0.3', 6, tcp(base + i, 80, a.length, a)),
        ip('10.237.0.3', '10.237.0.4', 6, tcp(80, base + i, 1, b)),
      ]);
      const evs = await http.run('packet_tc_egress', ...packets);
      assert.ok(evs.length <= pairs.length);
      for (const e of evs) {
        assert.equal(e.length >= HttpEvent.size, true);
        const r = decodeHttpEvent(e, 0, ctx);
        // Either refused as malformed, or every field is well-formed.
        if (r) {
          decoded++;
          assert.match(r.http?.path ?? '', /^[\x21-\x7e]+$/);
          assert.ok((r.http?.status ?? 0) >= 100 && (r.http?.status ?? 0) <= 599, `status ${r.http?.status}`);
          assert.equal(r.http?.noResponse, '');
        }
      }
    }),
    { numRuns: 8 },
  );
  assert.ok(decoded > 40, `only ${decoded} of 400 exchanges made a record: the field checks were hardly tried`);
});

test('http: a request whose connection ends without a response is one event saying why (reset, closed by the server)', async () => {
  const client = '10.237.0.12';
  const server = '10.237.0.3';
  const request = (port: number) => ip(client, server, 6, tcp(port, 80, 500, Buffer.from(`GET /slow/${port} HTTP/1.1\r\nHost: backend\r\n\r\n`)));
  const fromServer = (port: number, flags: number) => ip(server, client, 6, tcp(80, port, 1, Buffer.alloc(0), flags, 530));
  const fromClient = (port: number, flags: number) => ip(client, server, 6, tcp(port, 80, 530, Buffer.alloc(0), flags, 1));
  const FIN_ACK = 0x11;
  const RST = 0x04;
  const unanswered = http.counter('http:unanswered_request');
  const ended = await http.run('packet_tc_ingress',
    request(52001), fromServer(52001, FIN_ACK),
    request(52002), fromServer(52002, RST),
    request(52003), fromClient(52003, RST));
  const records = ended.map((e) => decodeHttpEvent(e, 0, ctx));
  assert.deepEqual(records.map((r) => [r?.source?.port, r?.http?.path, r?.http?.noResponse, r?.http?.status]), [
    [52001, '/slow/52001', 'CLOSED', 0],
    [52002, '/slow/52002', 'RESET', 0],
    [52003, '/slow/52003', 'RESET', 0],
  ]);
  for (const r of records) {
    assert.deepEqual(r?.destination, newEndpoint(server, 80));
    assert.equal(r?.http?.host, 'backend');
    assert.ok(r?.http?.latency, 'the wait until the connection ended');
  }
  assert.equal(http.counter('http:unanswered_request'), unanswered, 'reported, so not counted as lost');

  // A FIN from the client is a half-close: the server may still answer, and then the exchange is an ordinary one.
  const halfClosed = await http.run('packet_tc_ingress', request(52004), fromClient(52004, FIN_ACK),
    ip(server, client, 6, tcp(80, 52004, 1, Buffer.from('HTTP/1.1 200 OK\r\n'), 0x18, 530)));
  assert.deepEqual(halfClosed.map((e) => [decodeHttpEvent(e, 0, ctx)?.http?.status, decodeHttpEvent(e, 0, ctx)?.http?.noResponse]), [[200, '']]);
  // If the server closes instead, the client had given up first (a frontend's timeout): its FIN ended the wait.
  const gaveUp = await http.run('packet_tc_ingress', request(52005), fromClient(52005, FIN_ACK));
  assert.equal(gaveUp.length, 0, 'not before the server\'s end');
  const [closed] = (await http.run('packet_tc_ingress', fromServer(52005, FIN_ACK))).map((e) => decodeHttpEvent(e, 0, ctx));
  assert.equal(closed?.http?.noResponse, 'CLIENT_CLOSED');
});

test('http: the sweep reports requests waiting longer than the timeout once, as TIMEOUT, whatever comes after', async () => {
  const h = new Harness('http');
  try {
    const pending = new PendingExchanges(h.obj, 1000);
    const conns = h.obj.map('http_conns');
    const state = (port: number) => {
      const key = Buffer.alloc(20);
      Buffer.from([10, 237, 0, 14]).copy(key, 0);
      key.writeUInt16LE(port, 16);
      key[18] = 4;
      return conns.lookup(key)?.[HttpConn.state];
    };
    // The client's socket asked for a Service address (svc's map, as the svc programs fill it).
    const origKey = Buffer.alloc(SvcKey.size);
    Buffer.from([10, 237, 0, 14]).copy(origKey, SvcKey.addr);
    origKey.writeUInt16LE(52010, SvcKey.port);
    origKey[SvcKey.ip_version] = 4;
    origKey[SvcKey.protocol] = 6;
    const orig = Buffer.alloc(SvcOrig.size);
    Buffer.from([10, 96, 0, 20]).copy(orig, SvcOrig.addr);
    orig.writeUInt16LE(8080, SvcOrig.port);
    orig[SvcOrig.ip_version] = 4;
    h.obj.map('svc_orig_dst').update(origKey, orig);

    const hang = ip('10.237.0.14', '10.237.0.3', 6, tcp(52010, 80, 1, Buffer.from('POST /hang HTTP/1.1\r\n\r\n')));
    const sentNs = MonotonicClock.nowNs();
    await h.run('packet_tc_ingress', hang, ip('10.237.0.14', '10.237.0.3', 6, tcp(52011, 80, 1, Buffer.from('GET /later HTTP/1.1\r\n\r\n'))));
    assert.equal(pending.sweep(sentNs + 500e6), 2, 'both wait, not yet timed out');
    assert.deepEqual(await h.run('packet_tc_ingress'), []);

    // 52011's connection sends its next request later: that one waits on from then.
    await sleep(600);
    const laterNs = MonotonicClock.nowNs();
    await h.run('packet_tc_ingress', ip('10.237.0.14', '10.237.0.3', 6, tcp(52011, 80, 100, Buffer.from('GET /later HTTP/1.1\r\n\r\n'))));
    // /hang has waited at least 1.1 s then, /later at most 0.5 s.
    assert.equal(pending.sweep(laterNs + 500e6), 1);
    const timedOut = (await h.run('packet_tc_ingress')).map((e) => decodeHttpEvent(e, 0, ctx));
    assert.deepEqual(timedOut.map((r) => [r?.http?.path, r?.http?.noResponse, r?.http?.method]), [['/hang', 'TIMEOUT', 'POST']]);
    const r = timedOut[0];
    // Its latency: from the request to the sweep's run (the kernel's clock; the test's sweep times are ahead of it).
    const waited = Number(r?.http?.latency?.seconds ?? 0) + (r?.http?.latency?.nanos ?? 0) / 1e9;
    assert.ok(waited >= 0.6 && waited < 5, `waited ${waited}s`);
    assert.deepEqual(r?.source, newEndpoint('10.237.0.14', 52010));
    assert.deepEqual(r?.destination, newEndpoint('10.237.0.3', 80));
    assert.deepEqual(r?.originalDestination, newEndpoint('10.96.0.20', 8080));
    assert.ok(formatHuman(r!).includes('HTTP POST /hang no response (TIMEOUT)'), formatHuman(r!));

    // Reported, it stays known: its retransmission opens no new exchange, a late answer is unmatched,
    // and further sweeps report nothing again.
    assert.equal(state(52010), 3);
    const unmatched = h.counter('http:unmatched_response');
    await h.run('packet_tc_ingress', hang, ip('10.237.0.3', '10.237.0.14', 6, tcp(80, 52010, 1, Buffer.from('HTTP/1.1 200 OK\r\n'), 0x18, 1 + 27)));
    assert.equal(h.counter('http:unmatched_response'), unmatched + 1);
    assert.equal(pending.sweep(MonotonicClock.nowNs() + 5e9), 0, '/later: 5 s on, it times out now; /hang not again');
    assert.deepEqual((await h.run('packet_tc_ingress')).map((e) => decodeHttpEvent(e, 0, ctx)?.http?.path), ['/later']);
    // Past the forget horizon (TCP's retransmissions are over), the reported ones go.
    assert.equal(pending.sweep(MonotonicClock.nowNs() + 2000e9), 0);
    assert.equal(conns.lookupBatch().count, 0);

    // An idle pipelining connection's answered entry goes after the timeout, without a record.
    const p = (seq: number, path: string) => ip('10.237.0.14', '10.237.0.3', 6, tcp(52012, 80, seq, Buffer.from(`GET ${path} HTTP/1.1\r\n\r\n`)));
    await h.run('packet_tc_ingress', p(1, '/p1'), p(30, '/p2'), ip('10.237.0.3', '10.237.0.14', 6, tcp(80, 52012, 1, Buffer.from('HTTP/1.1 200 OK\r\n'), 0x18, 30)));
    assert.equal(state(52012), 2, 'answered, kept: the connection pipelines');
    assert.equal(pending.sweep(MonotonicClock.nowNs() + 2e9), 0);
    assert.deepEqual(await h.run('packet_tc_ingress'), []);
    assert.equal(state(52012), undefined);

    // At stop: the requests still waiting are counted (their outcome is unknown).
    await h.run('packet_tc_ingress', p(100, '/last'));
    pending.stop(MonotonicClock.nowNs());
    assert.equal(pending.pendingAtStop, 1);
  } finally {
    h.close();
  }
});
