import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { schedulerId, scheduledRunId } from '../../core/queues/run-ids.js';
import { parseSchedulerJobId, schedulerJobId } from '../../core/queues/scheduler-job-id.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';

const redis = testRedis();
const prefix = uniquePrefix('scheduler-job-id');
const queue = new Queue('runs', { connection: { url: testRedisUrl() }, prefix });

afterAll(async () => {
  await queue.close();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

/** The job a real BullMQ scheduler made for its next fire (waiting: an `every` one fires at once; else delayed), and that fire time. */
async function scheduledJob(id: string, repeat: { every: number } | { pattern: string; tz: string }) {
  await queue.upsertJobScheduler(id, repeat, { name: id, data: {} });
  const next = (await queue.getJobScheduler(id))?.next;
  const jobs = (await queue.getJobs(['wait', 'delayed'])).filter((j) => j.repeatJobKey === id);
  expect(jobs).toHaveLength(1);
  return { jobId: jobs[0]!.id!, next: next! };
}

// The format is BullMQ's internal one (scheduler-job-id.ts): this reads the ids BullMQ really makes.
describe('BullMQ job scheduler job ids (real BullMQ, real Redis)', () => {
  it.each([
    ['every', { every: 60_000 }],
    ['cron', { pattern: '*/5 * * * *', tz: 'UTC' }],
  ] as const)('%s scheduler: its job id is parsed to the scheduler id and its next fire time, and built back', async (kind, repeat) => {
    const id = schedulerId('wf', `job-${kind}`);
    const { jobId, next } = await scheduledJob(id, repeat);
    expect(next).toBeGreaterThan(Date.now() - 60_000);
    expect(parseSchedulerJobId(jobId)).toEqual({ schedulerId: id, millis: next });
    expect(schedulerJobId(id, next)).toBe(jobId);
    expect(['waiting', 'delayed']).toContain(await queue.getJobState(schedulerJobId(id, next)));
    expect(scheduledRunId('wf', `job-${kind}`, jobId)).toBe(`wf.job-${kind}.${next}`);
  });

  it('any other job id is not a scheduler job id', async () => {
    const job = await queue.add('manual', {}, { jobId: 'wf.job.m-0123456789abcdef' });
    expect(parseSchedulerJobId(job.id!)).toBeUndefined();
    expect(parseSchedulerJobId((await queue.add('auto', {})).id!)).toBeUndefined();
  });
});
