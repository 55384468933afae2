import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineControl, JobStatus } from '../../control/engine-control.js';
import { silentLogger, type Logger } from '../../logging/logger.js';
import type { ClusterMetricStore } from '../../metrics/cluster-metric-store.js';
import { ENGINE_COUNTERS, ENGINE_HISTOGRAMS, JOB_LABEL } from '../../metrics/run-metrics.js';
import type { PluginManifest, TideflowPlugin } from '../../plugin/plugin.js';
import { jobKey } from '../../queues/run-ids.js';
import { registerClusterCounter, registerClusterHistogram, sampleReader, type SampleReader } from './cluster-metrics.js';

export { JOB_LABEL };
type JobLabels = 'workflow' | typeof JOB_LABEL;

export interface EngineMetricsOptions {
  /**
   * Where the cluster-wide counters and histograms (runs, durations, the
   * plugins' declared ones) are read at scrape time: every process that runs
   * jobs records them there. Without it they are declared with no series.
   */
  clusterMetrics?: ClusterMetricStore;
  /** Job counts by state (waiting, active, delayed, failed, completed, paused...) read at scrape time. */
  queueCounts?: () => Promise<Record<string, number>>;
  /** Whether the queue itself is paused (BullMQ queue.pause(), e.g. from Bull Board), read at scrape time. */
  queuePaused?: () => Promise<boolean>;
  /** Jobs with state and next fire (per-job gauges, scheduler lag) and health checks, read at scrape time. */
  control?: Pick<EngineControl, 'listWorkflows' | 'health'>;
  /** Finish time (ms) of the last succeeded run per `<workflow>/<job>`, read at scrape time. */
  lastSuccesses?: () => Promise<Map<string, number>>;
  /** Plugins whose declared cluster counters/histograms and `metrics` hook contribute to this registry. */
  plugins?: Array<{ manifest: Pick<PluginManifest, 'name' | 'counters' | 'histograms'>; plugin: Pick<TideflowPlugin, 'metrics'> }>;
  /** Registry to use; a new private one by default (never prom-client's global registry). */
  registry?: Registry;
  log?: Logger;
  /** Clock for scheduler lag (tests). */
  now?: () => number;
}

/**
 * prom-client's default metrics include gauges named `*_total`
 * (nodejs_active_handles_total...), which `promtool check metrics` rejects:
 * `_total` means a counter. The same figures stay available per type
 * (nodejs_active_handles{type}; sum() them for the total).
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

interface JobSnapshot {
  jobs: JobStatus[];
  lastSuccess: Map<string, number>;
}

/**
 * A read at scrape time gives up after this: with Redis gone, ioredis queues
 * commands forever, and a scrape that hangs tells an operator less than a
 * scrape that says "redis down".
 */
const SCRAPE_READ_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${SCRAPE_READ_TIMEOUT_MS} ms`)), SCRAPE_READ_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const isScheduledTrigger = (j: JobStatus) => j.trigger.every !== undefined || j.trigger.cron !== undefined;

/**
 * Prometheus metrics of the engine (domain-neutral; container metrics come
 * from the container plugins: their declared cluster counters and their
 * `metrics` hook). Jobs are labelled `workflow` and `tideflow_job` (see JOB_LABEL).
 *
 * Cluster-wide (recorded in the store by every process that runs jobs, read at scrape time):
 * - tideflow_runs_started_total{workflow,tideflow_job}: attempts started
 * - tideflow_runs_total{workflow,tideflow_job,status}: finished attempts; status is
 *   succeeded, failed (final), retrying (failed, will be retried) or cancelled
 * - tideflow_run_duration_seconds{workflow,tideflow_job,status}: histogram
 *
 * Read at scrape time:
 * - tideflow_job_paused{workflow,tideflow_job}: 1 when paused (by job, workflow or globally)
 * - tideflow_job_last_success_timestamp_seconds{workflow,tideflow_job}: finish time of the last success
 * - tideflow_job_scheduled{workflow,tideflow_job}: 1 for a job with a schedule that is not paused
 * - tideflow_scheduler_lag_seconds{workflow,tideflow_job}: now − next fire of its scheduler
 *   (negative while the fire is ahead; positive when overdue)
 * - tideflow_queue_jobs{state}, tideflow_queue_paused: the BullMQ queue at scrape time
 * - tideflow_health_check_up{check}: the checks of GET /api/health (redis, docker, scheduler, store)
 * - process_* and nodejs_*: prom-client default metrics on this registry
 */
export class EngineMetrics {
  readonly registry: Registry;
  private readonly readSamples: SampleReader;
  /** The read in flight: a scrape collects every gauge at once, so they share one read of the job list. */
  private snapshot?: Promise<JobSnapshot | undefined>;

  constructor(private readonly opts: EngineMetricsOptions = {}) {
    const registry = opts.registry ?? new Registry();
    this.registry = registry;
    if (!registry.getSingleMetric('process_cpu_user_seconds_total')) {
      collectDefaultMetrics({ register: registry });
      for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name);
    }

    this.readSamples = sampleReader(opts.clusterMetrics, withTimeout, opts.log);
    for (const spec of ENGINE_COUNTERS) registerClusterCounter(registry, spec, this.readSamples, opts.log);
    for (const spec of ENGINE_HISTOGRAMS) registerClusterHistogram(registry, spec, this.readSamples);
    this.registerJobGauges();
    this.registerQueueGauges();
    this.registerHealthGauge();
    this.registerPluginMetrics();
  }

  /** Prometheus text exposition of every metric of the registry. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The job list and last successes, read once per scrape; undefined when unavailable. */
  private jobSnapshot(): Promise<JobSnapshot | undefined> {
    if (this.snapshot) return this.snapshot;
    const { control, lastSuccesses, log } = this.opts;
    const value = (async () => {
      if (!control) return undefined;
      try {
        const [workflows, lastSuccess] = await withTimeout(
          Promise.all([control.listWorkflows(), lastSuccesses?.() ?? new Map<string, number>()]),
          'job states',
        );
        return { jobs: workflows.flatMap((w) => w.jobs), lastSuccess };
      } catch (err) {
        log?.warn({ err }, 'metrics: job states unavailable');
        return undefined;
      }
    })().finally(() => (this.snapshot = undefined));
    this.snapshot = value;
    return value;
  }

  private registerJobGauges(): void {
    const registry = this.registry;
    const snapshot = () => this.jobSnapshot();
    const now = this.opts.now ?? Date.now;
    const jobGauge = (name: string, help: string, fill: (g: Gauge<JobLabels>, s: JobSnapshot) => void) =>
      new Gauge<JobLabels>({
        name,
        help,
        labelNames: ['workflow', JOB_LABEL],
        registers: [registry],
        async collect() {
          this.reset();
          const s = await snapshot();
          if (s) fill(this, s);
        },
      });
    const labels = (j: JobStatus) => ({ workflow: j.workflow, [JOB_LABEL]: j.job });

    jobGauge('tideflow_job_paused', '1 when the job is paused (by itself, its workflow or everything), else 0.', (g, s) => {
      for (const j of s.jobs) g.set(labels(j), j.state === 'paused' ? 1 : 0);
    });
    jobGauge('tideflow_job_last_success_timestamp_seconds', 'Unix time at which the last succeeded run of the job finished.', (g, s) => {
      for (const j of s.jobs) {
        const at = s.lastSuccess.get(jobKey(j.workflow, j.job));
        if (at !== undefined) g.set(labels(j), at / 1000);
      }
    });
    jobGauge('tideflow_job_scheduled', '1 for a job with a schedule (every or cron) that is not paused: its scheduler should exist.', (g, s) => {
      for (const j of s.jobs) if (isScheduledTrigger(j)) g.set(labels(j), j.state === 'active' ? 1 : 0);
    });
    jobGauge(
      'tideflow_scheduler_lag_seconds',
      'Now minus the next fire time of the job scheduler: negative while the fire is ahead, positive when it is overdue.',
      (g, s) => {
        const t = now();
        for (const j of s.jobs) if (j.nextRunAt !== null && isScheduledTrigger(j)) g.set(labels(j), (t - j.nextRunAt) / 1000);
      },
    );
  }

  private registerQueueGauges(): void {
    const { queueCounts, queuePaused, log } = this.opts;
    new Gauge({
      name: 'tideflow_queue_jobs',
      help: 'Jobs in the engine queue by state, read at scrape time (a paused queue keeps its jobs in waiting; see tideflow_queue_paused).',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        if (!queueCounts) return;
        try {
          const counts = await withTimeout(queueCounts(), 'queue counts');
          for (const [state, n] of Object.entries(counts)) {
            if (typeof n === 'number' && Number.isFinite(n)) this.set({ state }, n);
          }
        } catch (err) {
          log?.warn({ err }, 'metrics: queue counts failed');
        }
      },
    });
    new Gauge({
      name: 'tideflow_queue_paused',
      help: '1 when the BullMQ queue itself is paused (no worker takes jobs), else 0.',
      registers: [this.registry],
      async collect() {
        // NaN when unknown: an unlabelled gauge cannot be absent, and 0 would claim "not paused".
        let value = Number.NaN;
        try {
          if (queuePaused) value = (await withTimeout(queuePaused(), 'queue state')) ? 1 : 0;
        } catch (err) {
          log?.warn({ err }, 'metrics: queue state failed');
        }
        this.set(value);
      },
    });
  }

  private registerHealthGauge(): void {
    const { control, log } = this.opts;
    new Gauge({
      name: 'tideflow_health_check_up',
      help: 'Health checks of GET /api/health (redis, docker, scheduler, store): 1 up, 0 down.',
      labelNames: ['check'],
      registers: [this.registry],
      async collect() {
        this.reset();
        if (!control) return;
        try {
          for (const [check, result] of Object.entries(await withTimeout(control.health(), 'health checks'))) this.set({ check }, result.status === 'up' ? 1 : 0);
        } catch (err) {
          // No series rather than a guess; the alert rules treat a missing check as down.
          log?.warn({ err }, 'metrics: health checks failed');
        }
      },
    });
  }

  private registerPluginMetrics(): void {
    const { plugins = [], control, log } = this.opts;
    for (const { manifest, plugin } of plugins) {
      const name = manifest.name;
      try {
        for (const spec of manifest.counters ?? []) registerClusterCounter(this.registry, spec, this.readSamples, log);
        for (const spec of manifest.histograms ?? []) registerClusterHistogram(this.registry, spec, this.readSamples);
        plugin.metrics?.({
          registry: this.registry,
          jobs: async () =>
            (await control?.listWorkflows())?.flatMap((w) => w.jobs.filter((j) => j.plugin === name).map((j) => ({ workflow: j.workflow, job: j.job }))) ?? [],
          log: log ?? silentLogger(),
        });
      } catch (err) {
        throw new Error(`metrics of plugin ${name} failed to register: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
