// Builds the effective configuration: defaults < YAML file < PODFLOW_*
// variables < CLI flags, validated once by the schema. Every problem is
// reported with its field, its value, where it came from and what was expected.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { parseMetadataFile } from '../enrich/sources/static-file.js';
import { ConfigError } from './errors.js';
import { envLayer, type Layer } from './layers.js';
import { configSchema, type PodflowConfig } from './schema.js';

export interface LoadOptions {
  /** YAML file; absent: defaults, environment and flags only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: Layer;
  /** Receives problems that do not stop podflow (unknown PODFLOW_* variables). */
  warn?: (message: string) => void;
  /**
   * Also read and check the metadata file as the agent's start would, so that
   * a missing or bad one is a configuration error (nothing started) too.
   */
  checkFiles?: boolean;
}

/** Reads and parses a YAML config file, with a clear error for missing files and YAML syntax. */
function readConfigFile(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read config file ${file}: ${(err as Error).message}`]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `${file}: YAML syntax error: ${e.message.split('\n')[0]}`));
  }
  const values: unknown = doc.toJS() ?? {};
  if (typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError([`${file}: expected a YAML mapping of options at the top level, found ${Array.isArray(values) ? 'a list' : JSON.stringify(values)}`]);
  }
  return { values: values as Record<string, unknown>, sources: new Map([['', file]]) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Later layers win; mappings merge key by key, lists and scalars are replaced whole. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? merge(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    // A single value stands for a list of one (`namespace: default`).
    if (key === 0 && node !== undefined && !Array.isArray(node)) continue;
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

const formatPath = (path: readonly PropertyKey[]) =>
  path.reduce<string>((s, key) => (typeof key === 'number' ? `${s}[${key}]` : s ? `${s}.${String(key)}` : String(key)), '');

/** The layer a value came from: the most specific source recorded for the path or one of its parents. */
function sourceOf(path: readonly PropertyKey[], layers: readonly Layer[]): string | undefined {
  const keys = path.filter((k): k is string => typeof k === 'string');
  for (const layer of [...layers].reverse()) {
    for (let n = keys.length; n >= 0; n--) {
      const source = layer.sources.get(keys.slice(0, n).join('.'));
      if (source !== undefined && (n > 0 || valueAt(layer.values, path) !== undefined)) return source;
    }
  }
  return undefined;
}

/** The keys an object in the schema accepts at `path`, for "unknown key" messages. */
function knownKeys(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  let schema = root;
  for (const key of [...path, null]) {
    for (;;) {
      const def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; shape?: Record<string, z.ZodType>; element?: z.ZodType; keyType?: z.ZodType } } })._zod.def;
      if (key === null && def.type === 'record' && def.keyType) {
        const keys = (def.keyType as unknown as { options?: unknown[] }).options;
        return keys ? keys.map(String) : [];
      }
      if (def.innerType) schema = def.innerType;
      else if (def.type === 'pipe' && def.in) schema = def.in;
      else if (key === null) return def.shape ? Object.keys(def.shape) : [];
      // An index steps into the list's item (an unknown key in `networks[0]` is one of a network's keys).
      else if (def.type === 'array' && def.element && typeof key === 'number') { schema = def.element; break; }
      else if (def.shape && typeof key === 'string' && def.shape[key]) { schema = def.shape[key]; break; } else return [];
    }
  }
  return [];
}

/** Keys whose values never appear in error messages (they end up in logs). */
const SECRET_KEYS = new Set(['password', 'headers']);
const hideSecrets = (key: string, value: unknown) => (SECRET_KEYS.has(key) ? '<redacted>' : value);

function expectation(issue: z.core.$ZodIssue): string {
  if (issue.message.startsWith('expected')) return issue.message;
  switch (issue.code) {
    case 'invalid_type': return `expected ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}`;
    case 'invalid_value': return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': return issue.origin === 'array'
      ? `expected at least ${issue.minimum} entr${issue.minimum === 1 ? 'y' : 'ies'}`
      : issue.origin === 'string' ? 'expected a non-empty string' : `expected a value ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big': return issue.origin === 'string' ? `expected at most ${issue.maximum} characters` : `expected a value ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'invalid_format': return `expected ${issue.format === 'regex' ? `a value matching ${issue.pattern}` : `a ${issue.format}`}`;
    default: return issue.message;
  }
}

/** One message per issue; `root` is the schema the issues came from, for listing the keys it accepts. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, layers: readonly Layer[], root: z.ZodType = configSchema): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? `in ${formatPath(issue.path)}` : 'at the top level';
      const source = sourceOf(issue.path, layers);
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} ${where}` +
        `${source ? ` (from ${source})` : ''}; expected one of: ${knownKeys(root, issue.path).join(', ')}`;
    }
    const value = valueAt(input, issue.path);
    const source = sourceOf(issue.path, layers);
    const secret = issue.path.some((k) => SECRET_KEYS.has(String(k)));
    const shown = value === undefined ? 'not set' : `= ${secret ? '"<redacted>"' : JSON.stringify(value, hideSecrets)}`;
    return `${formatPath(issue.path) || '(top level)'} ${shown}${source ? ` (from ${source})` : ''}: ${expectation(issue)}`;
  });
}

/** Validates already-merged raw values; throws ConfigError naming every problem. */
export function validateConfig(input: Record<string, unknown>, layers: readonly Layer[] = []): PodflowConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(describeIssues(result.error.issues, input, layers));
  return result.data;
}

/** What is wrong with the metadata file, if anything, as a config problem naming the option and its source. */
function metadataFileProblem(config: PodflowConfig, layers: readonly Layer[]): string | undefined {
  const file = config.metadataFile;
  if (file === undefined) return undefined;
  const source = sourceOf(['metadataFile'], layers);
  const where = `metadataFile = ${JSON.stringify(file)}${source ? ` (from ${source})` : ''}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `${where}: cannot read: ${(err as Error).message}`;
  }
  try {
    parseMetadataFile(file, text);
  } catch (err) {
    return `${where}: ${(err as Error).message}`;
  }
  return undefined;
}

export function loadConfig(options: LoadOptions = {}): PodflowConfig {
  const layers: Layer[] = [];
  const file = options.file ?? options.env?.PODFLOW_CONFIG;
  if (file) layers.push(readConfigFile(file));
  if (options.env) layers.push(envLayer(options.env, options.warn));
  if (options.flags) layers.push(options.flags);
  const input = layers.reduce<Record<string, unknown>>((acc, layer) => merge(acc, layer.values), {});
  const config = validateConfig(input, layers);
  const problem = options.checkFiles ? metadataFileProblem(config, layers) : undefined;
  if (problem) throw new ConfigError([problem]);
  return config;
}
