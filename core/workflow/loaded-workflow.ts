import type { JobDefinition, WebhookSettings } from './workflow-schema.js';

export type OverlapPolicy = NonNullable<JobDefinition['overlap']>;

/** The route of jobs that name none: served by `tideflow start` and by plain `tideflow worker`. */
export const DEFAULT_ROUTE = 'default';

/** A workflow after loading: validated, defaults applied, durations in ms. */
export interface LoadedJob {
  name: string;
  plugin: string;
  trigger: {
    everyMs?: number;
    every?: string;
    cron?: string;
    timezone?: string;
    manual: boolean;
    /** POST /hooks/<workflow>/<job> triggers it (defaults applied). */
    webhook?: WebhookSettings;
  };
  /** What a scheduled fire does while a run of this job is going: skip it (default), run alongside, run after it (one waits at most), or cancel it and run. */
  overlap: OverlapPolicy;
  /** At most this many runs of this job at once (any trigger, every process); absent: no limit. */
  concurrency?: number;
  /** The plugin config, validated, with the plugin schema's defaults applied. */
  config: unknown;
  retry: { attempts: number; backoff: 'fixed' | 'exponential'; delayMs: number };
  timeoutMs?: number;
  then: string[];
  /** Jobs run once when a run of this job has failed for good, the failed run as their input. */
  onFailure: string[];
  /** The route (queue) it runs on: its own runsOn, else the workflow's, else DEFAULT_ROUTE. */
  route: string;
  /** Jobs whose `then` names this one. */
  predecessors: string[];
}

export interface LoadedWorkflow {
  name: string;
  /** Path of the file it came from, as given to the loader. */
  file: string;
  description?: string;
  /** The workflow-level route, as written (each job's `route` is what counts). */
  runsOn?: string;
  /** At most this many runs of all its jobs at once (every process); absent: no limit. */
  concurrency?: number;
  jobs: Record<string, LoadedJob>;
}

/** A job's route; definitions published by an engine older than routes have none. */
export function routeOf(job: Pick<LoadedJob, 'route'>): string {
  return job.route ?? DEFAULT_ROUTE;
}

export function isScheduled(job: LoadedJob): boolean {
  return job.trigger.everyMs !== undefined || job.trigger.cron !== undefined;
}
