// Filters combine like `hubble observe`: same-field values OR, fields AND,
// allow list OR, deny list wins, plain fields match either side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileFilter, compileFilterSet, FilterError, filterSetFromFlags, type FlowFilter } from '../../src/pipeline/filter.js';
import { sampleRecords } from './pipeline-fixtures.js';

const r = sampleRecords();
const matches = (f: FlowFilter, name: string) => compileFilter(f)(r[name]);

test('either-side, from- and to- forms', () => {
  assert.ok(matches({ pod: ['backend'] }, 'HTTP'));
  assert.ok(matches({ pod: ['frontend'] }, 'HTTP'));
  assert.ok(matches({ fromPod: ['default/frontend'] }, 'HTTP'));
  assert.ok(!matches({ toPod: ['default/frontend'] }, 'HTTP'));
  assert.ok(!matches({ pod: ['kube-system/backend'] }, 'HTTP'));
  assert.ok(matches({ toNamespace: ['kube-system'] }, 'DNS'));
  assert.ok(!matches({ fromNamespace: ['kube-system'] }, 'DNS'));
  assert.ok(matches({ toService: ['default/backend'] }, 'HTTP'));
  assert.ok(matches({ workload: ['default/Deployment/frontend'] }, 'HTTP'));
  assert.ok(matches({ toWorkload: ['backend'] }, 'HTTP'));
  assert.ok(!matches({ toWorkload: ['default/StatefulSet/backend'] }, 'HTTP'));
});

test('IP, CIDR (v4 and v6) and port', () => {
  assert.ok(matches({ ip: ['10.236.0.0/16'] }, 'HTTP'));
  assert.ok(matches({ toIp: ['10.236.2.20'] }, 'HTTP'));
  assert.ok(!matches({ fromIp: ['10.236.2.0/24'] }, 'HTTP'));
  assert.ok(matches({ toIp: ['fd00::/64'] }, 'DNS'));
  assert.ok(!matches({ toIp: ['fd01::/64'] }, 'DNS'));
  assert.ok(matches({ toPort: [8080] }, 'HTTP'));
  assert.ok(matches({ port: [43512] }, 'HTTP'));
  assert.ok(!matches({ fromPort: [8080] }, 'HTTP'));
});

test('labels: equality, inequality, existence, absence, all terms required', () => {
  assert.ok(matches({ fromLabel: ['app=frontend'] }, 'HTTP'));
  assert.ok(matches({ fromLabel: ['app=frontend,tier'] }, 'HTTP'));
  assert.ok(!matches({ fromLabel: ['app=frontend,!tier'] }, 'HTTP'));
  assert.ok(matches({ toLabel: ['app!=frontend'] }, 'HTTP'));
  assert.ok(matches({ label: ['tier=web'] }, 'HTTP'));
  assert.ok(!matches({ toLabel: ['tier'] }, 'HTTP'));
});

test('protocol, record type, verdict and node', () => {
  assert.ok(matches({ protocol: ['udp'] }, 'DNS'));
  assert.ok(matches({ protocol: ['dns'] }, 'DNS'));
  assert.ok(matches({ protocol: ['http'] }, 'HTTP'));
  assert.ok(!matches({ protocol: ['udp'] }, 'HTTP'));
  assert.ok(matches({ type: ['DROP', 'FLOW'] }, 'FLOW'));
  assert.ok(!matches({ type: ['DROP'] }, 'FLOW'));
  assert.ok(matches({ verdict: ['DROPPED'] }, 'DROP'));
  assert.ok(matches({ verdict: ['FORWARDED'] }, 'FLOW'));
  assert.ok(matches({ node: ['node-a'] }, 'FLOW'));
});

test('values of one field OR, different fields AND', () => {
  assert.ok(matches({ type: ['DNS', 'HTTP'], fromPod: ['frontend'] }, 'HTTP'));
  assert.ok(!matches({ type: ['DNS', 'HTTP'], fromPod: ['backend'] }, 'HTTP'));
});

test('allow list ORs, deny list removes, LOSS always passes', () => {
  const keep = compileFilterSet({ allow: [{ type: ['HTTP'] }, { type: ['DNS'] }], deny: [{ toNamespace: ['kube-system'] }] });
  assert.deepEqual(Object.keys(r).filter((name) => keep(r[name])), ['HTTP', 'LOSS']);
  const none = compileFilterSet({ allow: [], deny: [] });
  assert.ok(Object.values(r).every((rec) => none(rec)));
});

test('flags build one allow and one deny filter, like hubble observe --not', () => {
  const set = filterSetFromFlags([
    { flag: 'type', value: 'HTTP' },
    { flag: 'type', value: 'DNS' },
    { flag: 'from-pod', value: 'default/frontend' },
    { flag: 'to-namespace', value: 'kube-system', negate: true },
  ]);
  assert.deepEqual(set, { allow: [{ type: ['HTTP', 'DNS'], fromPod: ['default/frontend'] }], deny: [{ toNamespace: ['kube-system'] }] });
  const keep = compileFilterSet(set);
  assert.ok(keep(r.HTTP));
  assert.ok(!keep(r.DNS));
  assert.ok(!keep(r.FLOW));
});

test('bad input names the field, the value and what was expected', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => compileFilter({ ip: ['10.0.0.0/33'] }, 'filters.allow[0]'), /filters\.allow\[0\]\.ip: "10\.0\.0\.0\/33" is not an IP address or CIDR \(expected/],
    [() => compileFilter({ ip: ['not-an-ip'] }), /"not-an-ip" is not an IP address or CIDR/],
    [() => compileFilter({ port: [70000] }), /"70000" is not a port \(expected an integer 0-65535\)/],
    [() => compileFilter({ type: ['FLOWS' as never] }), /unknown record type "FLOWS" \(expected one of FLOW, TCP_OPEN/],
    [() => compileFilter({ verdict: ['ALLOWED' as never] }), /unknown verdict "ALLOWED" \(expected FORWARDED or DROPPED\)/],
    [() => compileFilter({ protocol: ['quic'] }), /unknown protocol "quic"/],
    [() => compileFilter({ label: ['a=b,=c'] }), /bad label selector term "=c"/],
    [() => compileFilter({ bogus: ['x'] } as never), /filter\.bogus: unknown filter field/],
    [() => filterSetFromFlags([{ flag: 'from-pods', value: 'x' }]), /--from-pods: unknown filter flag \(expected one of .*--from-pod/],
    [() => filterSetFromFlags([{ flag: 'to-port', value: 'http' }]), /--to-port: "http" is not a port/],
  ];
  for (const [fn, message] of cases) assert.throws(fn, (err: Error) => err instanceof FilterError && message.test(err.message));
});
