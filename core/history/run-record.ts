/** What started a run: its schedule, a person (API, CLI, dashboard), a predecessor's `then`, a call of its webhook, or a failed run it handles (`onFailure`). */
export type RunTrigger = 'schedule' | 'manual' | 'chain' | 'webhook' | 'failure';

/** `queued`: not started yet; when it waits for a concurrency slot or for the previous run of its job, `waiting` says so.
 * `cancelled`: stopped by a person (POST /api/runs/:id/cancel, `tideflow cancel`) or replaced by a newer fire (overlap "cancel-previous"); its successors never start.
 * `skipped`: a scheduled fire the overlap policy did not run ("skip": a run was still going; "queue": a fire already waited; "cancel-previous": a newer fire replaced it): nothing ran. */
export type RunStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** One run of one job: what the run history stores and the API returns. */
export interface RunRecord {
  id: string;
  workflow: string;
  job: string;
  plugin: string;
  trigger: RunTrigger;
  status: RunStatus;
  attempts: number;
  /** ms since epoch */
  queuedAt: number;
  startedAt?: number;
  finishedAt?: number;
  durationMs?: number;
  error?: string;
  /** Run id of the predecessor when reached through `then`. */
  causedBy?: string;
  /** The host (TIDEFLOW_HOST_NAME or the OS host name) whose worker ran the latest attempt. */
  host?: string;
  /**
   * Attempts whose worker died mid-run (killed, frozen): BullMQ's stalled-job
   * check put the run back in the queue, and a later attempt took it over.
   */
  interrupted?: InterruptedAttempt[];
  /** Set while a queued run (or a retrying one, between attempts) waits before it starts (the record of the run once started has none). */
  waiting?: RunWaiting;
}

/** Why a queued run has not started: a concurrency limit (its job's or its workflow's) or the run before it (overlap "queue" / "cancel-previous"). */
export interface RunWaiting {
  for: 'concurrency' | 'previous-run';
  /** ms since epoch: when it first waited. */
  since: number;
  reason: string;
}

export interface InterruptedAttempt {
  /** The attempt number the lost worker was running. */
  attempt: number;
  /** When the lost attempt started, if it lived long enough to be recorded. */
  startedAt?: number;
  /** When a later attempt found it lost (ms since epoch). */
  detectedAt: number;
  reason: string;
}

export interface RunQuery {
  workflow?: string;
  job?: string;
  status?: RunStatus;
  host?: string;
  limit?: number;
  offset?: number;
}
