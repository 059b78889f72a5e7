// Methods beyond the nine of RFC 9110 section 9: servers serve them (Node: PROPFIND, PURGE, MKCOL,
// QUERY, M-SEARCH, ...; nginx: any of A-Z, '-', '_'; Go's net/http: any token, lowercase too), so a
// request line with any token method is a request, and one with no token before its space is none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestHead } from '../../src/probes/http/parse.js';

const req = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return parseRequestHead(b, 0, b.length);
};

test('any token method of up to 20 bytes, as sent', () => {
  for (const method of ['PROPFIND', 'PURGE', 'MKCOL', 'M-SEARCH', 'UPDATEREDIRECTREF', 'get', 'X_Y.1!', 'ABCDEFGHIJKLMNOPQRST']) {
    assert.deepEqual(req(`${method} /admin HTTP/1.1\r\nHost: backend\r\n\r\n`), { method, path: '/admin', version: 'HTTP/1.1', host: 'backend' }, method);
  }
  assert.equal(req('PROPFIND http://backend/x HTTP/1.1\r\n\r\n')?.path, 'http://backend/x');
});

test('no token, or a longer one, before the space: no request', () => {
  for (const s of ['ABCDEFGHIJKLMNOPQRSTU /x HTTP/1.1\r\n', 'PROP(FIND /x HTTP/1.1\r\n', 'PROP/FIND /x HTTP/1.1\r\n', 'PR\x80P /x HTTP/1.1\r\n', ' /x HTTP/1.1\r\n', 'HELLO there']) {
    assert.equal(req(s), undefined, JSON.stringify(s));
  }
});
