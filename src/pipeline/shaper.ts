// The shape stage: filter, then sample, then redact. Filtered and sampled
// records are counted as drops with the policy reasons "filtered" and "sampled".
import { compileFilterSet, type FilterSet } from './filter.js';
import { Redactor, type RedactionOptions } from './redactor.js';
import { Sampler, type SamplingRates } from './sampler.js';
import type { StageCounter } from './stage-counter.js';
import type { FlowRecord } from './types.js';

export interface ShapeOptions {
  filters?: FilterSet;
  sampling?: SamplingRates;
  redaction?: RedactionOptions;
}

export class Shaper {
  private readonly matches: (r: FlowRecord) => boolean;
  private readonly sampler: Sampler;
  private readonly redactor: Redactor;

  /** Throws an Error naming the option on any invalid filter, rate or rule. */
  constructor(options: ShapeOptions, private readonly counter: StageCounter) {
    this.matches = compileFilterSet(options.filters ?? { allow: [], deny: [] });
    this.sampler = new Sampler(options.sampling);
    this.redactor = new Redactor(options.redaction);
  }

  /** True when the record goes on (redacted in place); counts either way. */
  process(record: FlowRecord): boolean {
    this.counter.received++;
    if (!this.matches(record)) {
      this.counter.drop('filtered');
      return false;
    }
    if (!this.sampler.keep(record)) {
      this.counter.drop('sampled');
      return false;
    }
    this.redactor.redact(record);
    this.counter.emitted++;
    return true;
  }
}
