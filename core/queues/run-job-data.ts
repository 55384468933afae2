import type { JobsOptions } from 'bullmq';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { jobKey } from './run-ids.js';
import type { LoadedJob } from '../workflow/loaded-workflow.js';

/** The data of every BullMQ job tideflow enqueues (checked when a job is taken: another client may put anything in the queue). */
export const RunJobDataSchema = Type.Object({
  workflow: Type.String({ minLength: 1 }),
  job: Type.String({ minLength: 1 }),
  trigger: Type.Union([Type.Literal('schedule'), Type.Literal('manual'), Type.Literal('chain'), Type.Literal('webhook'), Type.Literal('failure')]),
  input: Type.Optional(Type.Unknown()),
  causedBy: Type.Optional(Type.String()),
  /** Producer of `input` when chained. */
  inputFrom: Type.Optional(Type.Object({ job: Type.String(), plugin: Type.String(), runId: Type.String() })),
  /** Hash of the job definition a scheduler was made from (reconcile compares it). */
  defHash: Type.Optional(Type.String()),
});
export type RunJobData = Static<typeof RunJobDataSchema>;

const checkRunJobData = TypeCompiler.Compile(RunJobDataSchema);

/**
 * Why a BullMQ job is not one tideflow could have enqueued (data shape, or a
 * name other than "<workflow>/<job>"), or undefined when it is well-formed.
 */
export function malformedRunJob(name: string, data: unknown): string | undefined {
  if (!checkRunJobData.Check(data)) {
    const problems = [...checkRunJobData.Errors(data)].slice(0, 3).map((e) => `${e.path || '/'} ${e.message}`);
    return `its data is not a tideflow run (${problems.join('; ')})`;
  }
  if (name !== jobKey(data.workflow, data.job)) return `its name "${name}" is not "${jobKey(data.workflow, data.job)}"`;
  return undefined;
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
