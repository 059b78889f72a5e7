// Per-record-type sampling, by conversation: a record is kept when its
// conversationId (a hash of the normalized 5-tuple, the same on every record
// of a connection, on both sockets' views and on every node) falls below the
// type's rate. So a sampled connection keeps all its records (both sides of
// TCP_OPEN, its TCP_CLOSE, its FLOW intervals, where the rates are equal), and
// the decision is the same on every agent: the hash-based, flow-consistent
// selection of flow export (PSAMP). A counter (every fourth record at 0.25)
// would drop one socket's view of every connection when the two alternate.
// Records without a conversation id are sampled by such a counter.
import { podflow } from '../proto/gen/flow.js';
import type { FlowRecord, RecordTypeName } from './types.js';

/** Fraction of records to keep per type, 0..1; types not listed keep everything. */
export type SamplingRates = Partial<Record<RecordTypeName, number>>;

/** Hex digits of the conversation id read: 32 bits, uniform (the id is a hash). */
const HASH_DIGITS = 8;
const HASH_RANGE = 2 ** (4 * HASH_DIGITS);

/** The last HASH_DIGITS hex digits of `id` as a number; -1 when they are not hex. */
function conversationHash(id: string): number {
  if (id.length < HASH_DIGITS) return -1;
  let h = 0;
  for (let i = id.length - HASH_DIGITS; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    h = h * 16 + d;
  }
  return h;
}

export class Sampler {
  /** Per type: records whose conversation hash is below it are kept. */
  private readonly thresholds: number[] = [];
  private readonly rates: number[] = [];
  private readonly credit: number[] = [];

  constructor(rates: SamplingRates = {}, where = 'sampling') {
    for (const [name, rate] of Object.entries(rates)) {
      const type = (podflow.v1.RecordType as unknown as Record<string, number>)[name];
      if (type === undefined || type === 0) throw new Error(`${where}.${name}: unknown record type (expected a name like FLOW or HTTP)`);
      if (type === podflow.v1.RecordType.LOSS) throw new Error(`${where}.LOSS: LOSS records cannot be sampled (they account for every drop)`);
      if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`${where}.${name}: ${String(rate)} is not a sampling rate (expected a number from 0 to 1)`);
      this.rates[type] = rate;
      this.thresholds[type] = rate * HASH_RANGE;
      this.credit[type] = 0;
    }
  }

  /** True to keep the record. */
  keep(record: FlowRecord): boolean {
    const type = record.type ?? 0;
    const rate = this.rates[type];
    if (rate === undefined || rate >= 1) return true;
    const id = record.conversationId;
    const h = typeof id === 'string' ? conversationHash(id) : -1;
    if (h >= 0) return h < this.thresholds[type]!;
    const credit = this.credit[type]! + rate;
    if (credit >= 1 - 1e-9) {
      this.credit[type] = credit - 1;
      return true;
    }
    this.credit[type] = credit;
    return false;
  }
}
