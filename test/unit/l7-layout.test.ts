// The L7 event layouts in src/probes/dns/layout.ts against the BTF clang wrote
// into the built objects, read by bpftool (an independent BTF reader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { L7_LAYOUTS } from '../../src/probes/dns/layout.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));
const OBJECTS = ['dns.bpf.o', 'http.bpf.o', 'svc.bpf.o'];

interface BtfStruct {
  size: number;
  members: Map<string, number>;
}

function structsOf(object: string): Map<string, BtfStruct> {
  const raw = execFileSync('bpftool', ['btf', 'dump', 'file', BUILD + object, 'format', 'raw'], { encoding: 'utf8' });
  const out = new Map<string, BtfStruct>();
  let current: BtfStruct | undefined;
  for (const line of raw.split('\n')) {
    const s = /^\[\d+\] STRUCT '([^']+)' size=(\d+)/.exec(line);
    if (s) {
      current = { size: Number(s[2]), members: new Map() };
      out.set(s[1] ?? '', current);
      continue;
    }
    const m = /^\s+'([^']+)' type_id=\d+ bits_offset=(\d+)/.exec(line);
    if (m && current) current.members.set(m[1] ?? '', Number(m[2]) / 8);
    else if (!line.startsWith('\t')) current = undefined;
  }
  return out;
}

test('every L7 layout matches the BTF of the objects that use it', () => {
  const all = new Map<string, BtfStruct>();
  for (const o of OBJECTS) for (const [name, s] of structsOf(o)) if (!all.has(name)) all.set(name, s);
  for (const [name, layout] of Object.entries(L7_LAYOUTS)) {
    const s = all.get(name);
    assert.ok(s, `struct ${name} not found in the BTF of ${OBJECTS.join(', ')}`);
    assert.equal(layout.size, s.size, `sizeof(struct ${name})`);
    for (const [field, off] of Object.entries(layout)) {
      if (field === 'size') continue;
      assert.equal(off, s.members.get(field), `offsetof(struct ${name}, ${field})`);
    }
    for (const [field, off] of s.members) {
      if (field === 'pad') continue;
      assert.ok(field in layout, `struct ${name} has field ${field} at ${off} that the TypeScript layout lacks`);
    }
  }
});
