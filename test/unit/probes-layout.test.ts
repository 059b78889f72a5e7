// The TypeScript offsets of bpf/include/events.h structs against the BTF clang
// wrote into the built objects, read by bpftool (an independent reader).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { LAYOUTS } from '../../src/probes/shared/layouts.js';

const BUILD = fileURLToPath(new URL('../../../bpf/build/', import.meta.url));

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: { name: string; bits_offset: number }[];
}

function structsOf(object: string): Map<string, BtfType> {
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', `${BUILD}${object}`, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  return new Map(types.filter((t) => t.kind === 'STRUCT' && t.name).map((t) => [t.name ?? '', t]));
}

const WHERE: Record<keyof typeof LAYOUTS, string> = {
  flow_key: 'packet.bpf.o',
  pf_flow_stats: 'packet.bpf.o',
  pf_flow_dir: 'packet.bpf.o',
  pf_sock_event: 'tcp.bpf.o',
  pf_drop_event: 'drops.bpf.o',
  pf_drop_window: 'drops.bpf.o',
  pf_retransmit_window: 'retransmit.bpf.o',
  pf_dns_event: 'packet.bpf.o',
  pf_http_event: 'packet.bpf.o',
  http_conn: 'packet.bpf.o',
  pf_svc_key: 'svc.bpf.o',
  pf_svc_orig: 'svc.bpf.o',
};

for (const [struct, layout] of Object.entries(LAYOUTS) as [keyof typeof LAYOUTS, Record<string, number>][]) {
  test(`layout of struct ${struct} matches the BTF of ${WHERE[struct]}`, () => {
    const btf = structsOf(WHERE[struct]).get(struct);
    assert.ok(btf, `struct ${struct} is not in the BTF of ${WHERE[struct]} (is it referenced by a program?)`);
    assert.equal(layout.size, btf.size, `sizeof(struct ${struct})`);
    const members = new Map((btf.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
    for (const [field, offset] of Object.entries(layout)) {
      if (field === 'size') continue;
      assert.equal(offset, members.get(field), `offsetof(struct ${struct}, ${field})`);
    }
    // Every C member except padding is described in TypeScript.
    for (const name of members.keys()) {
      if (!name.startsWith('pad')) assert.ok(name in layout, `struct ${struct} member ${name} has no TypeScript offset`);
    }
  });
}

test('the tcp probe variants share one pf_sock_event layout', () => {
  const a = structsOf('tcp.bpf.o').get('pf_sock_event');
  assert.ok(a);
  const shape = (t: BtfType | undefined): unknown => (t ? [t.size, t.members?.map((m) => [m.name, m.bits_offset])] : undefined);
  for (const o of ['tcp_fentry.bpf.o', 'tcp_kprobe.bpf.o', 'retransmit.bpf.o']) {
    assert.deepEqual(shape(structsOf(o).get('pf_sock_event')), shape(a), o);
  }
});
