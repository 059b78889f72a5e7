// Records whose cgroup id no walk of the tree finds (the root cgroup's own
// processes, a cgroup deeper than maxDepth, one already removed) must not make
// the resolver walk the whole tree every minRescanIntervalMs for as long as
// they come: on a node whose host processes sit in the root cgroup that was a
// walk a second, forever. A directory tree stands in for the cgroup v2 mount.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CgroupResolver } from '../../src/enrich/cgroup.js';

const root = mkdtempSync(path.join(tmpdir(), 'pf-cgroup-unknown-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ID = 'ab'.repeat(32);
mkdirSync(path.join(root, 'system.slice'));
mkdirSync(path.join(root, 'system.slice', `docker-${ID}.scope`));

async function scansWhileAsking(resolver: CgroupResolver, ids: readonly number[], ms: number): Promise<number> {
  const before = resolver.scans;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const id of ids) resolver.resolve(id);
    await sleep(5);
  }
  return resolver.scans - before;
}

test('CgroupResolver: the root cgroup and ids no walk finds cost one rescan, not one per interval', async () => {
  const resolver = new CgroupResolver({ root, minRescanIntervalMs: 20, maxDepth: 8 });
  await resolver.scan();
  const rootId = Number(statSync(root).ino);
  const ctr = Number(statSync(path.join(root, 'system.slice', `docker-${ID}.scope`)).ino);
  assert.equal(resolver.resolve(ctr)?.containerId, ID);

  // The root is known from the walk: its records are no miss.
  const misses = resolver.misses;
  assert.equal(resolver.resolve(rootId), undefined);
  assert.equal(resolver.misses, misses, 'the root cgroup missed');

  // An id of no cgroup in the tree: the first miss walks again, that walk files it, and asking
  // again for 500 ms (25 intervals) walks no more.
  const gone = 2 ** 40 + 7;
  assert.equal(resolver.resolve(gone), undefined);
  // Deadlines for a loaded machine: a walk is a few milliseconds of fs calls otherwise.
  const deadline = Date.now() + 30_000;
  while (resolver.scans < 2 && Date.now() < deadline) await sleep(5);
  assert.equal(resolver.scans, 2);
  assert.equal(await scansWhileAsking(resolver, [gone, rootId], 500), 0, 'records of an unknown cgroup walked the tree again and again');
  assert.equal(resolver.resolve(ctr)?.containerId, ID);

  // A container created later still resolves: its misses walk the tree (which forgets the unknown id, so it
  // is looked for once more: bounded, not kept for good); then the walks stop again.
  const late = 'cd'.repeat(32);
  mkdirSync(path.join(root, 'system.slice', `docker-${late}.scope`));
  const lateId = Number(statSync(path.join(root, 'system.slice', `docker-${late}.scope`)).ino);
  assert.equal(resolver.resolve(lateId), undefined);
  const lateDeadline = Date.now() + 30_000;
  while (resolver.resolve(lateId) === undefined && Date.now() < lateDeadline) await sleep(5);
  assert.equal(resolver.resolve(lateId)?.containerId, late);
  // The walks stop: asked for 500 ms (25 intervals), none. A walk still running when a window ends counts in
  // the next, so the windows are repeated until one is quiet; all it took before that is bounded.
  const scansBefore = resolver.scans;
  const quietBy = Date.now() + 30_000;
  while ((await scansWhileAsking(resolver, [gone, rootId, lateId], 500)) > 0) {
    assert.ok(Date.now() < quietBy, `the walks did not stop: ${resolver.scans - scansBefore} since the late container resolved`);
  }
  assert.ok(resolver.scans - scansBefore <= 3, `${resolver.scans - scansBefore} walks before they stopped`);
  resolver.stop();
});
