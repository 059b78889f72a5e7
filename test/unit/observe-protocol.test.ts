// The observe socket's request line as `podflow observe` builds it and the
// agent checks it: a filter made from the flags must pass the agent's check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseObserveRequest } from '../../src/agent/observe-protocol.js';
import { compileFilterSet, FILTER_FIELDS, filterSetFromFlags } from '../../src/pipeline/filter.js';
import { sampleRecords } from './pipeline-fixtures.js';

/** A valid command-line value for each filter field, by its either-side name. */
const SAMPLE: Record<string, string> = {
  namespace: 'default', pod: 'default/frontend', workload: 'default/Deployment/frontend', label: 'app=frontend',
  ip: '10.236.0.0/16', port: '8080', service: 'default/backend', protocol: 'tcp', type: 'HTTP', verdict: 'FORWARDED', node: 'node-a',
};
const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const sampleOf = (field: string) => SAMPLE[field.replace(/^(from|to)([A-Z])/, (_, _side: string, c: string) => c.toLowerCase())];

const request = (filter: unknown) => JSON.stringify({ op: 'observe', last: 10, follow: false, filter, format: 'json' });

test('every filter flag, plain and after --not, makes a request the agent accepts', () => {
  for (const field of FILTER_FIELDS) {
    const value = sampleOf(field);
    assert.ok(value, `a sample value for ${field}`);
    for (const negate of [false, true]) {
      const set = filterSetFromFlags([{ flag: kebab(field), value, negate }]);
      assert.doesNotThrow(() => parseObserveRequest(request(set)), `--${negate ? 'not --' : ''}${kebab(field)} ${value}`);
    }
  }
});

test('--port 53 --not --from-port 53: numbers in the request, the same records kept as without the socket', () => {
  const set = filterSetFromFlags([{ flag: 'port', value: '53' }, { flag: 'from-port', value: '53', negate: true }]);
  assert.deepEqual(set, { allow: [{ port: [53] }], deny: [{ fromPort: [53] }] });
  const parsed = parseObserveRequest(request(set));
  assert.ok(parsed.op === 'observe' && parsed.filter);
  const records = sampleRecords();
  const kept = (keep: (r: (typeof records)[string]) => boolean) => Object.keys(records).filter((name) => keep(records[name]));
  assert.deepEqual(kept(compileFilterSet({ allow: parsed.filter.allow ?? [], deny: parsed.filter.deny ?? [] })), ['DNS', 'LOSS']);
  assert.deepEqual(kept(compileFilterSet(set)), ['DNS', 'LOSS']);
});

test('a port the schema refuses is still refused, naming the field', () => {
  assert.throws(() => parseObserveRequest(request({ allow: [{ port: ['53'] }] })), /bad filter: allow\[0\]\.port\[0\] = "53": expected a port number 0-65535/);
  assert.throws(() => parseObserveRequest(request({ deny: [{ toPort: [70000] }] })), /deny\[0\]\.toPort\[0\] = 70000: expected a port number 0-65535/);
});
