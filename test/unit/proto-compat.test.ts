// scripts/proto-compat against the committed baseline, and against broken
// copies of the schema that each break one compatibility rule.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const SCHEMA = 'podflow/v1/flow.proto';
const work = mkdtempSync(join(tmpdir(), 'pfp-compat-'));
after(() => rmSync(work, { recursive: true, force: true }));

function compat(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('bash', ['scripts/proto-compat', ...args], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

/** A copy of proto/ with `edit` applied to flow.proto; returns its root. */
function variant(name: string, edit: (schema: string) => string): string {
  const root = join(work, name);
  cpSync('proto', root, { recursive: true });
  const file = join(root, SCHEMA);
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `variant ${name} changed nothing`);
  writeFileSync(file, after);
  return root;
}

test('the schema in proto/ is compatible with the committed baseline', () => {
  const r = compat([]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /compatible/);
});

const BREAKS: [string, (s: string) => string, RegExp][] = [
  ['retyped', (s) => s.replace('string node_name = 6;', 'uint32 node_name = 6;'), /FlowRecord\.node_name = 6: field number 6 retyped from .* to /],
  ['renamed', (s) => s.replace('string conversation_id = 4;', 'string conversation = 4;'), /field number 4 renamed to "conversation"/],
  ['removed', (s) => s.replace('Observation observation = 19;', ''), /FlowRecord\.observation = 19: field removed without reserving number 19/],
  ['made repeated', (s) => s.replace('string host = 5;', 'repeated string host = 5;'), /Http\.host = 5: field number 5 retyped/],
  ['enum value renamed', (s) => s.replace('LOSS = 10;', 'LOSSES = 10;'), /RecordType\.LOSS = 10: enum value 10 renamed to "LOSSES"/],
  ['message removed', (s) => s.replace(/message Workload \{[^}]*\}/, '').replace('Workload workload = 5;', 'reserved 5; reserved "workload";'), /message podflow\.v1\.Workload was removed/],
];

for (const [name, edit, message] of BREAKS) {
  test(`schema change "${name}" fails the check`, () => {
    const r = compat(['--proto-root', variant(name.replace(/ /g, '-'), edit)]);
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, message);
  });
}

test('a field removed with its number and name reserved passes', () => {
  const root = variant('reserved', (s) => s.replace('Observation observation = 19;', 'reserved 19;\n  reserved "observation";'));
  const r = compat(['--proto-root', root]);
  assert.equal(r.status, 0, r.output);
});

test('a new field passes; reusing a reserved number then fails', () => {
  const added = variant('added', (s) => s.replace('Endpoint original_destination = 20;', 'Endpoint original_destination = 20;\n  string cluster = 21;'));
  assert.equal(compat(['--proto-root', added]).status, 0);
  // A baseline where 21 was reserved: using it again must fail.
  const reservedRoot = variant('reserved-21', (s) => s.replace('Endpoint original_destination = 20;', 'Endpoint original_destination = 20;\n  reserved 21;'));
  const baseline = join(work, 'baseline-21.binpb');
  assert.equal(compat(['--proto-root', reservedRoot, '--baseline', baseline, '--update']).status, 0);
  const r = compat(['--proto-root', added, '--baseline', baseline]);
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /FlowRecord\.cluster = 21: reuses reserved field number 21/);
});
