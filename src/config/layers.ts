// Turns PODFLOW_* variables and CLI flag strings into config values. The
// target type of each option comes from the schema itself, so a new option is
// settable from the environment without a second list to keep in step.
import YAML from 'yaml';
import { ConfigError } from './errors.js';
import type { z } from 'zod';
import { configSchema } from './schema.js';

/** How a string from the environment or a flag becomes a value of an option. */
type LeafKind = 'string' | 'number' | 'boolean' | 'list' | 'structured';

interface OptionPath {
  path: string[];
  kind: LeafKind;
  /** Element kind for lists. */
  element?: LeafKind;
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): ZodDefLike {
  return (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

/** Strips optional/default/transform wrappers down to the schema that reads the input. */
function inputSchema(schema: z.ZodType): z.ZodType {
  for (;;) {
    const def = defOf(schema);
    if (def.innerType) schema = def.innerType;
    else if (def.type === 'pipe' && def.in) schema = def.in;
    else return schema;
  }
}

function scalarKind(schema: z.ZodType): LeafKind {
  const def = defOf(inputSchema(schema));
  switch (def.type) {
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'string': case 'enum': case 'literal': return 'string';
    case 'union': return def.options?.some((o) => scalarKind(o) === 'number') && def.options.some((o) => scalarKind(o) === 'string') ? 'string' : scalarKind(def.options![0]);
    default: return 'structured';
  }
}

function collectOptions(schema: z.ZodType, prefix: string[], out: OptionPath[]): void {
  const inner = inputSchema(schema);
  const def = defOf(inner);
  if (def.type === 'object' && def.shape) {
    for (const [key, child] of Object.entries(def.shape)) collectOptions(child, [...prefix, key], out);
  } else if (def.type === 'array' && def.element) {
    const element = scalarKind(def.element);
    out.push(element === 'structured' ? { path: prefix, kind: 'structured' } : { path: prefix, kind: 'list', element });
  } else {
    out.push({ path: prefix, kind: scalarKind(inner) });
  }
}

export const OPTIONS: readonly OptionPath[] = (() => {
  const out: OptionPath[] = [];
  collectOptions(configSchema, [], out);
  return out;
})();

const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
/** kafka.tls.caFile -> PODFLOW_KAFKA_TLS_CA_FILE */
export const envName = (path: readonly string[]) => `PODFLOW_${path.map(snake).join('_')}`;

/** PODFLOW_CONFIG names the file; it is not an option itself. */
const ENV_NOT_OPTIONS = new Set(['PODFLOW_CONFIG']);

/**
 * Converts one string into the option's type. Values that do not convert are
 * passed through unchanged, so the schema reports them with field and value.
 */
function coerce(option: OptionPath, text: string, source: string): unknown {
  const scalar = (kind: LeafKind, s: string): unknown => {
    if (kind === 'number') return s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s;
    if (kind === 'boolean') return s === 'true' ? true : s === 'false' ? false : s;
    return s;
  };
  switch (option.kind) {
    case 'list': return text.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => scalar(option.element!, s));
    case 'structured':
      try {
        return YAML.parse(text);
      } catch (err) {
        // Passed on as text, the schema would say "expected a list" of a value meant as one: name the syntax error instead.
        throw new ConfigError([`${option.path.join('.')} = ${JSON.stringify(text)} (from ${source}): YAML syntax error: ${(err as Error).message.split('\n')[0].replace(/:$/, '')}; expected a YAML or JSON value`]);
      }
    default: return scalar(option.kind, text);
  }
}

/** A value and where it came from, for error messages. */
export interface Layer {
  values: Record<string, unknown>;
  /** Dotted path -> source, e.g. "kafka.brokers" -> "PODFLOW_KAFKA_BROKERS". */
  sources: Map<string, string>;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/**
 * The PODFLOW_* variables that name options. Others are reported through
 * `warn` and ignored: test harnesses and install scripts use the prefix too
 * (PODFLOW_PEERS_CACHE, PODFLOW_TOOLS), and an agent must not refuse to start
 * because of them.
 */
export function envLayer(env: NodeJS.ProcessEnv, warn: (message: string) => void = () => {}): Layer {
  const layer: Layer = { values: {}, sources: new Map() };
  const byName = new Map(OPTIONS.map((o) => [envName(o.path), o]));
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('PODFLOW_') || text === undefined || ENV_NOT_OPTIONS.has(name)) continue;
    const option = byName.get(name);
    if (!option) {
      const near = nearest(name, [...byName.keys()]);
      warn(`ignoring environment variable ${name}: not a podflow option${near ? ` (did you mean ${near}?)` : ''}`);
      continue;
    }
    setPath(layer.values, option.path, coerce(option, text, name));
    layer.sources.set(option.path.join('.'), name);
  }
  return layer;
}

/** The candidate within two edits of `name`, for typos such as PODFLOW_KAFKA_BROKER. */
function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** Flags given on the command line, by config path; undefined entries were not given. */
export function flagLayer(flags: ReadonlyArray<{ path: readonly string[]; flag: string; value: string | string[] | undefined }>): Layer {
  const layer: Layer = { values: {}, sources: new Map() };
  for (const { path, flag, value } of flags) {
    if (value === undefined) continue;
    const option = OPTIONS.find((o) => o.path.join('.') === path.join('.'));
    if (!option) throw new Error(`flag ${flag} maps to ${path.join('.')}, which is not a config option`);
    setPath(layer.values, path, coerce(option, Array.isArray(value) ? value.join(',') : value, flag));
    layer.sources.set(path.join('.'), flag);
  }
  return layer;
}
