// The BPF programs this test process holds (by its file descriptors), so a
// test that checks its programs are unloaded compares only its own: other
// engineers' agents load programs with the same names at the same time.
import { readdirSync, readFileSync } from 'node:fs';

/** Ids of the BPF programs the calling process holds an fd of. */
export function heldProgramIds(): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile (the directory fd itself)
    }
    const m = /^prog_id:\s*(\d+)$/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}
