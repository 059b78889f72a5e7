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
