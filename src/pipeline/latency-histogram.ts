// A fixed-bucket latency histogram (seconds), cumulative like Prometheus'.
import type { LatencySnapshot } from './types.js';

export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export class LatencyHistogram {
  private readonly counts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  private count = 0;
  private sum = 0;
  private max = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += seconds;
    if (seconds > this.max) this.max = seconds;
  }

  snapshot(): LatencySnapshot {
    let running = 0;
    const buckets = this.counts.map((n, i) => ({ le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i] : Infinity, count: (running += n) }));
    return { count: this.count, sumSeconds: this.sum, maxSeconds: this.max, buckets };
  }
}
