// The Node flags the agent runs with: those of bin/podflow.js's shebang
// (`#!/usr/bin/env -S node FLAGS`), which npm start, npx podflow and the
// image's entrypoint go through. The runner gives them to every benchmark and
// AgentProcess to the agents it starts, so the figures are the agent's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This file runs as <root>/dist/bench/lib/launch-flags.js. */
export const AGENT_BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'podflow.js');

export function agentNodeFlags(): string[] {
  const shebang = readFileSync(AGENT_BIN, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)$/.exec(shebang);
  if (!m) throw new Error(`${AGENT_BIN}: expected a "#!/usr/bin/env -S node [flags]" first line, got ${shebang}`);
  return m[1]!.split(' ').filter(Boolean);
}
