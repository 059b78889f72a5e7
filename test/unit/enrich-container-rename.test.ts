// A container id listed by another pod than before (a pod renamed in the
// metadata file: the old entry goes, the new one lists the same containers) is
// the new pod's. Deleting the old pod must neither mark nor sweep it: it did,
// and the live pod's container stopped resolving after the grace period.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type PodInfo } from '../../src/enrich/model.js';
import { MetadataStore } from '../../src/enrich/store.js';

function pod(name: string, id: string): PodInfo {
  return {
    key: `file:default/${name}`, name, namespace: 'default', uid: '', labels: {}, workload: null, node: 'node-a',
    hostNetwork: false, ips: ['10.235.9.9'], hostIp: '', startMs: 0, containers: [{ name: 'c', id }], ports: [],
  };
}

test('ContainerIndex: a container the old pod listed stays with the pod that lists it now', () => {
  const store = new MetadataStore({ deletedPodGraceMs: 1000, labelAllowList: [] });
  const id = 'e'.repeat(64);
  store.upsertPod(pod('web-old', id));
  store.upsertPod(pod('web-new', id));
  store.deletePod('file:default/web-old', 10_000);
  store.sweep(20_000);
  assert.equal(store.containers.get(id)?.pod.name, 'web-new');
  assert.equal(store.containers.size, 1);
  // The new pod's own deletion still ends it after the grace period.
  store.deletePod('file:default/web-new', 30_000);
  store.sweep(30_500);
  assert.equal(store.containers.get(id)?.pod.name, 'web-new');
  store.sweep(31_001);
  assert.equal(store.containers.get(id), undefined);
});
