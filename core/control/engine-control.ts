import type { HealthCheck } from '../health/health-check.js';
import type { RunQuery, RunRecord } from '../history/run-record.js';
import type { RunAttempt, RunIo } from '../history/run-details.js';
import type { RunLogs } from '../history/run-logs.js';
import type { WebhookSettings } from '../workflow/workflow-schema.js';
import type { OverlapPolicy } from '../workflow/loaded-workflow.js';

export interface JobTriggerInfo {
  every?: string;
  cron?: string;
  timezone?: string;
  manual?: boolean;
  /** POST /hooks/<workflow>/<job> triggers it. */
  webhook?: boolean;
  /** Reached through another job's `then`. */
  chainedFrom?: string[];
}

export interface JobStatus {
  workflow: string;
  job: string;
  plugin: string;
  trigger: JobTriggerInfo;
  /** Effective state: paused when the job, its workflow or everything is paused. */
  state: 'active' | 'paused';
  pausedBy?: 'job' | 'workflow' | 'global';
  /** ms since epoch, null when the job has no schedule or is paused. */
  nextRunAt: number | null;
  lastRun: RunRecord | null;
  /** The route (queue) it runs on. */
  route: string;
  /** Live worker processes serving that route, on all hosts. */
  routeWorkers: number;
  /** Set when its runs wait: no live worker serves its route. */
  waiting?: string;
  /** What a scheduled fire does while a run of the job goes (scheduled jobs only). */
  overlap?: OverlapPolicy;
  /** At most this many runs of the job at once, when limited. */
  concurrency?: number;
  /** Jobs run after it succeeds (its `then`): the workflow graph's solid edges. */
  then: string[];
  /** Jobs run once when a run of it has failed for good (its `onFailure`): the graph's dashed edges. */
  onFailure: string[];
}

export interface WorkflowStatus {
  name: string;
  file: string;
  state: 'active' | 'paused';
  jobs: JobStatus[];
  /** At most this many runs of all its jobs at once, when limited. */
  concurrency?: number;
  /** The last load error of its file, when a broken edit keeps the previous definition. */
  error?: string;
}


export type PauseTarget = { workflow?: undefined; job?: undefined } | { workflow: string; job?: string };

/** Thrown for a request the current state refuses, e.g. cancelling a finished run (HTTP 409, CLI exit 1). */
export class ConflictError extends Error {
  readonly statusCode = 409;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Thrown for an unknown workflow or job (HTTP 404, CLI exit 1). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/**
 * What the admin API and the CLI may do to a running engine. The engine
 * implements it over Redis, so any process sharing the Redis sees the same.
 */
export interface EngineControl {
  listWorkflows(): Promise<WorkflowStatus[]>;
  /** Throws NotFoundError. */
  getWorkflow(name: string): Promise<WorkflowStatus>;
  /** Enqueues a manual run (even when paused). Throws NotFoundError. */
  trigger(workflow: string, job: string, input?: unknown): Promise<{ runId: string }>;
  /** A job's webhook settings and whether it is paused; NotFoundError when the job does not exist or has no webhook. */
  webhookOf(workflow: string, job: string): Promise<{ webhook: WebhookSettings; paused: boolean }>;
  /** Enqueues a run triggered by the job's webhook, its body the input (refused while paused: the caller checks webhookOf). */
  triggerByWebhook(workflow: string, job: string, input: unknown): Promise<{ runId: string }>;
  /** No target: everything. Throws NotFoundError. */
  pause(target: PauseTarget): Promise<void>;
  resume(target: PauseTarget): Promise<void>;
  listRuns(query: RunQuery): Promise<{ runs: RunRecord[]; total: number }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** What a run logged through `ctx.log` (the newest lines, every attempt); undefined for an unknown run. */
  getRunLogs(id: string): Promise<RunLogs | undefined>;
  /** A run's capped input and output, and its attempts; undefined for an unknown run. */
  getRunDetails(id: string): Promise<{ io: RunIo; attempts: RunAttempt[] } | undefined>;
  /**
   * Cancels a run: a queued one is removed (status `cancelled` at once); a
   * running one gets its AbortSignal and ends `cancelled` (status
   * `cancelling` until then); its successors never start. NotFoundError;
   * ConflictError when it has already finished.
   */
  cancel(runId: string): Promise<{ runId: string; status: 'cancelled' | 'cancelling' }>;
  /** The engine's checks (redis, scheduler) and the plugins' and their services' (docker, store with the built-ins). */
  health(): Promise<Record<string, HealthCheck>>;
}
