/**
 * The id BullMQ gives each job a job scheduler produces:
 * `repeat:<scheduler id>:<fire time in ms>`. It is BullMQ's internal format,
 * not an API; this module is the one place tideflow knows it. It mirrors
 * BullMQ 6 (checked against 6.7.0): `JobScheduler.getSchedulerNextJobId` in
 * src/classes/job-scheduler.ts (dist/esm/classes/job-scheduler.js), and the
 * same string built in the Lua scripts (addJobScheduler, updateJobScheduler,
 * removeJobScheduler). test/integration/scheduler-job-id.test.ts reads the ids
 * a real scheduler makes, so a BullMQ upgrade that changes them fails there.
 */
const PREFIX = 'repeat:';

/** The id of the job `schedulerId` fires at `millis`. */
export function schedulerJobId(schedulerId: string, millis: number): string {
  return `${PREFIX}${schedulerId}:${millis}`;
}

/** The scheduler and fire time of a scheduler's job id; undefined for any other job id. */
export function parseSchedulerJobId(jobId: string): { schedulerId: string; millis: number } | undefined {
  if (!jobId.startsWith(PREFIX)) return undefined;
  const i = jobId.lastIndexOf(':');
  const millis = jobId.slice(i + 1);
  if (i < PREFIX.length || !/^\d+$/.test(millis)) return undefined;
  return { schedulerId: jobId.slice(PREFIX.length, i), millis: Number(millis) };
}
