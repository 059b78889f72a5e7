// Per-stage accounting: what a stage received, emitted and dropped (per reason).
import type { StageSnapshot } from './types.js';

/**
 * Reasons that are the user's own choice (filters, sampling), counted like
 * every drop but not losses: they never become LOSS records.
 */
export const POLICY_REASONS: ReadonlySet<string> = new Set(['filtered', 'sampled']);

export class StageCounter {
  received = 0;
  emitted = 0;
  /** Records passed on without the stage's work because it threw (included in emitted). */
  failed = 0;
  private readonly drops = new Map<string, number>();

  constructor(readonly stage: string) {}

  drop(reason: string, n = 1): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + n);
  }

  dropped(reason: string): number {
    return this.drops.get(reason) ?? 0;
  }

  totalDropped(): number {
    let n = 0;
    for (const v of this.drops.values()) n += v;
    return n;
  }

  /** Each non-policy reason with its running total. */
  *losses(): Iterable<{ stage: string; reason: string; count: number }> {
    for (const [reason, count] of this.drops) if (!POLICY_REASONS.has(reason)) yield { stage: this.stage, reason, count };
  }

  snapshot(): StageSnapshot {
    return { stage: this.stage, received: this.received, emitted: this.emitted, failed: this.failed, dropped: Object.fromEntries(this.drops) };
  }
}
