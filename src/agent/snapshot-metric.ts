// A Prometheus metric whose values are read from a component's running
// totals at scrape time. The pipeline, probes and enricher keep their own
// counters (they also feed `podflow status` and LOSS records), so /metrics
// reads them instead of mirroring every increment into prom-client.
import type { Registry } from 'prom-client';

type Labels = Record<string, string | number>;
export interface MetricValue {
  labels?: Labels;
  value: number;
  /** For histogram series: name_bucket, name_sum, name_count. */
  metricName?: string;
}

export class SnapshotMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => MetricValue[],
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  reset(): void {}

  register(registry: Registry): this {
    (registry as unknown as { registerMetric(m: unknown): void }).registerMetric(this);
    return this;
  }
}

/** Series of a cumulative histogram snapshot (buckets with their upper bounds). */
export function histogramValues(
  name: string,
  labels: Labels,
  snapshot: { count: number; sumSeconds: number; buckets: readonly { le: number; count: number }[] },
): MetricValue[] {
  const values: MetricValue[] = snapshot.buckets.map((b) => ({
    metricName: `${name}_bucket`, labels: { ...labels, le: b.le === Infinity ? '+Inf' : b.le }, value: b.count,
  }));
  values.push({ metricName: `${name}_sum`, labels, value: snapshot.sumSeconds });
  values.push({ metricName: `${name}_count`, labels, value: snapshot.count });
  return values;
}
