// Parsing the request and status-line prefixes the http programs copy, and
// decoding an exchange with the original destination the kernel wrote into it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipBytes } from '../../src/enrich/ip.js';
import { decodeHttpEvent } from '../../src/probes/http/decode.js';
import { parseRequestHead, parseStatusLine } from '../../src/probes/http/parse.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { HttpEvent as L } from '../../src/probes/shared/layouts.js';
import { writeOrig, writeTuple } from './event-fixtures.js';
import { newEndpoint } from '../../src/pipeline/record-factory.js';

const req = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return parseRequestHead(b, 0, b.length);
};
const status = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return parseStatusLine(b, 0, b.length);
};

test('request lines: method, raw path, version and Host', () => {
  assert.deepEqual(req('GET /api/users?id=7 HTTP/1.1\r\nHost: backend.default\r\nAccept: */*\r\n\r\n'), {
    method: 'GET', path: '/api/users?id=7', version: 'HTTP/1.1', host: 'backend.default',
  });
  assert.deepEqual(req('POST /x HTTP/1.0\r\nContent-Length: 3\r\nhost:h:8080 \r\n\r\nabc'), { method: 'POST', path: '/x', version: 'HTTP/1.0', host: 'h:8080' });
  // Cut by the copy's end: what is there, no version or Host.
  assert.deepEqual(req('GET /a/very/long/pa'), { method: 'GET', path: '/a/very/long/pa', version: '', host: '' });
  assert.deepEqual(req('GET /p HTTP/1'), { method: 'GET', path: '/p', version: '', host: '' });
  // A Host line cut by the copy's end is not reported.
  assert.deepEqual(req('GET / HTTP/1.1\r\nHost: bac'), { method: 'GET', path: '/', version: 'HTTP/1.1', host: '' });
});

test('request lines that are not HTTP/1.x give nothing', () => {
  for (const s of ['GET  HTTP/1.1\r\n', 'GET /a\x01b HTTP/1.1\r\n', 'GET / HTTP/2.0\r\n', 'GET / SPDY/1.1x\r\n', 'F(O / HTTP/1.1\r\n', 'GET / HTTP/1.1xx', 'GET']) {
    assert.equal(req(s), undefined, JSON.stringify(s));
  }
});

test('request targets: origin, absolute (proxies), authority (CONNECT) and asterisk (OPTIONS) form; a body that begins with a method word is none', () => {
  assert.equal(req('GET http://backend:8080/x HTTP/1.1\r\n\r\n')?.path, 'http://backend:8080/x');
  assert.equal(req('CONNECT backend:443 HTTP/1.1\r\n\r\n')?.path, 'backend:443');
  assert.equal(req('OPTIONS * HTTP/1.1\r\n\r\n')?.path, '*');
  // A POST's body in a segment of its own, seen by the kernel as a request.
  for (const s of ['GET something', 'PUT it there HTTP/1.1\r\n', 'DELETE all', 'GET * HTTP/1.1\r\n', 'OPTIONS *x HTTP/1.1\r\n', 'GET :x HTTP/1.1\r\n', 'GET 1http://x HTTP/1.1\r\n']) {
    assert.equal(req(s), undefined, JSON.stringify(s));
  }
});

test('status lines', () => {
  assert.deepEqual(status('HTTP/1.1 200 OK\r\n'), { version: 'HTTP/1.1', status: 200 });
  assert.deepEqual(status('HTTP/1.0 404 '), { version: 'HTTP/1.0', status: 404 });
  assert.deepEqual(status('HTTP/1.1 500\r\n'), { version: 'HTTP/1.1', status: 500 });
  for (const s of ['HTTP/1.1 20', 'HTTP/1.1 2x0 OK', 'HTTP/1.1 999 X', 'HTTP/1.1 0200', 'HTTP/1.2 200 OK', 'HTTP/1.1200 OK']) {
    assert.equal(status(s), undefined, s);
  }
});

/**
 * "HTTP/1.x " + three bytes + text: mostly digits and a space or CR after them, so that about one in
 * five is a status line (uniform bytes would make one in thousands), the rest near misses.
 */
const statusLike = fc
  .tuple(
    fc.constantFrom('0', '1'),
    fc.array(fc.oneof({ arbitrary: fc.integer({ min: 0x30, max: 0x39 }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }), { minLength: 3, maxLength: 3 }),
    fc.oneof(fc.constant(''), fc.constant('\r\n'), fc.string({ maxLength: 16 }).map((t) => ` ${t}`), fc.string({ maxLength: 16 })),
  )
  .map(([minor, code, rest]) => Buffer.concat([Buffer.from(`HTTP/1.${minor} `, 'latin1'), Buffer.from(code), Buffer.from(rest, 'latin1')]));

/** Bytes that are mostly printable ASCII, sometimes any byte (a control byte, a space, a high byte). */
const mostlyPrintable = fc
  .array(fc.oneof({ arbitrary: fc.integer({ min: 0x21, max: 0x7e }), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }), { maxLength: 20 })
  .map((codes) => Buffer.from(codes));

/**
 * A request line and a Host line whose target and value are mostly printable: most are requests (uniform
 * bytes or "GET " + text almost never are: their checks of the version and Host would run on nothing),
 * many with a Host, and about half of the targets and Host values hold a byte that is not printable.
 */
const requestLike = fc
  .tuple(fc.constantFrom('GET /', 'POST /', 'OPTIONS /', 'GET http://'), mostlyPrintable, fc.constantFrom('0', '1'), fc.constantFrom('Host:', 'host: ', 'Accept: */*\r\nHOST:'), mostlyPrintable, fc.constantFrom('\r\n', ' \r\n\r\n', ''))
  .map(([start, target, minor, header, host, end]) => Buffer.concat([Buffer.from(start, 'latin1'), target, Buffer.from(` HTTP/1.${minor}\r\n${header}`, 'latin1'), host, Buffer.from(end, 'latin1')]));

test('random bytes never give a request with unprintable fields or a status outside 100..599', () => {
  let statusLines = 0, versions = 0, hosts = 0;
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.string({ maxLength: 64 }).map((s) => Buffer.from(`GET ${s}`, 'latin1')), statusLike, requestLike), (bytes) => {
      const b = Buffer.from(bytes);
      const r = parseRequestHead(b, 0, b.length);
      if (r) {
        assert.match(r.path, /^[\x21-\x7e]+$/, JSON.stringify(b.toString('latin1')));
        assert.match(r.host, /^[\x21-\x7e]*$/, JSON.stringify(b.toString('latin1')));
        assert.ok(['', 'HTTP/1.0', 'HTTP/1.1'].includes(r.version));
        if (r.version !== '') versions++;
        if (r.host !== '') hosts++;
      }
      const end = Math.min(b.length, 16);
      const s = parseStatusLine(b, 0, end);
      // A status line: the version, three digits 100..599, then a space, CR or the copy's end.
      assert.equal(s !== undefined, /^HTTP\/1\.[01] [1-5]\d\d([ \r]|$)/.test(b.toString('latin1', 0, end)), JSON.stringify(b.toString('latin1', 0, end)));
      if (s) {
        statusLines++;
        assert.deepEqual(s, { version: b.toString('latin1', 0, 8), status: Number(b.toString('latin1', 9, 12)) });
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(statusLines > 0, 'some inputs were status lines');
  assert.ok(versions > 0 && hosts > 0, `some inputs were requests with a version (${versions}) and a Host (${hosts})`);
});

const ctx = { clock: new MonotonicClock(), nodeName: 'node-a', interfaces: new InterfaceIndex() };

/** An exchange 10.0.0.2:41000 -> `requested`:8080, answered by 10.244.1.5:8080; `orig` as the kernel writes it. */
function exchange(requested: string, orig?: { ip: string; port: number }): Buffer {
  const ev = Buffer.alloc(L.size);
  writeTuple(ev, L.req_tuple, { saddr: '10.0.0.2', daddr: requested, sport: 41000, dport: 8080, protocol: 6 });
  Buffer.from(ipBytes('10.244.1.5')!.bytes).copy(ev, L.resp_saddr);
  ev.writeUInt16LE(8080, L.resp_sport);
  ev.writeUInt32LE(1_000_000, L.req_ns);
  ev.writeUInt32LE(3_000_000, L.resp_ns);
  const head = Buffer.from('GET /x HTTP/1.1\r\nHost: web\r\n', 'latin1');
  head.copy(ev, L.req);
  ev.writeUInt16LE(head.length, L.req_len);
  const line = Buffer.from('HTTP/1.1 200 OK', 'latin1');
  line.copy(ev, L.resp);
  ev[L.resp_len] = line.length;
  if (orig) writeOrig(ev, L.orig, orig);
  return ev;
}

test('an exchange carries the socket\'s original destination the kernel wrote (orig) when the packets show none', () => {
  // DNAT before the packet was seen: request and response both show the backend; orig has the virtual IP.
  const r = decodeHttpEvent(exchange('10.244.1.5', { ip: '10.96.0.80', port: 80 }), 0, ctx);
  assert.equal(r?.http?.status, 200);
  assert.deepEqual(r?.destination, newEndpoint('10.244.1.5', 8080));
  assert.deepEqual(r?.originalDestination, newEndpoint('10.96.0.80', 80));
  assert.equal(decodeHttpEvent(exchange('10.244.1.5'), 0, ctx)?.originalDestination, undefined, 'orig all zero: none');
  assert.equal(decodeHttpEvent(exchange('10.244.1.5', { ip: '10.244.1.5', port: 8080 }), 0, ctx)?.originalDestination, undefined, 'orig is the backend itself');
});

test('a request seen going to the virtual IP names it, whatever orig says', () => {
  const r = decodeHttpEvent(exchange('10.96.0.81', { ip: '10.96.0.80', port: 80 }), 0, ctx);
  assert.deepEqual(r?.originalDestination, newEndpoint('10.96.0.81', 8080));
});
