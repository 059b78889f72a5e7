import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalIp, canonicalIpv6, ipv4Key } from '../../src/enrich/ip.js';
import { CidrMatcher } from '../../src/enrich/cidr.js';

test('ipv4Key: dotted quads map to their 32-bit value', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (a, b, c, d) => {
      assert.equal(ipv4Key(`${a}.${b}.${c}.${d}`), ((a * 256 + b) * 256 + c) * 256 + d);
    }),
  );
  assert.equal(ipv4Key('255.255.255.255'), 0xffffffff);
});

test('ipv4Key: anything else is -1', () => {
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', 'a.b.c.d', '::1', '1.2.3.4 ', '1234.1.1.1']) {
    assert.equal(ipv4Key(bad), -1, bad);
  }
});

test('canonical IPs: IPv6 compressed and lower case, IPv4 without leading zeros', () => {
  assert.equal(canonicalIpv6('FD00:0:0:0:0:0:0:1'), 'fd00::1');
  assert.equal(canonicalIpv6('10.0.0.1'), null);
  assert.equal(canonicalIp('010.001.000.009'), '10.1.0.9');
  assert.equal(canonicalIp('not-an-ip'), null);
});

test('CidrMatcher: most specific network wins, IPv4 and IPv6', () => {
  const m = new CidrMatcher();
  m.set([
    { cidr: '203.0.0.0/8', name: 'wide' },
    { cidr: '203.0.113.0/24', name: 'partner-api' },
    { cidr: '203.0.113.128/25', name: 'partner-api-eu' },
    { cidr: '2001:db8::/32', name: 'docs-v6' },
    { cidr: '2001:db8:1::/48', name: 'docs-v6-narrow' },
  ]);
  const match = (ip: string): string | undefined => m.match(ipv4Key(ip), ip);
  assert.equal(match('203.0.113.7'), 'partner-api');
  assert.equal(match('203.0.113.200'), 'partner-api-eu');
  assert.equal(match('203.9.9.9'), 'wide');
  assert.equal(match('198.51.100.1'), undefined);
  assert.equal(match('2001:db8:1::5'), 'docs-v6-narrow');
  assert.equal(match('2001:db8:2::5'), 'docs-v6');
  assert.equal(match('2001:db9::1'), undefined);
});

test('CidrMatcher: a bad entry names itself and changes nothing', () => {
  const m = new CidrMatcher();
  m.set([{ cidr: '10.0.0.0/8', name: 'ten' }]);
  assert.throws(() => m.set([{ cidr: '10.0.0.0/8', name: 'ten' }, { cidr: '10.0.0.0/33', name: 'bad' }]), /networks\[1\]\.cidr: "10\.0\.0\.0\/33": IPv4 prefix length must be 0\.\.32/);
  assert.throws(() => m.set([{ cidr: '10.0.0.0', name: 'x' }]), /networks\[0\]\.cidr: .*expected address\/prefix/);
  assert.equal(m.match(ipv4Key('10.1.1.1'), '10.1.1.1'), 'ten');
});
