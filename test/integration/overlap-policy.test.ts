import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const engines: Array<{ engine: Engine; prefix: string }> = [];
afterAll(async () => {
  for (const { engine, prefix } of engines) {
    await engine.stop();
    await deletePrefix(redis, prefix);
  }
  await redis.quit();
});

const SLOW_MS = 2_500;

/** A job firing every second whose runs take 2.5 s, on an engine with room for several at once. */
async function slowEveryJob(name: string, overlap?: 'skip' | 'allow') {
  const key = `rec:${Date.now()}:${name}`;
  const started = await startTestEngine({
    workflows: { [`${name}.json`]: { name, jobs: { slow: { plugin: 'record', every: '1s', config: { key, sleepMs: SLOW_MS }, ...(overlap ? { overlap } : {}) } } } },
    config: { concurrency: 8 },
  });
  engines.push(started);
  return { ...started, key };
}

async function runsOf(engine: Engine, workflow: string): Promise<RunRecord[]> {
  return (await engine.engineControl.listRuns({ workflow, limit: 100, offset: 0 })).runs;
}

describe('overlap policy of scheduled jobs (real Redis, real scheduler)', () => {
  it('skip (the default): a fire that comes while the previous run goes is recorded as skipped; runs never overlap', async () => {
    const { engine, key } = await slowEveryJob('overlap-skip');
    await waitFor(async () => (await readRecorded(redis, key)).length >= 3, 'three runs', 20_000);
    await engine.engineControl.pause({ workflow: 'overlap-skip' });
    const runs = await runsOf(engine, 'overlap-skip');
    const skipped = runs.filter((r) => r.status === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    for (const s of skipped) expect(s.error).toMatch(/skipped: run overlap-skip\.slow\.\d+ of this job was still going/);
    // The runs that did run never overlapped: each started after the previous one's work was done.
    const starts = (await readRecorded(redis, key)).map((r) => r.at).sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(SLOW_MS);
    expect((await engine.engineControl.listRuns({ workflow: 'overlap-skip', status: 'skipped', limit: 100, offset: 0 })).total).toBe(skipped.length);
  });

  it('allow: fires run alongside the previous run', async () => {
    const { engine, key } = await slowEveryJob('overlap-allow', 'allow');
    await waitFor(async () => (await readRecorded(redis, key)).length >= 3, 'three runs', 20_000);
    await engine.engineControl.pause({ workflow: 'overlap-allow' });
    const starts = (await readRecorded(redis, key)).map((r) => r.at).sort((a, b) => a - b);
    expect(starts[2]! - starts[0]!).toBeLessThan(SLOW_MS);
    expect((await runsOf(engine, 'overlap-allow')).filter((r) => r.status === 'skipped')).toEqual([]);
  });
});
