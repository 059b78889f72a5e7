// proto3 canonical JSON of FlowRecord (the mapping protoc and every official
// runtime implement): lowerCamelCase names, enums by name, 64-bit integers as
// strings, Timestamp as RFC 3339 ("Z", 0/3/6/9 fraction digits), Duration as
// "1.500s", fields at their default value omitted.
//
// The converter is compiled once per message type from the reflection root, so
// the JSON follows the schema without a hand-kept field list.
import type protobuf from 'protobufjs';
import reflectRoot from './gen/flow.reflect.js';
import type { FlowRecord } from '../pipeline/types.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Convert = (value: unknown) => Json | undefined;

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
// RFC 3339 covers years 0001..9999; protoc rejects anything outside.
const MIN_SECONDS = -62135596800;
const MAX_SECONDS = 253402300799;

function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'low' in value && 'high' in value) {
    const long = value as { low: number; high: number; unsigned?: boolean };
    return (long.unsigned ? long.high >>> 0 : long.high) * 4294967296 + (long.low >>> 0);
  }
  return Number(value) || 0;
}

/** Fraction digits the way the canonical mapping writes them: none, 3, 6 or 9. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const digits = String(nanos).padStart(9, '0');
  if (nanos % 1000000 === 0) return '.' + digits.slice(0, 3);
  if (nanos % 1000 === 0) return '.' + digits.slice(0, 6);
  return '.' + digits;
}

export function timestampToJson(seconds: number, nanos: number): string {
  const s = Math.min(MAX_SECONDS, Math.max(MIN_SECONDS, Math.trunc(seconds)));
  const n = Math.min(999999999, Math.max(0, Math.trunc(nanos)));
  return new Date(s * 1000).toISOString().slice(0, 19) + fraction(n) + 'Z';
}

export function durationToJson(seconds: number, nanos: number): string {
  const s = Math.trunc(seconds);
  const n = Math.trunc(nanos);
  const negative = s < 0 || n < 0;
  return (negative ? '-' : '') + String(Math.abs(s)) + fraction(Math.min(999999999, Math.abs(n))) + 's';
}

function isDefault(value: unknown): boolean {
  return value === undefined || value === null || value === 0 || value === '' || value === false;
}

function scalar(type: string): Convert {
  if (INT64.has(type)) return (v) => (isDefault(v) || num(v) === 0 ? undefined : String(typeof v === 'number' ? v : num(v)));
  if (type === 'bytes') {
    return (v) => (v instanceof Uint8Array && v.length > 0 ? Buffer.from(v.buffer, v.byteOffset, v.length).toString('base64') : undefined);
  }
  if (type === 'double' || type === 'float') {
    return (v) => (isDefault(v) ? undefined : Number.isFinite(v) ? (v as number) : String(v));
  }
  return (v) => (isDefault(v) ? undefined : (v as Json));
}

function enumConverter(en: protobuf.Enum): Convert {
  return (v) => (isDefault(v) ? undefined : (en.valuesById[v as number] ?? (v as number)));
}

const compiled = new Map<protobuf.Type, Convert>();

function wellKnown(type: protobuf.Type): Convert | undefined {
  const pair = (v: unknown): [number, number] => {
    const o = v as { seconds?: unknown; nanos?: unknown };
    return [num(o.seconds ?? 0), num(o.nanos ?? 0)];
  };
  if (type.fullName === '.google.protobuf.Timestamp') return (v) => timestampToJson(...pair(v));
  if (type.fullName === '.google.protobuf.Duration') return (v) => durationToJson(...pair(v));
  return undefined;
}

function fieldConverter(field: protobuf.Field): Convert {
  field.resolve();
  const resolved = field.resolvedType;
  let element: Convert;
  if (resolved && 'fields' in resolved) {
    const inner = messageConverter(resolved as protobuf.Type);
    element = (v) => (v === null || v === undefined ? undefined : inner(v));
  } else if (resolved) {
    element = enumConverter(resolved as protobuf.Enum);
  } else {
    element = scalar(field.type);
  }
  if (field.map) {
    // Map values keep their default (a map entry always has both key and value).
    return (v) => {
      if (v === null || v === undefined) return undefined;
      const keys = Object.keys(v as object);
      if (keys.length === 0) return undefined;
      const out: Record<string, Json> = {};
      for (const key of keys) out[key] = element((v as Record<string, unknown>)[key]) ?? defaultJson(field);
      return out;
    };
  }
  if (field.repeated) {
    return (v) => {
      if (!Array.isArray(v) || v.length === 0) return undefined;
      return v.map((item) => element(item) ?? defaultJson(field));
    };
  }
  return element;
}

/** The JSON of a default element inside a list or map, where omission is impossible. */
function defaultJson(field: protobuf.Field): Json {
  const resolved = field.resolvedType;
  if (resolved && 'fields' in resolved) return {};
  if (resolved) return (resolved as protobuf.Enum).valuesById[0] ?? 0;
  if (INT64.has(field.type)) return '0';
  if (field.type === 'string' || field.type === 'bytes') return '';
  if (field.type === 'bool') return false;
  return 0;
}

function messageConverter(type: protobuf.Type): Convert {
  const known = compiled.get(type);
  if (known) return known;
  const special = wellKnown(type);
  if (special) {
    compiled.set(type, special);
    return special;
  }
  const fields: { name: string; convert: Convert }[] = [];
  const convert: Convert = (v) => {
    const source = v as Record<string, unknown>;
    const out: Record<string, Json> = {};
    for (const field of fields) {
      const value = source[field.name];
      if (value === undefined || value === null) continue;
      const json = field.convert(value);
      if (json !== undefined) out[field.name] = json;
    }
    return out;
  };
  // Registered before the fields are compiled so recursive types terminate.
  compiled.set(type, convert);
  for (const field of type.fieldsArray) fields.push({ name: field.name, convert: fieldConverter(field) });
  return convert;
}

const flowRecordType = reflectRoot.lookupType('podflow.v1.FlowRecord');
const convertFlowRecord = messageConverter(flowRecordType);

/** The canonical JSON value of a record (a plain object ready for JSON.stringify). */
export function toCanonicalJson(record: FlowRecord): Record<string, Json> {
  return convertFlowRecord(record) as Record<string, Json>;
}

/** One line of canonical JSON, without the newline. */
export function encodeCanonicalJson(record: FlowRecord): string {
  return JSON.stringify(convertFlowRecord(record));
}
