// Per-CPU u64 counter arrays (PF_COUNTERS in bpf/include/common.h): the kernel
// adds without atomics on its own CPU; the total is the sum over the CPUs.
import type { BpfMap } from 'libbpf-ts';

/** The total of entry `index` of a per-CPU u64 array; `key` is a 4-byte scratch buffer. */
export function sumPerCpu(map: BpfMap, index: number, key: Buffer = Buffer.alloc(4)): number {
  key.writeUInt32LE(index);
  const value = map.lookup(key);
  let n = 0;
  if (value) for (const cpu of map.perCpuValues(value)) n += Number(cpu.readBigUInt64LE(0));
  return n;
}
