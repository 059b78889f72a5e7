// A small reader of the BTF format (kernel Documentation/bpf/btf.rst), enough
// to name enum values of the running kernel (e.g. enum skb_drop_reason, whose
// numbers change between kernels) from /sys/kernel/btf/vmlinux.
import { readFileSync } from 'node:fs';

const BTF_MAGIC = 0xeb9f;
const KIND_ENUM = 6;
const KIND_ENUM64 = 19;

/** Bytes that follow struct btf_type for each kind: fixed, plus per-vlen entries. */
const EXTRA: Record<number, { fixed: number; perVlen: number }> = {
  1: { fixed: 4, perVlen: 0 }, // INT
  3: { fixed: 12, perVlen: 0 }, // ARRAY
  4: { fixed: 0, perVlen: 12 }, // STRUCT
  5: { fixed: 0, perVlen: 12 }, // UNION
  6: { fixed: 0, perVlen: 8 }, // ENUM
  13: { fixed: 0, perVlen: 8 }, // FUNC_PROTO
  14: { fixed: 4, perVlen: 0 }, // VAR
  15: { fixed: 0, perVlen: 12 }, // DATASEC
  17: { fixed: 4, perVlen: 0 }, // DECL_TAG
  19: { fixed: 0, perVlen: 12 }, // ENUM64
};

export class BtfError extends Error {}

/** The enums of a BTF blob, by name: value -> member name. */
export function readBtfEnums(btf: Buffer, source: string): Map<string, Map<number, string>> {
  if (btf.length < 24 || btf.readUInt16LE(0) !== BTF_MAGIC) {
    throw new BtfError(`${source} is not BTF: expected magic 0xeb9f (little-endian) at offset 0`);
  }
  const hdrLen = btf.readUInt32LE(4);
  const typeStart = hdrLen + btf.readUInt32LE(8);
  const typeEnd = typeStart + btf.readUInt32LE(12);
  const strStart = hdrLen + btf.readUInt32LE(16);
  const strEnd = strStart + btf.readUInt32LE(20);
  if (typeEnd > btf.length || strEnd > btf.length) throw new BtfError(`${source} is truncated: its header names sections past its ${btf.length} bytes`);
  const name = (off: number): string => {
    const start = strStart + off;
    const end = btf.indexOf(0, start);
    return btf.toString('latin1', start, end < 0 || end > strEnd ? strEnd : end);
  };

  const enums = new Map<string, Map<number, string>>();
  for (let off = typeStart; off < typeEnd; ) {
    const info = btf.readUInt32LE(off + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const signed = info >>> 31 === 1;
    const body = off + 12;
    if (kind === KIND_ENUM || kind === KIND_ENUM64) {
      const values = new Map<number, string>();
      const stride = kind === KIND_ENUM ? 8 : 12;
      for (let i = 0; i < vlen; i++) {
        const m = body + i * stride;
        const value = kind === KIND_ENUM ? (signed ? btf.readInt32LE(m + 4) : btf.readUInt32LE(m + 4)) : btf.readUInt32LE(m + 4) + btf.readUInt32LE(m + 8) * 0x1_0000_0000;
        if (!values.has(value)) values.set(value, name(btf.readUInt32LE(m))); // aliases: the first name wins
      }
      const enumName = name(btf.readUInt32LE(off));
      if (enumName && !enums.has(enumName)) enums.set(enumName, values);
    }
    const extra = EXTRA[kind] ?? { fixed: 0, perVlen: 0 };
    if (kind === 0 || kind > 19) throw new BtfError(`${source}: unknown BTF kind ${kind} at offset ${off}`);
    off = body + extra.fixed + extra.perVlen * vlen;
  }
  return enums;
}

/**
 * Names of enum skb_drop_reason on the running kernel, without the SKB_DROP_REASON_ / SKB_ prefix
 * (e.g. 3 -> "NO_SOCKET", 1 -> "CONSUMED").
 */
export function loadDropReasons(path = '/sys/kernel/btf/vmlinux'): Map<number, string> {
  const values = readBtfEnums(readFileSync(path), path).get('skb_drop_reason');
  if (!values) throw new BtfError(`${path} has no enum skb_drop_reason: the kernel is older than 5.17 or built without drop reasons`);
  const out = new Map<number, string>();
  for (const [value, full] of values) out.set(value, full.replace(/^SKB_DROP_REASON_/, '').replace(/^SKB_/, ''));
  return out;
}
