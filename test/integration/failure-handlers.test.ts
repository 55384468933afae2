import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const key = `rec:${Date.now()}:failures`;
let engine: Engine;
let prefix: string;

afterAll(async () => {
  await engine?.stop();
  if (prefix) await deletePrefix(redis, prefix);
  await redis.quit();
});

const retry = { attempts: 3, backoff: 'fixed', delay: '1s' };

describe('failure handlers (onFailure, real engine)', () => {
  it('run once when a run has failed for good, with the failed run as input; a failing handler starts no handler', async () => {
    ({ engine, prefix } = await startTestEngine({
      workflows: {
        'f.json': {
          name: 'fails',
          jobs: {
            // Fails 2 attempts then succeeds: never failed for good, no handler runs.
            recovers: { plugin: 'record', manual: true, config: { key, failTimes: 2 }, retry, onFailure: ['notify'] },
            // Fails every attempt: the handler runs once, after the third.
            broken: { plugin: 'record', manual: true, config: { key, failTimes: 99 }, retry, onFailure: ['notify', 'page'] },
            notify: { plugin: 'record', config: { key, output: 'notified' } },
            // A handler that fails for good: its own onFailure is not followed (no loop, no cascade).
            page: { plugin: 'record', config: { key, failTimes: 99, nonRetryable: true }, onFailure: ['notify'] },
          },
        },
      },
    }));
    const recovered = await engine.engineControl.trigger('fails', 'recovers', { n: 1 });
    const broken = await engine.engineControl.trigger('fails', 'broken', { n: 2 });

    const done = (id: string) => async () => {
      const r = await engine.engineControl.getRun(id);
      return r && (r.status === 'succeeded' || r.status === 'failed') ? r : undefined;
    };
    expect((await waitFor(done(recovered.runId), 'the recovering run', 20_000)).status).toBe('succeeded');
    const failed = await waitFor(done(broken.runId), 'the broken run', 20_000);
    expect(failed).toMatchObject({ status: 'failed', attempts: 3 });

    const handled = await waitFor(async () => {
      const all = await readRecorded(redis, key);
      const notify = all.filter((r) => r.job === 'notify');
      const page = all.filter((r) => r.job === 'page');
      return notify.length >= 1 && page.length >= 1 ? { notify, page } : undefined;
    }, 'the handlers');
    // Give a duplicate or a cascade the time to show up before counting.
    const { runs: after } = await waitFor(async () => {
      const list = await engine.engineControl.listRuns({ workflow: 'fails', job: 'page', limit: 10, offset: 0 });
      return list.runs[0]?.status === 'failed' ? list : undefined;
    }, 'the page handler to fail for good');
    expect(after).toHaveLength(1);

    const notify = (await readRecorded(redis, key)).filter((r) => r.job === 'notify');
    expect(notify).toHaveLength(1);
    expect(handled.page).toHaveLength(1);
    expect(notify[0]!.trigger).toBe('failure');
    expect(notify[0]!.causedBy).toBe(broken.runId);
    expect(notify[0]!.input).toEqual({
      workflow: 'fails', job: 'broken', runId: broken.runId, trigger: 'manual', attempts: 3,
      error: 'configured failure 3/99', input: { n: 2 },
    });
    const notifyRun = await engine.engineControl.getRun(notify[0]!.runId);
    expect(notifyRun).toMatchObject({ trigger: 'failure', causedBy: broken.runId, status: 'succeeded' });
  });
});
