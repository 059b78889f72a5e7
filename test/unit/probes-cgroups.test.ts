// Container ids on socket records: the probes carry the cgroup id only; the
// enricher resolves it from its CgroupResolver cache (one parser of runtime
// cgroup names, one lookup per record, never a tree walk on the decode path).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CgroupResolver } from '../../src/enrich/cgroup.js';
import { MetadataEnricher } from '../../src/enrich/enricher.js';
import { MetadataStore } from '../../src/enrich/store.js';
import { MonotonicClock } from '../../src/probes/shared/clock.js';
import type { ProbeContext } from '../../src/probes/shared/context.js';
import { InterfaceIndex } from '../../src/probes/shared/interfaces.js';
import { SockEvent as L } from '../../src/probes/shared/layouts.js';
import { decodeSockEvent } from '../../src/probes/shared/sock-event.js';

const ID = '0123456789abcdef'.repeat(4);

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

test('socket records carry the cgroup id; its container is resolved once, by the enricher (the CRI-O conmon scope is no container)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pfi-cgroups-'));
  try {
    const container = join(root, 'kubepods.slice', `crio-${ID}.scope`);
    const conmon = join(root, 'kubepods.slice', `crio-conmon-${ID}.scope`);
    mkdirSync(container, { recursive: true });
    mkdirSync(conmon);
    const cgroups = new CgroupResolver({ root, minRescanIntervalMs: 60_000, maxDepth: 8 });
    await cgroups.scan();
    const ctx: ProbeContext = { nodeName: 'n', clock: new MonotonicClock(), ingress: { ingest: () => undefined }, interfaces: new InterfaceIndex(), objectDir: '' };
    const enricher = new MetadataEnricher({ store: new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: [] }), sources: [], cgroups });
    const decode = (id: number) => decodeSockEvent(event(id), 0, ctx, 'tcp', 'test');
    const record = decode(statSync(container).ino);
    assert.deepEqual(record.process, { pid: 42, command: 'curl', cgroupId: statSync(container).ino, containerId: '' }, 'decode does not resolve');
    const misses = cgroups.misses;
    enricher.enrich(record);
    assert.equal(record.process?.containerId, ID);
    const conmonRecord = decode(statSync(conmon).ino);
    enricher.enrich(conmonRecord);
    assert.equal(conmonRecord.process?.containerId, '', 'crio-conmon-<id> is the runtime monitor, not the container');
    assert.equal(cgroups.misses, misses, 'both cgroups answered from the one cache, each looked up once');
    cgroups.stop();
  } finally {
    rmSync(root, { recursive: true });
  }
});
