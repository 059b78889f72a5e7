// Container ids on socket records: the probes read them from the enrich
// module's CgroupResolver cache (one parser of runtime cgroup names for the
// whole agent) and never walk the cgroup tree on the decode path.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CgroupResolver } from '../../src/enrich/cgroup.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { SockEvent as L } from '../../src/probes/shared/layouts.js';
import { findCgroup2Root } from '../../src/probes/shared/mounts.js';
import { decodeSockEvent } from '../../src/probes/shared/sock-event.js';

const ID = '0123456789abcdef'.repeat(4);

test('the cgroup v2 mount is found in /proc/self/mounts text', () => {
  const mounts = 'tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n';
  assert.equal(findCgroup2Root(mounts), '/sys/fs/cgroup/unified');
  assert.equal(findCgroup2Root('cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n'), undefined);
});

/** A TCP_OPEN event of a process in cgroup `cgroupId`. */
function event(cgroupId: number): Buffer {
  const b = Buffer.alloc(L.size);
  b[L.kind] = 2;
  b[L.ip_version] = 4;
  b.writeUInt32LE(42, L.pid);
  b.writeBigUInt64LE(BigInt(cgroupId), L.cgroup_id);
  b.write('curl', L.comm);
  return b;
}

test('socket records carry the container id of their cgroup from the resolver cache; the CRI-O conmon scope is no container', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pfi-cgroups-'));
  try {
    const container = join(root, 'kubepods.slice', `crio-${ID}.scope`);
    const conmon = join(root, 'kubepods.slice', `crio-conmon-${ID}.scope`);
    mkdirSync(container, { recursive: true });
    mkdirSync(conmon);
    const cgroups = new CgroupResolver({ root, minRescanIntervalMs: 60_000, maxDepth: 8 });
    await cgroups.scan();
    const ctx: ProbeContext = { nodeName: 'n', clock: new MonotonicClock(), ingress: { ingest: () => undefined }, interfaces: new InterfaceIndex(), cgroups, objectDir: '' };
    const decode = (id: number) => decodeSockEvent(event(id), 0, ctx, 'tcp', 'test').process;
    assert.deepEqual(decode(statSync(container).ino), { pid: 42, command: 'curl', cgroupId: statSync(container).ino, containerId: ID });
    assert.equal(decode(statSync(conmon).ino)?.containerId, '', 'crio-conmon-<id> is the runtime monitor, not the container');
    // A cgroup created after the scan: no synchronous walk on the decode path; the enricher fills it from cgroupId later.
    const late = join(root, 'kubepods.slice', `crio-${'f'.repeat(64)}.scope`);
    mkdirSync(late);
    const scans = cgroups.scans;
    assert.equal(decode(statSync(late).ino)?.containerId, '');
    assert.equal(cgroups.scans, scans, 'decoding did not walk the tree');
    cgroups.stop();
    const noCgroups = { ...ctx, cgroups: null };
    assert.equal(decodeSockEvent(event(statSync(container).ino), 0, noCgroups, 'tcp', 'test').process?.containerId, '', 'no cgroup v2: left to the enricher');
  } finally {
    rmSync(root, { recursive: true });
  }
});
