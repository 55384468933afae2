/**
 * Where the cluster-wide metrics live: counters and histograms that every
 * process running jobs (the engine and all workers, on every host) adds to,
 * and that the process serving /metrics reads at scrape time.
 *
 * A metric is stored as Prometheus exposes it: one value per sample name
 * and label set (`tideflow_runs_total{workflow,tideflow_job,status}`; a
 * histogram's `_bucket` with `le`, `_sum`, `_count`).
 */

/** Adds `by` to one sample of a metric. */
export interface SampleIncrement {
  /** The sample name as exposed, e.g. `tideflow_runs_total` or `tideflow_run_duration_seconds_bucket`. */
  sample: string;
  labels: Readonly<Record<string, string>>;
  by: number;
}

/** One stored sample: a label set and its value. */
export interface StoredSample {
  labels: Record<string, string>;
  value: number;
}

/** The run event whose increments are recorded: each is recorded at most once. */
export interface RunEventId {
  runId: string;
  /** The attempt number (a worker that died mid-run leaves the attempt to its successor: same number). */
  attempt: number;
  /** `skipped` and `waited`: a fire the overlap policy did not run, a run's first wait for its turn (attempt 0 / the attempts made). */
  event: 'started' | 'finished' | 'skipped' | 'waited';
}

/** One run event to record: which one, and what it adds. */
export interface EventIncrements {
  event: RunEventId;
  increments: readonly SampleIncrement[];
}

/** What /metrics reads: the events are counted with the run records that carry them (RunLedger). */
export interface ClusterMetricStore {
  /** Every stored label set of one sample name with its value. */
  read(sample: string): Promise<StoredSample[]>;
}

/** The keys of frozen label sets (the engine's, reused by every run): computed once each. */
const frozenKeys = new WeakMap<object, string>();

/** A label set as a stable string (the store's hash field): JSON of its [name, value] pairs sorted by name, so any value round-trips. */
export function labelSetKey(labels: Readonly<Record<string, string>>): string {
  const frozen = Object.isFrozen(labels);
  let key = frozen ? frozenKeys.get(labels) : undefined;
  if (key === undefined) {
    key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (frozen) frozenKeys.set(labels, key);
  }
  return key;
}
