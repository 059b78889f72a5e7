// How `podflow observe` prints records: the line formats of every sink
// (human, json, ocsf) or table (the human line's parts in fixed-width
// columns, so a stream lines up without knowing widths in advance).
import { endpointsShowPorts, formatDetail, formatEndpoint, formatTime } from '../proto/human.js';
import { createRecordEncoder, LINE_FORMATS, type LineEncoder } from '../proto/record-encoder.js';
import { RecordType, type FlowRecord } from '../pipeline/types.js';
import { VERSION } from './version.js';

export const OBSERVE_FORMATS = [...LINE_FORMATS, 'table'] as const;
export type ObserveFormat = (typeof OBSERVE_FORMATS)[number];

const WIDTHS = [12, 34, 34];
export const TABLE_HEADER = ['TIME', 'SOURCE', 'DESTINATION'].map((h, i) => h.padEnd(WIDTHS[i])).join(' ') + ' SUMMARY';

/** The human line's parts in columns; LOSS records have no endpoints. */
function tableRow(record: FlowRecord): string {
  const loss = record.type === RecordType.LOSS;
  const ports = endpointsShowPorts(record);
  const source = loss ? '' : formatEndpoint(record.source, ports);
  const destination = loss ? '' : formatEndpoint(record.destination, ports);
  return `${formatTime(record).padEnd(WIDTHS[0])} ${source.padEnd(WIDTHS[1])} ${destination.padEnd(WIDTHS[2])} ${formatDetail(record)}`;
}

export function observeEncoder(format: ObserveFormat): LineEncoder {
  return format === 'table' ? tableRow : createRecordEncoder(format, { productVersion: VERSION });
}
