// The config module's public face: build the effective configuration, and the
// pieces the CLI (flags) and tests use.
export { ConfigError } from './errors.js';
export { loadConfig, validateConfig } from './load.js';
export { envName, flagLayer, OPTIONS } from './layers.js';
export type { PodflowConfig } from './schema.js';
export { parseByteSize, parseDuration } from './units.js';
export { parseHostPort } from './addresses.js';
