#!/usr/bin/env -S node --max-semi-space-size=32
// The built CLI lives in dist/; `npm run setup` (or `npm start`) builds it.
// The young generation is sized for the agent's record stream (V8's 16 MiB
// semi-spaces by default): records live from ring-buffer batch to sink write,
// so with small semi-spaces a scavenge finds thousands of them still alive and
// copies them. 32 MiB: the pipeline benchmark +17% records/CPU-s, the agent
// ~9% less CPU under short-connection load, RSS at 100k flows unchanged (see
// README "The podflow command"). Launch the agent through this file (npm start,
// npx podflow, the image's entrypoint) to get it.
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli')) {
    console.error('podflow is not built yet: run `npm run setup` in the repository root first.');
    process.exit(70);
  }
  throw err;
});
