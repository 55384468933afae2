import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../logging/logger.js';
import { labelSetKey, type ClusterMetricStore, type StoredSample } from '../../metrics/cluster-metric-store.js';
import { binSample, bucketLabel } from '../../metrics/run-metrics.js';
import type { ClusterCounterSpec, ClusterHistogramSpec } from '../../plugin/plugin.js';

/** Reads one sample name from the store, bounded; undefined (and a warning) when it fails. */
export type SampleReader = (sample: string) => Promise<StoredSample[] | undefined>;

export function sampleReader(store: ClusterMetricStore | undefined, bounded: <T>(p: Promise<T>, what: string) => Promise<T>, log: Logger | undefined): SampleReader {
  return async (sample) => {
    if (!store) return [];
    try {
      return await bounded(store.read(sample), `cluster metric ${sample}`);
    } catch (err) {
      // No series rather than a guess: a false 0 would read as a counter reset.
      log?.warn({ err }, `metrics: ${sample} unavailable`);
      return undefined;
    }
  };
}

/**
 * The label set in the metric's declared order (as prom-client writes its own
 * metrics); undefined when it is not exactly the declared names (a label set
 * stored by another version of the metric).
 */
function declaredLabels(labelNames: readonly string[], labels: Record<string, string>): Record<string, string> | undefined {
  if (Object.keys(labels).length !== labelNames.length || !labelNames.every((n) => n in labels)) return undefined;
  return Object.fromEntries(labelNames.map((n) => [n, labels[n]!]));
}

/**
 * A Prometheus counter whose values are the cluster-wide sums in the store,
 * read at scrape time (every process that ran jobs added to them).
 */
export function registerClusterCounter(registry: Registry, spec: ClusterCounterSpec, read: SampleReader, log?: Logger): Counter<string> {
  return new Counter<string>({
    name: spec.name,
    help: spec.help,
    labelNames: [...spec.labelNames],
    registers: [registry],
    async collect() {
      const samples = await read(spec.name);
      // Reset and refill with no await in between: concurrent scrapes never add up.
      this.reset();
      let misfits = 0;
      for (const s of samples ?? []) {
        const labels = declaredLabels(spec.labelNames, s.labels);
        if (labels && s.value >= 0) this.inc(labels, s.value);
        else misfits++;
      }
      if (misfits) log?.warn(`metrics: ${spec.name}: ${misfits} stored label set(s) do not fit its labels (${spec.labelNames.join(', ')}): not shown`);
    },
  });
}

interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative count per `le`, as versions before the per-bucket store wrote them (still counted after an upgrade). */
  cumulative: Map<string, number>;
  /** Observations per bucket's own range, by its bound (see binSample). */
  bins: Array<[bound: number, count: number]>;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram whose buckets, sum and count are the cluster-wide
 * sums in the store, read at scrape time.
 *
 * prom-client has no way to set a histogram's values, and its registry
 * writes a histogram out through `getForPromString()` (`get()`, for JSON,
 * reshapes that same result): this subclass answers it from the store, in
 * the very shape prom-client 15's own Histogram gives (each value's own
 * labels, here `le`, apart from the series' `sharedLabels`).
 */
class ClusterHistogram extends Histogram<string> {
  constructor(
    registry: Registry,
    private readonly spec: ClusterHistogramSpec,
    private readonly read: SampleReader,
  ) {
    super({ name: spec.name, help: spec.help, labelNames: [...spec.labelNames], buckets: [...spec.buckets], registers: [registry] });
  }

  private async series(): Promise<HistogramSeries[]> {
    const { name, labelNames } = this.spec;
    const [cumulative, bins, sums, counts] = await Promise.all([this.read(`${name}_bucket`), this.read(binSample(name)), this.read(`${name}_sum`), this.read(`${name}_count`)]);
    if (!cumulative || !bins || !sums || !counts) return [];
    const byLabels = new Map<string, HistogramSeries>();
    for (const c of counts) {
      const labels = declaredLabels(labelNames, c.labels);
      if (labels) byLabels.set(labelSetKey(labels), { labels, cumulative: new Map(), bins: [], sum: 0, count: c.value });
    }
    for (const s of sums) {
      const series = byLabels.get(labelSetKey(s.labels));
      if (series) series.sum = s.value;
    }
    for (const b of cumulative) {
      const { le, ...labels } = b.labels;
      const series = byLabels.get(labelSetKey(labels));
      if (series && le !== undefined) series.cumulative.set(le, b.value);
    }
    for (const b of bins) {
      const { le, ...labels } = b.labels;
      const series = byLabels.get(labelSetKey(labels));
      if (series && le !== undefined && !Number.isNaN(Number(le))) series.bins.push([Number(le), b.value]);
    }
    return [...byLabels.values()];
  }

  async getForPromString() {
    const { name, help, buckets } = this.spec;
    const values = (await this.series()).flatMap((s) => [
      ...[...buckets, Number.POSITIVE_INFINITY].map((bound) => {
        const le = bucketLabel(bound);
        // +Inf holds every observation: the count, whatever the stored buckets say.
        let value = s.count;
        if (bound !== Number.POSITIVE_INFINITY) {
          value = s.cumulative.get(le) ?? 0;
          for (const [binBound, count] of s.bins) if (binBound <= bound) value += count;
        }
        return { labels: { le }, sharedLabels: s.labels, value, metricName: `${name}_bucket` };
      }),
      { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` },
      { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` },
    ]);
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  }
}

export function registerClusterHistogram(registry: Registry, spec: ClusterHistogramSpec, read: SampleReader): Histogram<string> {
  return new ClusterHistogram(registry, spec, read);
}
