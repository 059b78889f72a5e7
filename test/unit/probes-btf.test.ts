// The BTF reader against bpftool's view of the running kernel's BTF.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { BtfError, loadDropReasons, readBtfEnums } from '../../src/probes/shared/btf.js';

test('drop reasons read from /sys/kernel/btf/vmlinux equal bpftool\'s enum skb_drop_reason', () => {
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 512 << 20 });
  const types = (JSON.parse(json) as { types: { kind: string; name?: string; values?: { name: string; val: number }[] }[] }).types;
  const bpftool = types.find((t) => t.kind === 'ENUM' && t.name === 'skb_drop_reason');
  assert.ok(bpftool?.values, 'bpftool finds enum skb_drop_reason');
  const ours = loadDropReasons();
  // Real reasons only: masks like SUBSYS_MASK are printed sign-extended past what a JS number holds.
  const expected = new Map<number, string>();
  for (const { name, val } of bpftool.values) if (val < 2 ** 31 && !expected.has(val)) expected.set(val, name.replace(/^SKB_DROP_REASON_/, '').replace(/^SKB_/, ''));
  assert.ok(expected.size > 50);
  for (const [val, name] of expected) assert.equal(ours.get(val), name, `value ${val}`);
  assert.equal([...ours.values()].includes('NO_SOCKET'), true);
  assert.equal([...ours.values()].includes('NOT_SPECIFIED'), true);
});

test('a buffer that is not BTF is refused with what was expected', () => {
  assert.throws(() => readBtfEnums(Buffer.from('not btf at all, clearly not'), 'x.bin'), (err: unknown) => err instanceof BtfError && /x\.bin is not BTF: expected magic 0xeb9f/.test(err.message));
  const truncated = Buffer.alloc(24);
  truncated.writeUInt16LE(0xeb9f, 0);
  truncated.writeUInt32LE(24, 4);
  truncated.writeUInt32LE(1000, 12);
  assert.throws(() => readBtfEnums(truncated, 'short.btf'), /short\.btf is truncated/);
});
