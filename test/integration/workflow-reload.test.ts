import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { RunHistory } from '../../core/history/run-history.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup) await c();
  await redis.quit();
});

const wf = (jobs: Record<string, unknown>) => JSON.stringify({ name: 'live', jobs });

describe('workflow files change while the engine runs', () => {
  it('picks up edits, keeps the last good definition on a broken edit, drops removed files', async () => {
    const { engine, dir, prefix } = await startTestEngine({
      workflows: { 'live.json': wf({ a: { plugin: 'record', every: '1h', config: { key: 'k' } } }) },
      options: { watch: true },
    });
    cleanup.push(async () => {
      await engine.stop();
      await deletePrefix(redis, prefix);
    });
    const file = path.join(dir, 'live.json');
    const schedulers = async () => (await redis.zrange(`${prefix}:runs:repeat`, '0', '-1')).sort();
    const jobs = async (e: Engine) => (await e.engineControl.getWorkflow('live')).jobs.map((j) => j.job).sort();
    expect(await schedulers()).toEqual(['live/a']);

    writeFileSync(file, wf({ a: { plugin: 'record', every: '1h', config: { key: 'k' } }, b: { plugin: 'record', every: '2h', config: { key: 'k' } } }));
    await waitFor(async () => (await schedulers()).length === 2, 'the new job b to be scheduled');
    expect(await jobs(engine)).toEqual(['a', 'b']);

    writeFileSync(file, wf({ a: { plugin: 'record', every: 'often', config: { key: 'k' } } }));
    const broken = await waitFor(async () => (await engine.engineControl.getWorkflow('live')).error, 'the error to be reported');
    expect(broken).toContain('/jobs/a/every: "often" is not a duration like 10s, 1m');
    expect(await jobs(engine)).toEqual(['a', 'b']);
    expect(await schedulers()).toEqual(['live/a', 'live/b']);

    rmSync(file);
    await waitFor(async () => (await schedulers()).length === 0, 'schedulers of the removed file to go');
    expect(await engine.engineControl.listWorkflows()).toEqual([]);
  });
});

describe('run history retention', () => {
  it('keeps at most maxRuns and nothing older than maxAge', async () => {
    const prefix = uniquePrefix('hist');
    cleanup.push(() => deletePrefix(redis, prefix));
    const history = new RunHistory(redis, new EngineKeys(prefix), { maxRuns: 5, maxAgeMs: 60_000 });
    const now = Date.now();
    for (let i = 0; i < 8; i++) {
      await history.save({ id: `w.j.${i}`, workflow: 'w', job: 'j', plugin: 'p', trigger: 'manual', status: 'succeeded', attempts: 1, queuedAt: now - (8 - i) * 1000 });
    }
    await history.save({ id: 'w.j.old', workflow: 'w', job: 'j', plugin: 'p', trigger: 'manual', status: 'failed', attempts: 1, queuedAt: now - 120_000 });
    await history.trim(now);
    const { runs, total } = await history.query({ limit: 100 });
    expect(total).toBe(5);
    expect(runs.map((r) => r.id)).toEqual(['w.j.7', 'w.j.6', 'w.j.5', 'w.j.4', 'w.j.3']);
    expect(await history.get('w.j.old')).toBeUndefined();
    expect((await history.query({ status: 'failed' })).total).toBe(0);
  });
});
