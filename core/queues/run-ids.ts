import { createHash, randomUUID } from 'node:crypto';
import { parseSchedulerJobId } from './scheduler-job-id.js';

/**
 * Run ids are URL-safe and readable: `<workflow>.<job>.<suffix>`. Workflow and
 * job names cannot contain dots, so the parts are unambiguous.
 *
 * - scheduled fire: the fire time in ms, taken from BullMQ's deterministic
 *   scheduler job id (scheduler-job-id.ts), so a duplicated fire
 *   gets the same id and is run once;
 * - manual trigger: `m-` + random;
 * - chained successor: `c-` + a hash of the predecessor run id, so a retried
 *   predecessor never enqueues its successor twice.
 */
export const RUN_QUEUE = 'runs';

export function jobKey(workflow: string, job: string): string {
  return `${workflow}/${job}`;
}

export function schedulerId(workflow: string, job: string): string {
  return jobKey(workflow, job);
}

export function parseSchedulerId(id: string): { workflow: string; job: string } | undefined {
  const i = id.indexOf('/');
  if (i <= 0) return undefined;
  return { workflow: id.slice(0, i), job: id.slice(i + 1) };
}

export function scheduledRunId(workflow: string, job: string, bullJobId: string): string {
  const fire = parseSchedulerJobId(bullJobId);
  return `${workflow}.${job}.${fire ? fire.millis : bullJobId.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
}

export function manualRunId(workflow: string, job: string): string {
  return `${workflow}.${job}.m-${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/** A failure handler's run for one failed run: the same id however often the failure is reported, so it runs once. */
export function failureRunId(workflow: string, job: string, failedRunId: string): string {
  const h = createHash('sha256').update(`${failedRunId}!${job}`).digest('hex').slice(0, 16);
  return `${workflow}.${job}.f-${h}`;
}

export function chainedRunId(workflow: string, job: string, predecessorRunId: string): string {
  const h = createHash('sha256').update(`${predecessorRunId}>${job}`).digest('hex').slice(0, 16);
  return `${workflow}.${job}.c-${h}`;
}
