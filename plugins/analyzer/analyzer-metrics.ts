import { Gauge } from 'prom-client';
import type { ClusterCounterSpec, ClusterHistogramSpec, PluginMetricsContext, RunCount } from '../../core/plugin/plugin.js';
import type { AnalysisResult, HostMemory } from '../shared/records/container-records.js';
import { errorMessage } from '../../core/util/error-message.js';

/** Kills that succeeded (never a dry run): a cluster counter. */
export const CONTAINERS_KILLED = {
  name: 'tideflow_containers_killed_total',
  help: 'Containers killed by the analyzer, by workflow and class.',
  labelNames: ['workflow', 'class'],
} as const satisfies ClusterCounterSpec;

/** Kills decided that failed: a cluster counter. */
export const KILL_ERRORS = {
  name: 'tideflow_container_kill_errors_total',
  help: 'Kills decided by the analyzer that failed, by workflow and class.',
  labelNames: ['workflow', 'class'],
} as const satisfies ClusterCounterSpec;

/** One analysis (sample, decide, kill): a cluster histogram. */
export const ANALYSIS_DURATION = {
  name: 'tideflow_analyzer_duration_seconds',
  help: 'Duration of one analysis (sample, decide, kill) in seconds.',
  labelNames: ['workflow'],
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
} as const satisfies ClusterHistogramSpec;

/** What a succeeded analysis adds: its duration, and (unless a dry run) its kills and failed kills by class. */
export function countAnalysisRun(output: AnalysisResult): RunCount[] {
  const { workflow } = output;
  const counts: RunCount[] = [];
  if (output.durationMs >= 0) counts.push({ histogram: ANALYSIS_DURATION.name, labels: { workflow }, value: output.durationMs / 1000 });
  if (output.dryRun) return counts;
  const byClass = (counter: string, pick: (killError: string | undefined) => boolean) => {
    const n = new Map<string, number>();
    for (const c of output.containers) if (c.decision === 'killed' && pick(c.killError)) n.set(c.class, (n.get(c.class) ?? 0) + 1);
    return [...n].map(([cls, value]): RunCount => ({ counter, labels: { workflow, class: cls }, value }));
  };
  counts.push(...byClass(CONTAINERS_KILLED.name, (e) => !e), ...byClass(KILL_ERRORS.name, (e) => !!e));
  return counts;
}

/**
 * The analyzer's part of /metrics:
 * - tideflow_containers_killed_total{workflow,class}: kills that succeeded (never a dry run),
 *   in any process (CONTAINERS_KILLED, counted by countAnalysisRun)
 * - tideflow_container_kill_errors_total{workflow,class}: kills decided that failed (KILL_ERRORS)
 * - tideflow_analyzer_duration_seconds{workflow}: one analysis (sample, decide, kill) (ANALYSIS_DURATION)
 * - tideflow_host_memory_{total,used,free,available}_bytes: the host's /proc/meminfo at scrape
 *   time (registered here)
 */
export function registerAnalyzerMetrics(ctx: PluginMetricsContext, readHostMemory: () => Promise<HostMemory>): void {
  const { registry, log } = ctx;
  // One read of /proc/meminfo per scrape: a scrape collects the four gauges at once, they share the read in flight.
  let reading: Promise<HostMemory | undefined> | undefined;
  const memory = (): Promise<HostMemory | undefined> =>
    (reading ??= readHostMemory()
      .catch((err: unknown) => {
        log.warn({ err: errorMessage(err) }, 'metrics: could not read host memory');
        return undefined;
      })
      .finally(() => (reading = undefined)));
  const memoryGauge = (name: string, help: string, pick: (m: HostMemory) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const m = await memory();
        // NaN when unreadable: an unlabelled gauge cannot be absent, and 0 would be a false reading.
        this.set(m ? pick(m) : Number.NaN);
      },
    });
  memoryGauge('tideflow_host_memory_total_bytes', 'Host memory (MemTotal).', (m) => m.totalBytes);
  memoryGauge('tideflow_host_memory_used_bytes', 'Host memory in use: total minus available, as free(1) reports it.', (m) => m.usedBytes);
  memoryGauge('tideflow_host_memory_free_bytes', 'Host memory free (MemFree).', (m) => m.freeBytes);
  memoryGauge('tideflow_host_memory_available_bytes', 'Host memory available for new work without swapping (MemAvailable).', (m) => m.availableBytes);
}
