#!/usr/bin/env node
// The built CLI lives in dist/; `npm run setup` (or `npm start`) builds it.
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli')) {
    console.error('podflow is not built yet: run `npm run setup` in the repository root first.');
    process.exit(70);
  }
  throw err;
});
