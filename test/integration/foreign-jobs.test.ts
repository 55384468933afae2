import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { RUN_QUEUE } from '../../core/queues/run-ids.js';
import { deletePrefix, testRedis, testRedisUrl } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const WF = `foreign${Date.now().toString(36)}`;
const key = `rec:${Date.now()}:foreign`;
let engine: Engine;
let prefix: string;
let queue: Queue;

beforeAll(async () => {
  const started = await startTestEngine({
    workflows: { 'w.json': { name: WF, jobs: { t: { plugin: 'record', manual: true, config: { key } } } } },
  });
  engine = started.engine;
  prefix = started.prefix;
  // Another BullMQ client on the same queue: not tideflow's code.
  queue = new Queue(RUN_QUEUE, { connection: { url: testRedisUrl() }, prefix });
});

afterAll(async () => {
  await queue.close();
  await engine.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('jobs put into the queue by another client', () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    ['no data at all', 'whatever', {}, /malformed job .*not a tideflow run.*\/workflow/],
    ['wrong types', `${WF}/t`, { workflow: WF, job: 7, trigger: 'manual' }, /malformed job .*\/job/],
    ['an unknown trigger', `${WF}/t`, { workflow: WF, job: 't', trigger: 'cron' }, /malformed job .*\/trigger/],
    ['a name that is not <workflow>/<job>', 'other/name', { workflow: WF, job: 't', trigger: 'manual' }, /name "other\/name" is not/],
    ['a job no workflow defines', `${WF}/nope`, { workflow: WF, job: 'nope', trigger: 'manual' }, /no job .*\/nope is defined/],
  ];

  it.each(cases)('%s: failed with the reason, not completed, and nothing runs', async (_what, name, data, reason) => {
    const job = await queue.add(name, data, { attempts: 3 });
      const failed = await waitFor(async () => {
        const state = await job.getState();
        if (state === 'completed') throw new Error(`completed: ${JSON.stringify((await queue.getJob(job.id!))?.returnvalue)}`);
        return state === 'failed' ? queue.getJob(job.id!) : undefined;
      }, 'the foreign job to fail');
      expect(failed.failedReason).toMatch(reason);
      expect(failed.attemptsMade).toBe(1); // not retried: retrying cannot make it well-formed
      expect(await readRecorded(redis, key)).toEqual([]);
  });

  it("tideflow's own manual run still runs", async () => {
    const { runId } = await engine.engineControl.trigger(WF, 't', { ok: true });
    await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.runId === runId), 'the manual run');
  });
});
