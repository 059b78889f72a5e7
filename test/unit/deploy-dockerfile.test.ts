// deploy/Dockerfile, without a Docker engine: hadolint lints it; a parse of
// its instructions checks the stages, base images, packages, COPY sources and
// entrypoint against the repository and the chart; and the runtime stage's
// file set is laid out in a temporary directory exactly as its COPY and
// `npm ci --omit=dev` lines say, where the agent must start and load its addon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');
const TOOLS = process.env.PODFLOW_TOOLS ?? '/var/cache/podflow/tools';

interface Instruction { keyword: string; args: string; line: number }
interface Stage { from: string; name: string; instructions: Instruction[] }

/** Instructions by stage; continuation lines joined, comments and parser directives dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i];
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i])) continue;
      line = line.slice(0, -1) + ' ' + lines[i].trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line ${start + 1} is not an instruction: ${line}`);
    const instruction = { keyword: m[1].toUpperCase(), args: m[2].trim(), line: start + 1 };
    if (instruction.keyword === 'FROM') {
      const from = /^(\S+)\s+AS\s+(\S+)$/i.exec(instruction.args);
      assert.ok(from, `line ${start + 1}: every stage is named (FROM image AS name)`);
      stages.push({ from: from[1], name: from[2], instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(instruction.keyword, 'ARG', `line ${start + 1}: only ARG may precede the first FROM`);
      const [name, value = ''] = instruction.args.split('=');
      args.set(name, value);
    } else {
      stages[stages.length - 1].instructions.push(instruction);
    }
  }
  return { args, stages };
}

const parsed = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const stage = (name: string) => {
  const found = parsed.stages.find((s) => s.name === name);
  assert.ok(found, `no stage named ${name}`);
  return found;
};
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword);

interface Copy { from?: string; sources: string[]; dest: string; line: number }
function copies(s: Stage): Copy[] {
  return all(s, 'COPY').map((i) => {
    const words = i.args.split(/\s+/);
    const flags = words.filter((w) => w.startsWith('--'));
    const paths = words.filter((w) => !w.startsWith('--'));
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
    return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1], line: i.line };
  });
}
function workdir(s: Stage): string {
  const dirs = all(s, 'WORKDIR');
  assert.equal(dirs.length, 1, `stage ${s.name}: one WORKDIR`);
  return dirs[0].args;
}
function aptPackages(s: Stage): string[] {
  return all(s, 'RUN').flatMap((run) => {
    const m = /apt-get install ((?:-\S+\s+)*)([^&;]+)/.exec(run.args);
    return m ? m[2].trim().split(/\s+/) : [];
  });
}
const execForm = (args: string) => JSON.parse(args) as string[];

// A .dockerignore pattern as a regular expression: a leading "**" + "/" matches
// any directories, "*" any part of one name.
function patternRegex(pattern: string): RegExp {
  const body = pattern.split(/(\*\*\/|\*)/).map((part) => {
    if (part === '**/') return '(?:.*/)?';
    if (part === '*') return '[^/]*';
    return part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }).join('');
  return new RegExp(`^${body}$`);
}

/** deploy/Dockerfile.dockerignore as a predicate on context paths (a match on a directory excludes what is in it). */
function dockerignore(): (path: string) => boolean {
  const patterns = readFileSync(join(ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map(patternRegex);
  return (path) => {
    const segments = path.split('/');
    return segments.some((_, i) => patterns.some((re) => re.test(segments.slice(0, i + 1).join('/'))));
  };
}

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'podflow-image-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('hadolint finds nothing in deploy/Dockerfile', () => {
  const install = spawnSync('bash', [join(ROOT, 'deploy/tools/install')], { stdio: ['ignore', 'inherit', 'inherit'] });
  assert.equal(install.status, 0, 'deploy/tools/install failed');
  const run = spawnSync(join(TOOLS, 'venv/bin/hadolint'), ['--no-color', DOCKERFILE], { encoding: 'utf8' });
  assert.equal(run.status, 0, `hadolint:\n${run.stdout}${run.stderr}`);
});

test('two stages on Debian bookworm Node LTS images: build on the full image, runtime on slim', () => {
  assert.deepEqual(parsed.stages.map((s) => s.name), ['build', 'runtime']);
  const version = parsed.args.get('NODE_VERSION');
  assert.ok(version !== undefined && /^\d+$/.test(version), 'ARG NODE_VERSION=<major> before the first FROM');
  const major = Number(version);
  assert.ok(major >= 20 && major % 2 === 0, `Node ${major} is not an LTS line`);
  assert.equal(stage('build').from, 'node:${NODE_VERSION}-bookworm');
  assert.equal(stage('runtime').from, 'node:${NODE_VERSION}-bookworm-slim');
});

test('the build stage installs the BPF/addon toolchain scripts/setup installs; runtime only the shared libraries', () => {
  const setup = readFileSync(join(ROOT, 'scripts/setup'), 'utf8');
  const list = /APT_PACKAGES=\(([^)]*)\)/.exec(setup);
  assert.ok(list, 'scripts/setup has no APT_PACKAGES list');
  const setupPackages = new Set(list[1].replace(/#.*$/gm, '').split(/\s+/).filter(Boolean));
  const buildPackages = aptPackages(stage('build'));
  for (const pkg of ['clang', 'llvm', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'bpftool', 'make', 'gcc', 'pkg-config']) {
    assert.ok(buildPackages.includes(pkg), `build stage lacks ${pkg}`);
  }
  for (const pkg of buildPackages) assert.ok(setupPackages.has(pkg), `build stage installs ${pkg}, which scripts/setup does not`);
  assert.deepEqual(aptPackages(stage('runtime')).sort(), ['libbpf1', 'libelf1', 'zlib1g']);
  for (const s of parsed.stages) {
    for (const run of all(s, 'RUN').filter((r) => r.args.includes('apt-get install'))) {
      assert.match(run.args, /--no-install-recommends/, `line ${run.line}`);
      assert.match(run.args, /rm -rf \/var\/lib\/apt\/lists/, `line ${run.line}: apt lists left in the layer`);
    }
  }
});

test('npm: full install before the build, production-only in the runtime', () => {
  const buildRuns = all(stage('build'), 'RUN').map((r) => r.args);
  const ci = buildRuns.findIndex((r) => /^npm ci\b/.test(r));
  const build = buildRuns.findIndex((r) => r === 'bash scripts/build');
  assert.ok(ci >= 0 && build > ci, 'build stage: npm ci, then bash scripts/build');
  assert.ok(all(stage('runtime'), 'RUN').some((r) => /^npm ci --omit=dev\b/.test(r.args)), 'runtime: npm ci --omit=dev');
});

test('every COPY from the context names a file of the repository the .dockerignore lets through', () => {
  const ignored = dockerignore();
  for (const s of parsed.stages) {
    for (const copy of copies(s).filter((c) => c.from === undefined)) {
      for (const source of copy.sources) {
        assert.ok(existsSync(join(ROOT, source)), `line ${copy.line}: ${source} is not in the repository`);
        assert.ok(!ignored(source), `line ${copy.line}: ${source} is excluded by deploy/Dockerfile.dockerignore`);
      }
    }
  }
  // What scripts/build needs must reach the build stage.
  const sent = copies(stage('build')).flatMap((c) => c.sources);
  for (const needed of ['bpf', 'proto', 'src', 'packages/libbpf-ts', 'scripts/build', 'scripts/gen-proto', 'tsconfig.json', 'tsconfig.base.json', 'package-lock.json']) {
    assert.ok(sent.includes(needed), `the build stage does not receive ${needed}`);
  }
  assert.ok(ignored('node_modules') && ignored('packages/libbpf-ts/build/libbpf_ts.node') && ignored('dist/src/cli/main.js'), 'local build outputs would leak into the context');
});

test('every COPY --from=build names an output scripts/build produces', () => {
  const buildDir = workdir(stage('build'));
  const fromBuild = copies(stage('runtime')).filter((c) => c.from === 'build');
  assert.ok(fromBuild.length > 0);
  for (const copy of fromBuild) {
    for (const source of copy.sources) {
      assert.ok(source.startsWith(`${buildDir}/`), `line ${copy.line}: ${source} is outside the build stage's ${buildDir}`);
      const inRepo = source.slice(buildDir.length + 1);
      assert.ok(existsSync(join(ROOT, inRepo)), `line ${copy.line}: ${inRepo} does not exist after scripts/build`);
    }
  }
  const produced = fromBuild.flatMap((c) => c.sources.map((s) => s.slice(buildDir.length + 1))).sort();
  // What the agent loads at run time, and nothing else of the build: libbpf-ts's own
  // tests, benchmarks and their BPF objects (build/*.bpf.o, uprobe_target) stay behind.
  // The addon and features.bpf.o are found next to dist/ (libbpf-ts src/native.ts, src/features.ts).
  assert.deepEqual(produced, [
    'bpf/build', 'dist/src',
    'packages/libbpf-ts/build/features.bpf.o', 'packages/libbpf-ts/build/libbpf_ts.node',
    'packages/libbpf-ts/dist/index.js', 'packages/libbpf-ts/dist/src',
  ]);
});

test('entrypoint runs the agent with the config the chart mounts, on the port the chart probes', () => {
  const runtime = stage('runtime');
  const entrypoint = all(runtime, 'ENTRYPOINT');
  const cmd = all(runtime, 'CMD');
  assert.equal(entrypoint.length, 1);
  assert.equal(cmd.length, 1);
  assert.deepEqual([...execForm(entrypoint[0].args), ...execForm(cmd[0].args)], ['bin/podflow.js', 'run', '--config', '/etc/podflow/podflow.yaml']);
  const users = all(runtime, 'USER');
  assert.equal(users.length, 1, 'one explicit USER');

  const objects = YAML.parseAllDocuments(readFileSync(join(ROOT, 'deploy/manifests/podflow.yaml'), 'utf8')).map((d) => d.toJS());
  const ds = objects.find((o) => o?.kind === 'DaemonSet');
  const configMap = objects.find((o) => o?.kind === 'ConfigMap');
  const agent = ds.spec.template.spec.containers[0];
  assert.deepEqual(agent.args, execForm(cmd[0].args), 'the DaemonSet passes the image CMD as args');
  const configMount = agent.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/etc/podflow');
  const configVolume = ds.spec.template.spec.volumes.find((v: { name: string }) => v.name === configMount?.name);
  assert.equal(configVolume?.configMap?.name, configMap.metadata.name);
  assert.ok('podflow.yaml' in configMap.data);
  assert.deepEqual(all(runtime, 'EXPOSE').map((e) => Number(e.args)), [agent.ports[0].containerPort]);
});

test('the runtime stage\'s files, laid out as its COPY lines say, start the agent and load the libbpf-ts addon', () => {
  const runtime = stage('runtime');
  const buildDir = workdir(stage('build'));
  const image = join(work, 'opt-podflow');
  mkdirSync(image, { recursive: true });
  const runtimeRuns = all(runtime, 'RUN').map((r) => r.args);
  for (const copy of copies(runtime)) {
    const dest = join(image, copy.dest);
    for (const source of copy.sources) {
      const from = copy.from === 'build' ? join(ROOT, source.slice(buildDir.length + 1)) : join(ROOT, source);
      // A destination ending in "/" receives the source by name; otherwise it is the source.
      const target = copy.dest.endsWith('/') || copy.sources.length > 1 ? join(dest, basename(source)) : dest;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(from, target, { recursive: true });
    }
    // The npm ci line runs right after the package files arrive, as in the image.
    if (copy.sources.includes('packages/libbpf-ts/package.json')) {
      const npmCi = runtimeRuns.find((r) => r.startsWith('npm ci'));
      assert.ok(npmCi);
      const argv = npmCi.split('&&')[0].trim().split(/\s+/).slice(1);
      // --prefer-offline: mostly from the npm cache scripts/setup filled.
      const run = spawnSync('npm', [...argv, '--prefer-offline', '--loglevel=error'], { cwd: image, encoding: 'utf8' });
      assert.equal(run.status, 0, `${argv.join(' ')} in the runtime layout:\n${run.stderr}`);
    }
  }
  assert.ok(!existsSync(join(image, 'node_modules/typescript')), 'dev dependencies reached the runtime');
  // The slim runtime has no compiler: a production package built by node-gyp would fail there.
  const gyp = readdirSync(join(image, 'node_modules'), { recursive: true, encoding: 'utf8' }).filter((f) => basename(f) === 'binding.gyp');
  assert.deepEqual(gyp, [], 'production packages that compile at install time (the slim runtime has no compiler)');
  const env = { ...process.env, NODE_ENV: 'production' };
  // Run as the entrypoint runs it: through its shebang (env -S, the agent's Node flags).
  const version = spawnSync('./bin/podflow.js', ['--version'], { cwd: image, encoding: 'utf8', env });
  assert.equal(version.status, 0, `podflow --version in the runtime layout:\n${version.stdout}${version.stderr}`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.match(version.stdout, new RegExp(pkg.version.replace(/\./g, '\\.')));
  const addon = spawnSync('node', ['--input-type=module', '-e', 'const m = await import("libbpf-ts"); console.log(Object.keys(m).length)'], { cwd: image, encoding: 'utf8', env });
  assert.equal(addon.status, 0, `libbpf-ts does not load in the runtime layout:\n${addon.stderr}`);
  assert.ok(Number(addon.stdout) > 0);
});
