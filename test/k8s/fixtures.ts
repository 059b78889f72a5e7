// The fixture cluster (test/fixtures/k8s/*.json, shaped like `kubectl get -o json`
// output of a real cluster) and a way to load it into a TestApiServer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KubeObject, type ResourceName, type TestApiServer } from './api-server.js';

/** test/fixtures/k8s in the source tree (tests run from dist/test/...). */
export const FIXTURE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/k8s');

export function loadFixture(resource: ResourceName): KubeObject[] {
  const list = JSON.parse(readFileSync(path.join(FIXTURE_DIR, `${resource}.json`), 'utf8')) as { items: KubeObject[] };
  return list.items;
}

/** Creates every fixture object, owners before the pods that name them. */
export function seedCluster(server: TestApiServer): void {
  const order: ResourceName[] = ['nodes', 'replicasets', 'jobs', 'services', 'endpointslices', 'pods'];
  for (const r of order) for (const o of loadFixture(r)) server.create(r, o);
}

export function fixturePod(name: string): KubeObject {
  const pod = loadFixture('pods').find((p) => p.metadata.name === name);
  if (!pod) throw new Error(`no fixture pod ${name}`);
  return pod;
}
