// The observe socket's request protocol, shared by the agent (server) and the
// CLI (client). A client sends one JSON line; the agent answers with JSON
// lines: one reply for "status" and "probes", a record stream for "observe".
import { z } from 'zod';
import { describeIssues } from '../config/load.js';
import { filterRuleSchema, type FilterRule } from '../config/schema.js';
import { OBSERVE_FORMATS, type ObserveFormat } from './observe-format.js';

export type ObserveRequest =
  | { op: 'status' }
  | { op: 'probes' }
  | {
    op: 'observe';
    /** Replay up to this many recent records first. */
    last?: number;
    /** Keep streaming new records (otherwise close after the replay). */
    follow?: boolean;
    filter?: { allow?: FilterRule[]; deny?: FilterRule[] };
    /** How records are printed; default json. */
    format?: ObserveFormat;
  };

/** Largest request line the agent reads; a filter list longer than this is a mistake. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const filterSetSchema = z.strictObject({
  allow: z.array(filterRuleSchema).optional(),
  deny: z.array(filterRuleSchema).optional(),
});

export function parseObserveRequest(line: string): ObserveRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`request is not JSON: ${line.slice(0, 80)}`);
  }
  const op = (value as { op?: unknown } | null)?.op;
  if (op === 'status' || op === 'probes') return { op };
  if (op === 'observe') {
    const req = value as { last?: unknown; follow?: unknown; filter?: unknown };
    if (req.last !== undefined && !(Number.isInteger(req.last) && (req.last as number) >= 0)) throw new Error(`"last" must be a whole number >= 0, got ${JSON.stringify(req.last)}`);
    if (req.follow !== undefined && typeof req.follow !== 'boolean') throw new Error(`"follow" must be true or false, got ${JSON.stringify(req.follow)}`);
    const filter = filterSetSchema.safeParse(req.filter ?? {});
    if (!filter.success) throw new Error(`bad filter: ${describeIssues(filter.error.issues, req.filter, [], filterSetSchema).join('; ')}`);
    const format = (value as { format?: unknown }).format ?? 'json';
    if (!OBSERVE_FORMATS.includes(format as ObserveFormat)) throw new Error(`"format" must be one of ${OBSERVE_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
    return { op, last: req.last as number | undefined, follow: req.follow as boolean | undefined, filter: filter.data, format: format as ObserveFormat };
  }
  throw new Error(`unknown op ${JSON.stringify(op)}; expected "status", "probes" or "observe"`);
}
