// How `podflow observe` prints records: compact (the human line of `podflow
// run`), json (proto3 canonical JSON) or table (the human line's parts in
// fixed-width columns, so a stream lines up without knowing widths in advance).
import { formatHuman } from '../proto/human.js';
import { encodeCanonicalJson } from '../proto/json.js';
import type { FlowRecord } from '../pipeline/types.js';

export const OBSERVE_FORMATS = ['compact', 'json', 'table'] as const;
export type ObserveFormat = (typeof OBSERVE_FORMATS)[number];

const WIDTHS = [12, 34, 34];
export const TABLE_HEADER = ['TIME', 'SOURCE', 'DESTINATION'].map((h, i) => h.padEnd(WIDTHS[i])).join(' ') + ' SUMMARY';

/**
 * The human line is "TIME SOURCE -> DESTINATION DETAIL" (endpoints never hold
 * spaces) or "TIME LOSS ..." for LOSS records; table re-spaces those parts.
 */
function tableRow(record: FlowRecord): string {
  const line = formatHuman(record);
  const parts = line.split(' ');
  if (parts[2] !== '->') return `${parts[0].padEnd(WIDTHS[0])} ${''.padEnd(WIDTHS[1])} ${''.padEnd(WIDTHS[2])} ${parts.slice(1).join(' ')}`;
  return `${parts[0].padEnd(WIDTHS[0])} ${parts[1].padEnd(WIDTHS[1])} ${parts[3].padEnd(WIDTHS[2])} ${parts.slice(4).join(' ')}`;
}

export function observeEncoder(format: ObserveFormat): (record: FlowRecord) => string {
  switch (format) {
    case 'compact': return formatHuman;
    case 'json': return encodeCanonicalJson;
    case 'table': return tableRow;
  }
}
