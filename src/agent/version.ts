// The version `podflow --version` prints and the agent reports: package.json's.
import { readFileSync } from 'node:fs';

const packageJson = new URL('../../../package.json', import.meta.url);
export const VERSION: string = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
