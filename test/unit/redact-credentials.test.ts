// Credentials never reach a sink in an HTTP record: the userinfo of an
// absolute-form request target (a request to a proxy), a Host header carrying
// one, and a servlet session id in the path go, whatever the options say.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor, REDACTED } from '../../src/pipeline/redactor.js';
import { copy, sampleRecords } from './pipeline-fixtures.js';

function redacted(http: { path?: string; host?: string; version?: string }, options = {}): { path: string; host: string } {
  const record = copy(sampleRecords().HTTP);
  Object.assign(record.http!, http);
  new Redactor(options).redact(record);
  return { path: record.http!.path ?? '', host: record.http!.host ?? '' };
}

test('the userinfo of an absolute-form target goes, with or without query-string redaction', () => {
  assert.equal(redacted({ path: 'http://alice:hunter2@api.shop.svc:8080/api/users?token=abc' }).path, 'http://api.shop.svc:8080/api/users');
  assert.equal(redacted({ path: 'http://alice:hunter2@api.shop.svc:8080/a?b=c' }, { httpQueryStrings: false }).path, 'http://api.shop.svc:8080/a?b=c');
  // The authority ends at the first "/", "?" or "#"; an "@" after it is the path's.
  assert.equal(redacted({ path: 'https://u:p@ss@host/x' }).path, 'https://host/x');
  assert.equal(redacted({ path: 'http://host/users/@me' }).path, 'http://host/users/@me');
  assert.equal(redacted({ path: 'http://token@host' }).path, 'http://host');
  assert.equal(redacted({ path: '/plain/@path' }).path, '/plain/@path');
});

test('an authority the copied request line cuts short may be a password in the making: it goes', () => {
  // version '' means the request line was longer than the copy.
  assert.equal(redacted({ path: 'http://alice:hunt', version: '' }).path, `http://${REDACTED}`);
  assert.equal(redacted({ path: 'http://host:8080', version: 'HTTP/1.1' }).path, 'http://host:8080');
  assert.equal(redacted({ path: 'http://host:8080/x', version: '' }).path, 'http://host:8080/x');
});

test('a Host header with userinfo keeps only the host', () => {
  assert.equal(redacted({ host: 'alice:hunter2@api.shop.svc:8080' }).host, 'api.shop.svc:8080');
  assert.equal(redacted({ host: 'api.shop.svc' }).host, 'api.shop.svc');
});

test('a servlet session id in the path (;jsessionid=) goes, other path parameters stay', () => {
  assert.equal(redacted({ path: '/shop/cart;jsessionid=0123456789ABCDEF?x=1' }).path, '/shop/cart');
  assert.equal(redacted({ path: '/shop/cart;JSESSIONID=0123456789ABCDEF/next' }).path, '/shop/cart/next');
  assert.equal(redacted({ path: '/shop/cart;jsessionid=0123?x=1' }, { httpQueryStrings: false }).path, '/shop/cart?x=1');
  assert.equal(redacted({ path: '/cars;color=red' }).path, '/cars;color=red');
});

test('the cheap checks before each pattern skip nothing: mixed case, several markers, markers in the query or fragment', () => {
  assert.equal(redacted({ path: '/a;JsEsSiOnId=42;v=1' }).path, '/a;v=1');
  assert.equal(redacted({ path: '/a;jsessionid=1;jsessionid=2/b' }).path, '/a/b');
  assert.equal(redacted({ path: 'HTTP://u:p@host;jsessionid=9/x' }).path, 'HTTP://host/x');
  assert.equal(redacted({ path: 'http://u@h/x?to=a@b;jsessionid=1' }, { httpQueryStrings: false }).path, 'http://h/x?to=a@b');
  assert.equal(redacted({ path: 'http://u:p@', version: '' }).path, 'http://');
  assert.equal(redacted({ path: '/x', host: 'u@h@api.shop.svc' }).host, 'api.shop.svc');
  // Query and fragment: whichever comes first cuts.
  assert.equal(redacted({ path: '/a#f?q' }).path, '/a');
  assert.equal(redacted({ path: '/a?q#f' }).path, '/a');
  assert.equal(redacted({ path: '/a#f' }).path, '/a');
  assert.equal(redacted({ path: '?q' }).path, '');
});

test('the result is what running every pattern on every path gives', () => {
  // The rules as written before the cheap checks: every pattern, every path.
  const reference = (path: string, version: string, queries: boolean): string => {
    let p = path.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/, '$1');
    if (!version) p = p.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*:[^/?#]*$/, `$1${REDACTED}`);
    p = p.replace(/;jsessionid=[^/?#;]*/gi, '');
    const cut = p.search(/[?#]/);
    return queries && cut >= 0 ? p.slice(0, cut) : p;
  };
  const pieces = ['http://', 'u', ':', 'p', '@', 'h', '/', '?', '#', ';', 'jsessionid=', 'JSESSIONID=', 'x'];
  let seed = 7;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8;
  for (let n = 0; n < 3000; n++) {
    let path = '';
    const len = 1 + (next() % 8);
    for (let i = 0; i < len; i++) path += pieces[next() % pieces.length];
    for (const version of ['', 'HTTP/1.1']) {
      for (const queries of [true, false]) {
        assert.equal(redacted({ path, version }, { httpQueryStrings: queries }).path || '', reference(path, version, queries) || '', `${path} ${version} ${queries}`);
      }
    }
  }
});
