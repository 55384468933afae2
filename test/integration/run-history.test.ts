import { afterAll, describe, expect, it } from 'vitest';
import { RunHistory } from '../../core/history/run-history.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

function fresh(): { history: RunHistory; keys: EngineKeys } {
  const prefix = uniquePrefix('run-history');
  prefixes.push(prefix);
  const keys = new EngineKeys(prefix);
  return { history: new RunHistory(redis, keys), keys };
}

const queued = (id: string, queuedAt: number): RunRecord => ({ id, workflow: 'w', job: 'j', plugin: 'p', trigger: 'chain', status: 'queued', attempts: 0, queuedAt });

describe('run history on real Redis: saving only if new (a duplicate enqueue)', () => {
  it('the first save stores and indexes the record; a second one leaves it, and last-run, alone and returns false', async () => {
    const { history, keys } = fresh();
    const first = queued('w.j.c-1', 1_000);
    expect(await history.save(first, { onlyIfNew: true })).toBe(true);
    expect(await history.get(first.id)).toEqual(first);
    expect(await redis.zscore(keys.runs, first.id)).toBe('1000');
    expect(await redis.hget(keys.lastRun, 'w/j')).toBe(first.id);
    expect(await redis.ttl(keys.run(first.id))).toBeGreaterThan(0);

    // Another run of the job since: a duplicate of the first must not make it the last run again.
    await history.save(queued('w.j.c-2', 2_000));
    expect(await history.save({ ...first, attempts: 5, queuedAt: 3_000 }, { onlyIfNew: true })).toBe(false);
    expect(await history.get(first.id)).toEqual(first);
    expect(await redis.zscore(keys.runs, first.id)).toBe('1000');
    expect(await redis.hget(keys.lastRun, 'w/j')).toBe('w.j.c-2');
    expect((await history.query({})).runs.map((r) => r.id)).toEqual(['w.j.c-2', 'w.j.c-1']);

    // Without onlyIfNew a save overwrites (a run's later states).
    expect(await history.save({ ...first, status: 'succeeded', finishedAt: 4_000 })).toBe(true);
    expect((await history.get(first.id))?.status).toBe('succeeded');
    expect(await redis.hget(keys.lastSuccess, 'w/j')).toBe('4000');
  });

  it('of concurrent saves of one new run, exactly one stores it', async () => {
    const { history, keys } = fresh();
    const results = await Promise.all([1, 2, 3, 4].map((n) => history.save(queued('w.j.c-x', n), { onlyIfNew: true })));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    expect((await history.get('w.j.c-x'))?.queuedAt).toBe(winner);
    expect(await redis.zscore(keys.runs, 'w.j.c-x')).toBe(String(winner));
  });
});
