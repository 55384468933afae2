import { describe, expect, it } from 'vitest';
import { readRecorded } from '../support/test-plugins.js';
import { testEngines, waitFor } from '../support/test-engine.js';

const engines = testEngines();
const redis = engines.redis;

describe('pausing a job whose scheduled run is between attempts', () => {
  it('lets the started run finish its retries (it used to stay "retrying" for ever); no new fire comes', async () => {
    const key = `rec:${Date.now()}:pause-retry`;
    const started = await engines.start({
      workflows: {
        'pr.json': {
          name: 'pause-retry',
          // every 1h: the scheduler fires once at start, then not within the test.
          jobs: { flaky: { plugin: 'record', every: '1h', config: { key, failTimes: 1 }, retry: { attempts: 2, backoff: 'fixed', delay: '1s' } } },
        },
      },
    });
    const { engine } = started;
    const first = await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.attempt === 1), 'the first attempt');
    await engine.engineControl.pause({ workflow: 'pause-retry', job: 'flaky' });
    const run = await waitFor(async () => {
      const r = await engine.engineControl.getRun(first.runId);
      return r && r.status !== 'queued' && r.status !== 'running' && r.status !== 'retrying' ? r : undefined;
    }, 'the run to finish', 20_000);
    expect(run.status).toBe('succeeded');
    expect(run.attempts).toBe(2);
    expect((await readRecorded(redis, key)).map((r) => [r.runId, r.attempt])).toEqual([
      [first.runId, 1],
      [first.runId, 2],
    ]);
  });
});
