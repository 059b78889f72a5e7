// Per-record-type sampling. Deterministic: a rate of 0.25 keeps exactly every
// fourth record of that type, so counts stay predictable and testable.
import { podflow } from '../proto/gen/flow.js';
import type { FlowRecord, RecordTypeName } from './types.js';

/** Fraction of records to keep per type, 0..1; types not listed keep everything. */
export type SamplingRates = Partial<Record<RecordTypeName, number>>;

export class Sampler {
  private readonly rates: number[] = [];
  private readonly credit: number[] = [];

  constructor(rates: SamplingRates = {}, where = 'sampling') {
    for (const [name, rate] of Object.entries(rates)) {
      const type = (podflow.v1.RecordType as unknown as Record<string, number>)[name];
      if (type === undefined || type === 0) throw new Error(`${where}.${name}: unknown record type (expected a name like FLOW or HTTP)`);
      if (type === podflow.v1.RecordType.LOSS) throw new Error(`${where}.LOSS: LOSS records cannot be sampled (they account for every drop)`);
      if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`${where}.${name}: ${String(rate)} is not a sampling rate (expected a number from 0 to 1)`);
      this.rates[type] = rate;
      this.credit[type] = 0;
    }
  }

  /** True to keep the record. */
  keep(record: FlowRecord): boolean {
    const type = record.type ?? 0;
    const rate = this.rates[type];
    if (rate === undefined || rate >= 1) return true;
    const credit = this.credit[type] + rate;
    if (credit >= 1 - 1e-9) {
      this.credit[type] = credit - 1;
      return true;
    }
    this.credit[type] = credit;
    return false;
  }
}
