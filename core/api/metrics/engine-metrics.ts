import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunEvent, RunEventSource } from '../../control/engine-events.js';
import type { RunRecord } from '../../history/run-record.js';
import type { Logger } from '../../logging/logger.js';

export interface EngineMetricsOptions {
  /** Runner events to count; without it only queue and process metrics are shown. */
  events?: RunEventSource;
  /** Job counts by state (waiting, active, delayed, failed, completed, paused...) read at scrape time. */
  queueCounts?: () => Promise<Record<string, number>>;
  /** Registry to use; a new private one by default (never prom-client's global registry). */
  registry?: Registry;
  log?: Logger;
}

const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const ANALYZER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** How many recent outputs are remembered to avoid counting one output twice. */
const SEEN_OUTPUTS = 2000;

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v ? v : fallback);

function runSeconds(run: RunRecord): number | undefined {
  if (typeof run.durationMs === 'number' && Number.isFinite(run.durationMs)) return run.durationMs / 1000;
  if (typeof run.startedAt === 'number' && typeof run.finishedAt === 'number') return (run.finishedAt - run.startedAt) / 1000;
  return undefined;
}

/**
 * Prometheus metrics of the engine, derived from run events:
 *
 * - tideflow_runs_started_total{workflow,job}: attempts started
 * - tideflow_runs_total{workflow,job,status}: finished attempts; status is
 *   succeeded, failed (final) or retrying (failed, will be retried)
 * - tideflow_run_duration_seconds{workflow,job,status}: histogram
 * - tideflow_containers_spawned_total{workflow,class}: from spawner outputs (kind "spawn")
 * - tideflow_containers_killed_total{workflow,class}: analyzer outputs (kind "analysis"),
 *   decision "killed", not a dry run, kill succeeded
 * - tideflow_container_kill_errors_total{workflow,class}: kills that failed
 * - tideflow_analyzer_duration_seconds{workflow}: AnalysisResult.durationMs
 * - tideflow_queue_jobs{state}: from the queueCounts callback at scrape time
 * - process_* and nodejs_*: prom-client default metrics on this registry
 */
export class EngineMetrics {
  readonly registry: Registry;
  private readonly runsStarted: Counter<'workflow' | 'job'>;
  private readonly runs: Counter<'workflow' | 'job' | 'status'>;
  private readonly runDuration: Histogram<'workflow' | 'job' | 'status'>;
  private readonly spawned: Counter<'workflow' | 'class'>;
  private readonly killed: Counter<'workflow' | 'class'>;
  private readonly killErrors: Counter<'workflow' | 'class'>;
  private readonly analyzerDuration: Histogram<'workflow'>;
  private readonly seen = new Set<string>();
  private readonly listener = (e: RunEvent) => this.observe(e);

  constructor(private readonly opts: EngineMetricsOptions = {}) {
    const registry = opts.registry ?? new Registry();
    this.registry = registry;
    if (!registry.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics({ register: registry });

    this.runsStarted = new Counter({
      name: 'tideflow_runs_started_total',
      help: 'Job run attempts started, by workflow and job.',
      labelNames: ['workflow', 'job'],
      registers: [registry],
    });
    this.runs = new Counter({
      name: 'tideflow_runs_total',
      help: 'Finished job run attempts by workflow, job and status (succeeded, failed, retrying).',
      labelNames: ['workflow', 'job', 'status'],
      registers: [registry],
    });
    this.runDuration = new Histogram({
      name: 'tideflow_run_duration_seconds',
      help: 'Duration of finished job runs in seconds.',
      labelNames: ['workflow', 'job', 'status'],
      buckets: RUN_BUCKETS,
      registers: [registry],
    });
    this.spawned = new Counter({
      name: 'tideflow_containers_spawned_total',
      help: 'Containers created by the spawner, by workflow and class.',
      labelNames: ['workflow', 'class'],
      registers: [registry],
    });
    this.killed = new Counter({
      name: 'tideflow_containers_killed_total',
      help: 'Containers killed by the analyzer, by workflow and class.',
      labelNames: ['workflow', 'class'],
      registers: [registry],
    });
    this.killErrors = new Counter({
      name: 'tideflow_container_kill_errors_total',
      help: 'Kills decided by the analyzer that failed, by workflow and class.',
      labelNames: ['workflow', 'class'],
      registers: [registry],
    });
    this.analyzerDuration = new Histogram({
      name: 'tideflow_analyzer_duration_seconds',
      help: 'Duration of one analysis (sample, decide, kill) in seconds.',
      labelNames: ['workflow'],
      buckets: ANALYZER_BUCKETS,
      registers: [registry],
    });
    const queueCounts = opts.queueCounts;
    const log = opts.log;
    new Gauge({
      name: 'tideflow_queue_jobs',
      help: 'Jobs in the engine queue by state, read at scrape time.',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        this.reset();
        if (!queueCounts) return;
        try {
          const counts = await queueCounts();
          for (const [state, n] of Object.entries(counts)) {
            if (typeof n === 'number' && Number.isFinite(n)) this.set({ state }, n);
          }
        } catch (err) {
          log?.warn({ err }, 'metrics: queue counts failed');
        }
      },
    });

    opts.events?.on('run', this.listener);
  }

  /** Stops listening to run events. */
  close(): void {
    this.opts.events?.off('run', this.listener);
  }

  /** Prometheus text exposition of every metric of the registry. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  observe(e: RunEvent): void {
    try {
      const { workflow, job } = e.run;
      if (e.type === 'started') {
        this.runsStarted.inc({ workflow, job });
        return;
      }
      const status = e.type === 'succeeded' ? 'succeeded' : e.willRetry ? 'retrying' : 'failed';
      this.runs.inc({ workflow, job, status });
      const secs = runSeconds(e.run);
      if (secs !== undefined && secs >= 0) this.runDuration.observe({ workflow, job, status }, secs);
      if (e.type === 'succeeded') this.observeOutput(e.output, e.run);
    } catch (err) {
      this.opts.log?.warn({ err }, 'metrics: could not count a run event');
    }
  }

  /** Counts a spawn or analysis result once, whichever job carried it (then-chains pass outputs on). */
  private firstSight(kind: string, runId: string): boolean {
    const key = `${kind}:${runId}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > SEEN_OUTPUTS) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  private observeOutput(output: unknown, run: RunRecord): void {
    if (!isRec(output)) return;
    const workflow = str(output.workflow, run.workflow);
    const runId = str(output.runId, run.id);
    if (output.kind === 'spawn' && Array.isArray(output.created)) {
      if (!this.firstSight('spawn', runId)) return;
      for (const c of output.created) {
        if (isRec(c)) this.spawned.inc({ workflow, class: str(c.class, 'unknown') });
      }
    } else if (output.kind === 'analysis' && Array.isArray(output.containers)) {
      if (!this.firstSight('analysis', runId)) return;
      if (typeof output.durationMs === 'number' && output.durationMs >= 0) {
        this.analyzerDuration.observe({ workflow }, output.durationMs / 1000);
      }
      if (output.dryRun === true) return;
      for (const c of output.containers) {
        if (!isRec(c) || c.decision !== 'killed') continue;
        const labels = { workflow, class: str(c.class, 'unknown') };
        if (typeof c.killError === 'string' && c.killError) this.killErrors.inc(labels);
        else this.killed.inc(labels);
      }
    }
  }
}
