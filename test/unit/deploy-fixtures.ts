// What the deploy tests share: the chart, the tools deploy/tools/install
// provides (helm, kubernetes-validate, hadolint), and rendering the chart.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CHART = join(ROOT, 'deploy/helm/podflow');
export const TOOLS = process.env.PODFLOW_TOOLS ?? '/var/cache/podflow/tools';
export const HELM = join(TOOLS, 'helm');
export const KUBE_VERSION = '1.37.0';

/** Loose shape of a rendered object: only what the tests read. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * Installs the tools before the file's tests (the first use on a machine
 * builds helm from Go modules: minutes, not seconds) and gives them a
 * scratch directory, removed after them.
 */
export function useDeployTools(prefix: string): () => string {
  let work = '';
  before(() => {
    const install = spawnSync('bash', [join(ROOT, 'deploy/tools/install')], { stdio: ['ignore', 'inherit', 'inherit'] });
    assert.equal(install.status, 0, 'deploy/tools/install failed (see its output above)');
    work = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });
  return () => work;
}

export function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(HELM, args, { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `helm template` of the chart as release podflow in namespace podflow, with extra arguments (values). */
export function helmTemplate(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return helm(['template', 'podflow', CHART, '--namespace', 'podflow', '--kube-version', KUBE_VERSION, ...args]);
}

export function render(args: string[]): K8sObject[] {
  const run = helmTemplate(args);
  assert.equal(run.status, 0, `helm template ${args.join(' ')} failed:\n${run.stderr}`);
  return YAML.parseAllDocuments(run.stdout).map((doc) => doc.toJS() as K8sObject).filter((o) => o !== null);
}

/** Each set of values must fail `helm template` with an error matching its message. */
export function assertRefused(bad: { why: string; args: string[]; message: RegExp }[]): void {
  for (const { why, args, message } of bad) {
    const run = helmTemplate(args);
    assert.notEqual(run.status, 0, `${why}: helm template accepted ${args.join(' ')}`);
    assert.match(run.stderr, message, `${why}: unexpected error for ${args.join(' ')}:\n${run.stderr}`);
  }
}
