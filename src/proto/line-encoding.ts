// The text encodings a line-oriented sink (stdout, file, observe socket) can use.
import type { FlowRecord } from '../pipeline/types.js';
import { formatHuman } from './human.js';
import { encodeCanonicalJson } from './json.js';
import { OcsfEncoder } from './ocsf.js';

export const LINE_FORMATS = ['human', 'json', 'ocsf'] as const;
export type LineFormat = (typeof LINE_FORMATS)[number];

/** One record to one line of text, without the newline. */
export type LineEncoder = (record: FlowRecord) => string;

export function createLineEncoder(format: LineFormat, options: { productVersion: string }): LineEncoder {
  switch (format) {
    case 'human':
      return formatHuman;
    case 'json':
      return encodeCanonicalJson;
    case 'ocsf': {
      const ocsf = new OcsfEncoder(options);
      return (record) => ocsf.encode(record);
    }
    default:
      throw new Error(`unknown output format "${String(format)}": expected one of ${LINE_FORMATS.join(', ')}`);
  }
}
