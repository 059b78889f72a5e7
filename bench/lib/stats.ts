// Small statistics and the result line every benchmark ends with.
import { loadavg } from 'node:os';

export const SMOKE = process.env.BENCH_SMOKE === '1';

/** The p-th percentile (0-100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Overhead of `with` against `without` for a higher-is-better figure, in percent (negative: faster with). */
export function overheadPercent(without: number, withAgent: number): number {
  return ((without - withAgent) / without) * 100;
}

/**
 * Overhead per round from paired measurements (round i's without and with, taken back to back) and their
 * median: drift of the shared machine between rounds cancels within a pair, and a single bad window moves
 * one round, not the figure.
 */
export function pairedOverheadPercent(without: readonly number[], withAgent: readonly number[]): { median: number; min: number; max: number } {
  if (without.length !== withAgent.length || without.length === 0) throw new Error(`unpaired rounds: ${without.length} without, ${withAgent.length} with`);
  const rounds = Float64Array.from(without, (w, i) => overheadPercent(w, withAgent[i]!)).sort();
  const mid = rounds.length >> 1;
  // The middle value, or the mean of the middle two.
  const median = rounds.length % 2 ? rounds[mid]! : (rounds[mid - 1]! + rounds[mid]!) / 2;
  return { median, min: rounds[0]!, max: rounds[rounds.length - 1]! };
}

export function loadAvg1(): number {
  return round(loadavg()[0] ?? 0);
}

/** Prints the benchmark's last line: one JSON object {"name","value","unit",...} (bench/run.ts reads it). */
export function printResult(result: { name: string; value: number; unit: string; [extra: string]: unknown }): void {
  console.log(JSON.stringify({ ...result, loadAvg1: loadAvg1(), smoke: SMOKE }));
}
