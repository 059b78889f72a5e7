// The file sink's start() on a path it cannot use says why in the operator's
// terms (a file in the way, a directory, a read-only filesystem, no
// permission), not the system call's symptom (EEXIST from a recursive mkdir).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileSink } from '../../src/pipeline/sinks/file.js';

const dir = mkdtempSync(join(tmpdir(), 'pfp-file-sink-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const start = (path: string) => new FileSink({ path, format: 'json', productVersion: 't' }).start();

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a regular file where a parent directory should be is named as not a directory, not as EEXIST', async () => {
  const blocker = join(dir, 'blocker');
  writeFileSync(blocker, '');
  for (const path of [join(blocker, 'f.jsonl'), join(blocker, 'sub', 'f.jsonl')]) {
    await assert.rejects(start(path), (err: Error) => {
      assert.equal(err.message, `file sink: cannot open ${path}: ${blocker} is not a directory (a file of that name is in the way)`);
      return true;
    });
  }
});

test('a directory given as the path asks for a file path inside it', async () => {
  const asDir = join(dir, 'logs');
  mkdirSync(asDir);
  await assert.rejects(start(asDir), new RegExp(`cannot open ${asDir}: it is a directory; expected a file path, e.g. ${asDir}/flows.jsonl$`));
});

test('a read-only filesystem is named as such, also below a directory still to be created', { skip: !isRoot && 'needs root (mounts a read-only tmpfs)' }, async () => {
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'none', ro]);
  try {
    // Below a missing directory, Node's recursive mkdir reports the read-only filesystem as ENOENT.
    for (const path of [join(ro, 'f.jsonl'), join(ro, 'sub', 'f.jsonl')]) {
      await assert.rejects(start(path), new RegExp(`cannot open ${path}: ${ro} is on a read-only filesystem$`));
    }
  } finally {
    execFileSync('umount', [ro]);
  }
});

test('permission denied names the directory and the user the agent runs as', { skip: !(isRoot && has('setpriv')) && 'needs root and setpriv (runs as nobody)' }, () => {
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  chmodSync(dir, 0o755);
  const module = new URL('../../src/pipeline/sinks/file.js', import.meta.url).href;
  const script = `import { FileSink } from ${JSON.stringify(module)};
for (const path of process.argv.slice(1)) {
  await new FileSink({ path, format: 'json', productVersion: 't' }).start().then(() => console.log('opened'), (err) => console.log(err.message));
}`;
  const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script,
    join(locked, 'f.jsonl'), join(locked, 'sub', 'f.jsonl')]).toString().trim().split('\n');
  assert.deepEqual(out, [
    `file sink: cannot open ${join(locked, 'f.jsonl')}: permission denied: ${locked} is not writable by uid 65534 (gid 65534)`,
    `file sink: cannot open ${join(locked, 'sub', 'f.jsonl')}: permission denied: ${locked} is not writable by uid 65534 (gid 65534)`,
  ]);
});
