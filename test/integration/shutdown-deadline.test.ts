import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

/**
 * Engine.stop() waits for running jobs up to its shutdown timeout, then
 * aborts them: each run's AbortSignal fires with the reason, and the stop
 * returns without waiting for the plugin (which here ignores the signal).
 */
describe('shutdown deadline', () => {
  it('aborts the runs still going when the shutdown timeout passes, in every worker of the process', async () => {
    const key = `rec:${Date.now()}:deadline`;
    const { engine, prefix } = await startTestEngine({
      workflows: {
        'd.json': {
          name: 'deadline',
          jobs: {
            // Two routes: one BullMQ worker each.
            long: { plugin: 'record', manual: true, config: { key, sleepMs: 60_000, recordAbort: true } },
            elsewhere: { plugin: 'record', manual: true, runsOn: 'other', config: { key, sleepMs: 60_000, recordAbort: true } },
            // Finishes well within the deadline: never aborted.
            short: { plugin: 'record', manual: true, config: { key: `${key}:short`, recordAbort: true } },
          },
        },
      },
      config: { serve: ['other'] },
      options: { shutdownTimeoutMs: 1_000 },
    });
    prefixes.push(prefix);
    const long = await engine.engineControl.trigger('deadline', 'long');
    const elsewhere = await engine.engineControl.trigger('deadline', 'elsewhere');
    const short = await engine.engineControl.trigger('deadline', 'short');
    await waitFor(async () => (await readRecorded(redis, key)).length === 2, 'both long runs to start');
    await waitFor(async () => (await engine.engineControl.getRun(short.runId))?.status === 'succeeded', 'the short run to finish');

    const t0 = Date.now();
    await engine.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(10_000);
    const aborted = await waitFor(async () => {
      const all = (await redis.lrange(`${key}:aborted`, 0, -1)).map((s) => JSON.parse(s) as { runId: string; reason: string });
      return all.length === 2 ? all : undefined;
    }, 'both long runs to see their signal abort');
    expect(aborted.sort((a, b) => a.runId.localeCompare(b.runId))).toEqual(
      [long.runId, elsewhere.runId].sort().map((runId) => ({ runId, reason: 'cancelled: engine shutting down' })),
    );
    expect(await redis.llen(`${key}:short:aborted`)).toBe(0);
  });
});
