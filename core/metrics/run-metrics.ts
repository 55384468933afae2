import type { RunEvent } from '../control/engine-events.js';
import type { RunRecord } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';
import type { ClusterCounterSpec, ClusterHistogramSpec, PluginManifest, RunCount, TideflowPlugin } from '../plugin/plugin.js';
import { errorMessage } from '../util/error-message.js';
import type { EventIncrements, SampleIncrement } from './cluster-metric-store.js';

/**
 * The label naming a workflow's job. Not `job`: Prometheus reserves `job` for
 * the scrape job and renames a target's own `job` label to `exported_job`.
 */
export const JOB_LABEL = 'tideflow_job';

/** Attempts started (the engine's own cluster-wide counter). */
export const RUNS_STARTED = {
  name: 'tideflow_runs_started_total',
  help: 'Job run attempts started, by workflow and job.',
  labelNames: ['workflow', JOB_LABEL],
} as const satisfies ClusterCounterSpec;

/** Attempts finished, by status. */
export const RUNS_FINISHED = {
  name: 'tideflow_runs_total',
  help: 'Finished job run attempts by workflow, job and status (succeeded, failed, retrying, cancelled).',
  labelNames: ['workflow', JOB_LABEL, 'status'],
} as const satisfies ClusterCounterSpec;

/** Duration of finished attempts. */
export const RUN_DURATION = {
  name: 'tideflow_run_duration_seconds',
  help: 'Duration of finished job runs in seconds.',
  labelNames: ['workflow', JOB_LABEL, 'status'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
} as const satisfies ClusterHistogramSpec;

/** Scheduled fires the overlap policy did not run (recorded with status skipped). */
export const FIRES_SKIPPED = {
  name: 'tideflow_fires_skipped_total',
  help: 'Scheduled fires recorded skipped, by workflow and job: not run by the overlap policy (a run of the job was still going, a fire already waited, or a newer fire replaced it), or dropped while waiting (the job paused or removed).',
  labelNames: ['workflow', JOB_LABEL],
} as const satisfies ClusterCounterSpec;

/** Runs that had to wait for their turn, counted once per run (and per retry that waits). */
export const RUN_WAITS = {
  name: 'tideflow_run_waits_total',
  help: 'Runs that waited before starting, by workflow, job and what they waited for (concurrency: a concurrency limit; previous-run: overlap "queue" or "cancel-previous").',
  labelNames: ['workflow', JOB_LABEL, 'for'],
} as const satisfies ClusterCounterSpec;

/** The engine's own cluster-wide metrics: what every run counts, whatever its plugin. */
export const ENGINE_COUNTERS: readonly ClusterCounterSpec[] = [RUNS_STARTED, RUNS_FINISHED, FIRES_SKIPPED, RUN_WAITS];
export const ENGINE_HISTOGRAMS: readonly ClusterHistogramSpec[] = [RUN_DURATION];

/** A histogram bucket's `le` label as Prometheus writes it. */
export function bucketLabel(bound: number): string {
  return bound === Number.POSITIVE_INFINITY ? '+Inf' : String(bound);
}

/**
 * The sample holding a histogram's per-bucket counts as stored: observations
 * in each bucket's own range (above the bound before it), not cumulative, so
 * an observation adds to one bucket however many bounds it is under. /metrics
 * adds them up into Prometheus's cumulative `_bucket` series.
 */
export function binSample(histogram: string): string {
  return `${histogram}_bin`;
}

/** The smallest bound a value is under (bounds are declared increasing; not relied on); undefined above them all. */
function bucketBound(spec: ClusterHistogramSpec, value: number): number | undefined {
  let bound: number | undefined;
  for (const b of spec.buckets) if (value <= b && (bound === undefined || b < bound)) bound = b;
  return bound;
}

/**
 * One observation as increments of the stored samples: its own bucket (none
 * above the last bound: `+Inf` is the count), `_sum`, `_count`.
 */
export function observationIncrements(spec: ClusterHistogramSpec, labels: Readonly<Record<string, string>>, value: number): SampleIncrement[] {
  const out: SampleIncrement[] = [];
  const bound = bucketBound(spec, value);
  if (bound !== undefined) out.push({ sample: binSample(spec.name), labels: { ...labels, le: bucketLabel(bound) }, by: 1 });
  out.push({ sample: `${spec.name}_sum`, labels, by: value }, { sample: `${spec.name}_count`, labels, by: 1 });
  return out;
}

/** The engine's increments of one job and status that never change, made once. */
interface StatusIncrements {
  labels: Readonly<Record<string, string>>;
  finished: SampleIncrement;
  count: SampleIncrement;
  /** The duration bucket's increment, by bound. */
  bins: Map<number, SampleIncrement>;
}

interface JobIncrements {
  started: SampleIncrement;
  byStatus: Map<string, StatusIncrements>;
}

/**
 * Every run counts the same few label sets of its job: made once and frozen,
 * so their stored form (labelSetKey) is computed once too. Bounded: a
 * cluster has few jobs, but names come and go with workflow edits.
 */
const engineIncrements = new Map<string, Map<string, JobIncrements>>();
const ENGINE_INCREMENTS_MAX_WORKFLOWS = 1_000;

function jobIncrements(workflow: string, job: string): JobIncrements {
  let jobs = engineIncrements.get(workflow);
  if (!jobs) {
    if (engineIncrements.size >= ENGINE_INCREMENTS_MAX_WORKFLOWS) engineIncrements.clear();
    engineIncrements.set(workflow, (jobs = new Map()));
  }
  let out = jobs.get(job);
  if (!out) {
    if (jobs.size >= ENGINE_INCREMENTS_MAX_WORKFLOWS) jobs.clear();
    const labels = Object.freeze({ workflow, [JOB_LABEL]: job });
    jobs.set(job, (out = { started: Object.freeze({ sample: RUNS_STARTED.name, labels, by: 1 }), byStatus: new Map() }));
  }
  return out;
}

function statusIncrements(job: JobIncrements, status: string): StatusIncrements {
  let out = job.byStatus.get(status);
  if (!out) {
    const labels = Object.freeze({ ...job.started.labels, status });
    out = {
      labels,
      finished: Object.freeze({ sample: RUNS_FINISHED.name, labels, by: 1 }),
      count: Object.freeze({ sample: `${RUN_DURATION.name}_count`, labels, by: 1 }),
      bins: new Map(),
    };
    job.byStatus.set(status, out);
  }
  return out;
}

const RUN_DURATION_SUM = `${RUN_DURATION.name}_sum`;

function binIncrement(s: StatusIncrements, bound: number): SampleIncrement {
  let out = s.bins.get(bound);
  if (!out) s.bins.set(bound, (out = Object.freeze({ sample: binSample(RUN_DURATION.name), labels: Object.freeze({ ...s.labels, le: bucketLabel(bound) }), by: 1 })));
  return out;
}

function runSeconds(run: RunRecord): number | undefined {
  if (typeof run.durationMs === 'number' && Number.isFinite(run.durationMs)) return run.durationMs / 1000;
  if (typeof run.startedAt === 'number' && typeof run.finishedAt === 'number') return (run.finishedAt - run.startedAt) / 1000;
  return undefined;
}

/** What a run event adds to the engine's own metrics (a new array: the caller may add to it). */
export function engineRunIncrements(e: RunEvent): SampleIncrement[] {
  const job = jobIncrements(e.run.workflow, e.run.job);
  if (e.type === 'started') return [job.started];
  const s = statusIncrements(job, e.type === 'succeeded' ? 'succeeded' : e.run.status === 'cancelled' ? 'cancelled' : e.willRetry ? 'retrying' : 'failed');
  const out: SampleIncrement[] = [s.finished];
  const secs = runSeconds(e.run);
  if (secs !== undefined && secs >= 0) {
    const bound = bucketBound(RUN_DURATION, secs);
    if (bound !== undefined) out.push(binIncrement(s, bound));
    out.push({ sample: RUN_DURATION_SUM, labels: s.labels, by: secs }, s.count);
  }
  return out;
}

/** What a skipped fire or a run's first wait adds: counted once per (run, attempts made, kind). */
export function fireIncrements(run: RunRecord, kind: 'skipped' | 'waited', waitedFor?: string): EventIncrements {
  const labels = { workflow: run.workflow, [JOB_LABEL]: run.job };
  const increment: SampleIncrement =
    kind === 'skipped' ? { sample: FIRES_SKIPPED.name, labels, by: 1 } : { sample: RUN_WAITS.name, labels: { ...labels, for: waitedFor ?? 'unknown' }, by: 1 };
  return { event: { runId: run.id, attempt: run.attempts, event: kind }, increments: [increment] };
}

/** Why a count does not fit the metric it names; undefined when it fits. */
function misfit(count: RunCount, spec: ClusterCounterSpec | ClusterHistogramSpec | undefined): string | undefined {
  const metric = 'counter' in count ? `counter ${count.counter}` : `histogram ${count.histogram}`;
  if (!spec) return `${metric} is not declared in the manifest`;
  const names = Object.keys(count.labels);
  const missing = spec.labelNames.filter((n) => !names.includes(n));
  const extra = names.filter((n) => !spec.labelNames.includes(n));
  if (missing.length || extra.length) return `${metric} takes labels ${spec.labelNames.join(', ')}${missing.length ? `; missing ${missing.join(', ')}` : ''}${extra.length ? `; unknown ${extra.join(', ')}` : ''}`;
  if (Object.values(count.labels).some((v) => typeof v !== 'string')) return `${metric}: label values must be strings`;
  const value = 'counter' in count ? (count.value ?? 1) : count.value;
  if (typeof value !== 'number' || !Number.isFinite(value) || ('counter' in count && value < 0)) return `${metric} cannot take ${String(value)}`;
  return undefined;
}

/** The plugin that ran a run, as far as its counts go. */
export interface CountingPlugin {
  manifest: Pick<PluginManifest, 'name' | 'counters' | 'histograms'>;
  plugin: Pick<TideflowPlugin, 'countRun'>;
}

/**
 * What each run event adds to the cluster-wide metrics: the engine's run
 * counters and duration, and on success the counts of the plugin that ran
 * it (`countRun`). The runner's ledger counts them with the run's record,
 * once per (run, attempt, event).
 */
export class RunIncrements {
  constructor(private readonly log: Logger) {}

  /**
   * What a run event adds, as the ledger counts it: the engine's counts and,
   * on success, the plugin's (a count that does not fit is dropped with a warning).
   */
  eventIncrements(e: RunEvent, from?: CountingPlugin): EventIncrements {
    const increments = engineRunIncrements(e);
    if (e.type === 'succeeded' && from) increments.push(...this.pluginIncrements(from, e.output, e.run));
    return { event: { runId: e.run.id, attempt: e.run.attempts, event: e.type === 'started' ? 'started' : 'finished' }, increments };
  }

  private pluginIncrements(from: CountingPlugin, output: unknown, run: RunRecord): SampleIncrement[] {
    const { manifest, plugin } = from;
    if (!plugin.countRun) return [];
    let counts: RunCount[];
    try {
      counts = plugin.countRun(output, run);
    } catch (err) {
      this.log.warn({ err: errorMessage(err), plugin: manifest.name, run: run.id }, 'metrics: a plugin could not count a run');
      return [];
    }
    const out: SampleIncrement[] = [];
    const drop = (problem: string) => this.log.warn({ plugin: manifest.name, run: run.id }, `metrics: a count of plugin ${manifest.name} dropped: ${problem}`);
    for (const count of counts) {
      if ('counter' in count) {
        const spec = manifest.counters?.find((c) => c.name === count.counter);
        const problem = misfit(count, spec);
        if (problem) drop(problem);
        else out.push({ sample: count.counter, labels: count.labels, by: count.value ?? 1 });
      } else {
        const spec = manifest.histograms?.find((h) => h.name === count.histogram);
        const problem = misfit(count, spec);
        if (problem || !spec) drop(problem ?? 'undeclared');
        else out.push(...observationIncrements(spec, count.labels, count.value));
      }
    }
    return out;
  }
}
