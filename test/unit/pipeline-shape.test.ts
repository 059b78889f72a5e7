import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor, REDACTED } from '../../src/pipeline/redactor.js';
import { Sampler } from '../../src/pipeline/sampler.js';
import { Shaper } from '../../src/pipeline/shaper.js';
import { StageCounter } from '../../src/pipeline/stage-counter.js';
import { copy, sampleRecords } from './pipeline-fixtures.js';
import { conversationId } from '../../src/probes/shared/conversation.js';
import { podflow } from '../../src/proto/gen/flow.js';

test('sampling is by conversation: the rate of connections kept, all records of a kept one, the same decision on every agent', () => {
  const agentA = new Sampler({ TCP_OPEN: 0.25, TCP_CLOSE: 0.25, DNS: 0 });
  const agentB = new Sampler({ TCP_OPEN: 0.25, TCP_CLOSE: 0.25, DNS: 0 });
  const r = sampleRecords();
  const a = Buffer.from([10, 0, 0, 1]);
  const b = Buffer.alloc(4);
  let kept = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    b.writeUInt32BE(0x0a010000 + i);
    const id = conversationId(4, 6, a, 0, 40000 + (i % 20000), b, 0, 8080);
    const client = { ...r.TCP_OPEN, conversationId: id, observation: { probe: 'tcp', hook: 'h', side: podflow.v1.Side.CLIENT } };
    const server = { ...client, observation: { ...client.observation, side: podflow.v1.Side.SERVER } };
    const close = { ...r.TCP_CLOSE, conversationId: id };
    const decision = agentA.keep(client);
    assert.equal(agentA.keep(server), decision, 'both sockets\' views together');
    assert.equal(agentA.keep(close), decision, 'its close with its open (equal rates)');
    assert.equal(agentB.keep(client), decision, 'the same on another agent');
    assert.equal(agentA.keep({ ...r.DNS, conversationId: id }), false);
    assert.equal(agentA.keep({ ...r.HTTP, conversationId: id }), true, 'types not listed are kept');
    if (decision) kept++;
  }
  // Binomial(20000, 0.25): sd 61; 6 sd either side.
  assert.ok(Math.abs(kept - n / 4) < 370, `${kept} of ${n} conversations kept at 0.25`);
});

test('records without a conversation id (or one that is no hash) keep exactly the configured fraction per type, other types untouched', () => {
  // sampleRecords()'s conversationId ('c0ffee') is too short to be a hash; without one at all is the other case.
  const all = sampleRecords();
  for (const conversationId of [undefined, all.FLOW!.conversationId, 'not-a-hash']) {
    const sampler = new Sampler({ FLOW: 0.25, DNS: 0 });
    const r = Object.fromEntries(Object.entries(all).map(([name, record]) => [name, { ...record, conversationId }]));
    let flows = 0, dns = 0, http = 0;
    for (let i = 0; i < 1000; i++) {
      if (sampler.keep(r.FLOW!)) flows++;
      if (sampler.keep(r.DNS!)) dns++;
      if (sampler.keep(r.HTTP!)) http++;
    }
    assert.deepEqual([flows, dns, http], [250, 0, 1000], `conversationId ${conversationId}`);
  }
});

test('sampling rejects bad rates and LOSS', () => {
  assert.throws(() => new Sampler({ FLOW: 1.5 }), /sampling\.FLOW: 1\.5 is not a sampling rate \(expected a number from 0 to 1\)/);
  assert.throws(() => new Sampler({ FLOWZ: 0.5 } as never), /sampling\.FLOWZ: unknown record type/);
  assert.throws(() => new Sampler({ LOSS: 0.5 }), /LOSS records cannot be sampled/);
});

test('query strings leave HTTP paths by default; rules and DNS redaction on request', () => {
  const http = copy(sampleRecords().HTTP);
  http.http!.path = '/login?user=alice&token=s3cr3t#top';
  new Redactor().redact(http);
  assert.equal(http.http!.path, '/login');

  const kept = copy(sampleRecords().HTTP);
  kept.http!.path = '/a?b=c';
  new Redactor({ httpQueryStrings: false }).redact(kept);
  assert.equal(kept.http!.path, '/a?b=c');

  const ruled = copy(sampleRecords().HTTP);
  ruled.http!.path = '/users/12345/orders/678';
  new Redactor({ rules: [{ field: 'http.path', pattern: '/\\d+', replacement: '/:id' }] }).redact(ruled);
  assert.equal(ruled.http!.path, '/users/:id/orders/:id');

  const dns = copy(sampleRecords().DNS);
  new Redactor({ dnsQueryNames: true }).redact(dns);
  assert.equal(dns.dns!.query, REDACTED);
});

test('bad redaction rules are named', () => {
  assert.throws(() => new Redactor({ rules: [{ field: 'http.path', pattern: '(', replacement: '' }] }), /redaction\.rules\[0\]\.pattern: "\(" is not a valid regular expression/);
  assert.throws(() => new Redactor({ rules: [{ field: 'http.body' as never, pattern: 'x', replacement: '' }] }), /redaction\.rules\[0\]\.field: "http\.body" cannot be redacted \(expected one of http\.path/);
});

test('the shaper filters, samples, redacts and counts each outcome', () => {
  const counter = new StageCounter('shape');
  const shaper = new Shaper({ filters: { allow: [], deny: [{ type: ['DNS'] }] }, sampling: { FLOW: 0.5 } }, counter);
  const r = sampleRecords();
  const inputs = [r.DNS, r.FLOW, r.FLOW, r.FLOW, r.FLOW, copy(r.HTTP)];
  inputs[5].http!.path = '/x?y';
  const passed = inputs.filter((rec) => shaper.process(rec));
  assert.equal(passed.length, 3);
  assert.equal(inputs[5].http!.path, '/x');
  assert.deepEqual(counter.snapshot(), { stage: 'shape', received: 6, emitted: 3, failed: 0, dropped: { filtered: 1, sampled: 2 } });
  assert.deepEqual([...counter.losses()], [], 'policy drops are not losses');
});
