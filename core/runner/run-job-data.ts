import type { JobsOptions } from 'bullmq';
import type { RunTrigger } from '../plugin/plugin.js';
import type { LoadedJob } from '../workflow/loaded-workflow.js';

/** The data of every BullMQ job tideflow enqueues. */
export interface RunJobData {
  workflow: string;
  job: string;
  trigger: RunTrigger;
  input?: unknown;
  causedBy?: string;
  /** Producer of `input` when chained. */
  inputFrom?: { job: string; plugin: string; runId: string };
  /** Hash of the job definition a scheduler was made from (reconcile compares it). */
  defHash?: string;
}

/** Completed jobs are kept a day so a duplicated chain enqueue (same job id) is a no-op. */
const KEEP_COMPLETED = { age: 86_400, count: 5_000 };
const KEEP_FAILED = { age: 7 * 86_400, count: 5_000 };
/** Log lines kept per BullMQ job (what a run logged, shown by Bull Board): the newest ones. */
const KEEP_LOG_LINES = 200;

/** BullMQ options for one run of `job`: its retry policy and bounded retention. */
export function runJobOptions(job: LoadedJob): JobsOptions {
  return {
    attempts: job.retry.attempts,
    backoff: { type: job.retry.backoff, delay: job.retry.delayMs },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
    keepLogs: KEEP_LOG_LINES,
  };
}
