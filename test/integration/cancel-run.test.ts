import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const key = `rec:${Date.now()}:cancel`;
const TOKEN = 'cancel-test-token-0123456789abcdef';
let engine: Engine;
let prefix: string;

beforeAll(async () => {
  ({ engine, prefix } = await startTestEngine({
    workflows: {
      'c.json': {
        name: 'cancels',
        jobs: {
          // Works 30 s, ignoring its signal (the runner still ends it at once), then would start `after`.
          long: { plugin: 'record', manual: true, config: { key, sleepMs: 30_000, recordAbort: true }, retry: { attempts: 3, delay: '1s' }, then: ['after'], onFailure: ['handler'] },
          after: { plugin: 'record', config: { key } },
          handler: { plugin: 'record', config: { key } },
        },
      },
    },
    // One run at a time: a second trigger waits in the queue.
    config: { adminToken: TOKEN, concurrency: 1 },
    options: { api: true },
  }));
});

afterAll(async () => {
  await engine.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const cancel = (id: string, token = TOKEN) => fetch(`${engine.url}/api/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
const final = (id: string) => async (): Promise<RunRecord | undefined> => {
  const r = await engine.engineControl.getRun(id);
  return r && !['queued', 'running', 'retrying'].includes(r.status) ? r : undefined;
};

describe('cancel a run (POST /api/runs/:id/cancel, real engine)', () => {
  it('a running run gets its AbortSignal and ends cancelled, not retried; a queued one is removed and never runs; no successor or handler starts', async () => {
    const running = await engine.engineControl.trigger('cancels', 'long', { n: 1 });
    await waitFor(async () => (await readRecorded(redis, key)).some((r) => r.runId === running.runId), 'the long run to start');
    const queued = await engine.engineControl.trigger('cancels', 'long', { n: 2 });

    // The queued one first: removed at once.
    const q = await cancel(queued.runId);
    expect(q.status).toBe(202);
    expect(await q.json()).toEqual({ runId: queued.runId, status: 'cancelled' });
    expect(await engine.engineControl.getRun(queued.runId)).toMatchObject({ status: 'cancelled', error: 'cancelled before it started' });

    const r = await cancel(running.runId);
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ runId: running.runId, status: 'cancelling' });
    const done = await waitFor(final(running.runId), 'the running run to end', 10_000);
    expect(done).toMatchObject({ status: 'cancelled', attempts: 1, error: 'cancelled' });
    // The plugin saw its signal, with the reason.
    const aborted = (await redis.lrange(`${key}:aborted`, 0, -1)).map((s) => JSON.parse(s) as { runId: string; reason: string });
    expect(aborted).toEqual([{ runId: running.runId, reason: 'cancelled' }]);

    // Nothing else ran: not the queued run, not `after`, not the failure handler, not a retry.
    await new Promise((res) => setTimeout(res, 1500));
    const recorded = await readRecorded(redis, key);
    expect(recorded.map((x) => [x.job, x.runId, x.attempt])).toEqual([['long', running.runId, 1]]);
  });

  it('refuses a finished run (409), an unknown one (404), and a call without the admin token (401)', async () => {
    const { runs } = await engine.engineControl.listRuns({ workflow: 'cancels', status: 'cancelled', limit: 1, offset: 0 });
    const again = await cancel(runs[0]!.id);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toMatch(/has already finished \(cancelled\)/);
    expect((await cancel('cancels.long.nope')).status).toBe(404);
    expect((await cancel(runs[0]!.id, 'wrong-token-0123456789abcdef')).status).toBe(401);
  });
});
