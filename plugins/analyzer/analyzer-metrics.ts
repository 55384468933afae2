import { Counter, Gauge, Histogram } from 'prom-client';
import type { PluginMetricsContext } from '../../core/plugin/plugin.js';
import type { AnalysisResult, HostMemory } from '../shared/records/container-records.js';
import { errorMessage } from '../../core/util/error-message.js';

const ANALYZER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The analyzer's part of /metrics:
 * - tideflow_containers_killed_total{workflow,class}: kills that succeeded (never a dry run)
 * - tideflow_container_kill_errors_total{workflow,class}: kills decided that failed
 * - tideflow_analyzer_duration_seconds{workflow}: one analysis (sample, decide, kill)
 * - tideflow_host_memory_{total,used,free,available}_bytes: the host's /proc/meminfo at scrape time
 */
export function registerAnalyzerMetrics(ctx: PluginMetricsContext<AnalysisResult>, readHostMemory: () => Promise<HostMemory>): void {
  const { registry, log } = ctx;
  const killed = new Counter({
    name: 'tideflow_containers_killed_total',
    help: 'Containers killed by the analyzer, by workflow and class.',
    labelNames: ['workflow', 'class'],
    registers: [registry],
  });
  const killErrors = new Counter({
    name: 'tideflow_container_kill_errors_total',
    help: 'Kills decided by the analyzer that failed, by workflow and class.',
    labelNames: ['workflow', 'class'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tideflow_analyzer_duration_seconds',
    help: 'Duration of one analysis (sample, decide, kill) in seconds.',
    labelNames: ['workflow'],
    buckets: ANALYZER_BUCKETS,
    registers: [registry],
  });
  ctx.onRunSucceeded((output) => {
    const { workflow } = output;
    if (output.durationMs >= 0) duration.observe({ workflow }, output.durationMs / 1000);
    if (output.dryRun) return;
    for (const c of output.containers) {
      if (c.decision !== 'killed') continue;
      if (c.killError) killErrors.inc({ workflow, class: c.class });
      else killed.inc({ workflow, class: c.class });
    }
  });

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
