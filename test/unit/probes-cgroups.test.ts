import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CgroupResolver, containerIdFromPath, findCgroup2Root } from '../../src/probes/shared/cgroups.js';

const ID = '0123456789abcdef'.repeat(4);

test('container ids from the cgroup paths container runtimes use', () => {
  for (const path of [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${ID}.scope`,
    `/system.slice/docker-${ID}.scope`,
    `/kubepods/besteffort/pod1234/${ID}`,
    `/machine.slice/libpod-${ID}.scope`,
    `/kubepods.slice/crio-${ID}.scope`,
  ]) {
    assert.equal(containerIdFromPath(path), ID, path);
  }
  for (const path of ['/', '/user.slice/user-0.slice/session-1.scope', `/x/${ID}0`, `/x/${ID.slice(1)}`]) {
    assert.equal(containerIdFromPath(path), undefined, path);
  }
});

test('the cgroup v2 mount is found in /proc/self/mounts text', () => {
  const mounts = 'tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n';
  assert.equal(findCgroup2Root(mounts), '/sys/fs/cgroup/unified');
  assert.equal(findCgroup2Root('cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n'), undefined);
});

test('a cgroup id (its directory inode) resolves to the container id, new directories after a rescan', () => {
  const root = mkdtempSync(join(tmpdir(), 'pfc-cgroups-'));
  try {
    const first = join(root, 'kubepods', `cri-containerd-${ID}.scope`);
    mkdirSync(first, { recursive: true });
    const resolver = new CgroupResolver(root, 0);
    assert.equal(resolver.containerId(statSync(first).ino), ID);
    assert.equal(resolver.containerId(statSync(join(root, 'kubepods')).ino), undefined, 'not a container');
    const other = 'f'.repeat(64);
    const second = join(root, 'kubepods', `docker-${other}.scope`);
    mkdirSync(second);
    assert.equal(resolver.containerId(statSync(second).ino), other);
    assert.equal(new CgroupResolver(undefined).containerId(statSync(first).ino), undefined, 'no cgroup v2: nothing resolves');
  } finally {
    rmSync(root, { recursive: true });
  }
});
