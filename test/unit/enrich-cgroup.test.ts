import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { CgroupResolver, findCgroup2Root, parseCgroupPath } from '../../src/enrich/cgroup.js';

const ID = '7e2c1bd0f4a94e3b8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b';
const UID = '5f1c6a1e-2b7d-4c1e-9d0a-0c2b9f3e8a11';
const UID_ = UID.replaceAll('-', '_');

test('parseCgroupPath: containerd, CRI-O, Docker, Podman; systemd and cgroupfs drivers', () => {
  const cases: [string, string | null, string | null, string][] = [
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`, ID, UID, 'containerd'],
    [`/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`, ID, UID, 'containerd'],
    [`/kubepods/burstable/pod${UID}/${ID}`, ID, UID, 'unknown'],
    [`/kubepods/besteffort/pod${UID}/${ID}`, ID, UID, 'unknown'],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`, ID, UID, 'cri-o'],
    [`/kubepods/pod${UID}/crio-${ID}`, ID, UID, 'cri-o'],
    [`/system.slice/docker-${ID}.scope`, ID, null, 'docker'],
    [`/docker/${ID}`, ID, null, 'docker'],
    [`/machine.slice/libpod-${ID}.scope`, ID, null, 'podman'],
    // kind / nested kubelet under a systemd slice
    [`/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`, ID, UID, 'containerd'],
    // pod-level cgroup: no container yet
    [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, null, UID, 'unknown'],
  ];
  for (const [p, id, uid, runtime] of cases) {
    assert.deepEqual(parseCgroupPath(p), { containerId: id, podUid: uid, runtime }, p);
  }
});

test('parseCgroupPath: the CRI-O conmon scope and host cgroups are not containers', () => {
  assert.equal(parseCgroupPath(`/system.slice/crio-conmon-${ID}.scope`), null);
  assert.equal(parseCgroupPath('/user.slice/user-0.slice/session-3.scope'), null);
  assert.equal(parseCgroupPath('/'), null);
  assert.equal(parseCgroupPath(`/system.slice/docker-${ID.slice(1)}.scope`), null);
});

test('findCgroup2Root: the cgroup2 mount from mounts text, any mount point; null when there is none', () => {
  const hybrid = 'tmpfs /sys/fs/cgroup tmpfs ro 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n';
  assert.equal(findCgroup2Root(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(findCgroup2Root('cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n'), null);
});

// The real kernel: make a cgroup v2 directory the way containerd's systemd
// driver names it, put a real process in it, and resolve its cgroup id (the
// directory's inode) back to the container.
const root = await findCgroup2Root();
const base = root ? path.join(root, `pfe-test-${process.pid}`) : '';
const created: string[] = [];
after(() => {
  for (const dir of created.reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // already gone
    }
  }
});

test('CgroupResolver: resolves a real cgroup v2 directory and a process inside it', async () => {
  assert.ok(root, 'no cgroup v2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified');
  const podDir = path.join(base, 'kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${UID_}.slice`);
  const ctrDir = path.join(podDir, `cri-containerd-${ID}.scope`);
  for (const d of [base, path.join(base, 'kubepods.slice'), path.join(base, 'kubepods.slice', 'kubepods-burstable.slice'), podDir, ctrDir]) {
    mkdirSync(d);
    created.push(d);
  }
  const resolver = new CgroupResolver({ root, minRescanIntervalMs: 50, maxDepth: 8 });
  await resolver.scan();
  const ino = Number(statSync(ctrDir).ino);
  assert.deepEqual(resolver.resolve(ino), { containerId: ID, podUid: UID, runtime: 'containerd' });
  assert.equal(resolver.resolve(Number(statSync(podDir).ino))?.podUid, UID);

  // A host cgroup (kubelet, sshd) is known from the walk too: no miss, no rescan on its every record.
  const misses = resolver.misses;
  assert.equal(resolver.resolve(Number(statSync(base).ino)), undefined);
  assert.equal(resolver.misses, misses);

  // A container created after the scan: the first miss triggers a rescan.
  const late = '1'.repeat(64);
  const lateDir = path.join(podDir, `cri-containerd-${late}.scope`);
  mkdirSync(lateDir);
  created.push(lateDir);
  const lateIno = Number(statSync(lateDir).ino);
  assert.equal(resolver.resolve(lateIno), undefined);
  const deadline = Date.now() + 2000;
  while (resolver.resolve(lateIno) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(resolver.resolve(lateIno)?.containerId, late);
  assert.ok(resolver.scans >= 2);
  resolver.stop();
});
