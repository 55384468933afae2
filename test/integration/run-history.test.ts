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
    expect(await redis.hget(keys.runRecords, first.id)).toBe(JSON.stringify(first));

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

describe('run history on real Redis: where records live and how they are bounded', () => {
  const running = (id: string, queuedAt: number, startedAt: number): RunRecord => ({ ...queued(id, queuedAt), status: 'running', attempts: 1, startedAt });

  it('keeps every record in one hash: 300 runs add no key of their own to the keyspace', async () => {
    const { history, keys } = fresh();
    await history.save(queued('w.j.0', Date.now()));
    const prefix = keys.runs.slice(0, -':runs'.length);
    const before = (await redis.keys(`${prefix}:*`)).length;
    for (let i = 1; i <= 300; i++) await history.save(queued(`w.j.${i}`, Date.now()));
    expect((await redis.keys(`${prefix}:*`)).length).toBe(before);
    expect(await redis.hlen(keys.runRecords)).toBe(301);
  });

  it('drops runs past the age limit, except one not ended that was written within it (a long run), which goes once it is stale', async () => {
    const day = 86_400_000;
    const now = Date.now();
    const { history, keys } = fresh();
    const aged = new RunHistory(redis, keys, { maxAgeMs: day });
    await aged.save({ ...queued('w.j.old-done', now - 3 * day), status: 'succeeded', attempts: 1, finishedAt: now - 3 * day });
    await aged.save(running('w.j.old-running', now - 3 * day, now - 3 * day));
    await aged.save(running('w.j.long', now - 3 * day, now - day / 2));
    await aged.save(queued('w.j.new', now - 1000));
    await aged.trim(now);
    expect(await redis.zrange(keys.runs, '0', '-1')).toEqual(['w.j.long', 'w.j.new']);
    expect(await redis.hkeys(keys.runRecords)).toEqual(expect.arrayContaining(['w.j.long', 'w.j.new']));
    expect(await redis.hlen(keys.runRecords)).toBe(2);
    // A day later the long run has written nothing since: it goes too.
    await aged.trim(now + day);
    expect(await history.get('w.j.long')).toBeUndefined();
  });

  it('moves the records an earlier version kept under a key each into the hash at start, read where they are until then, a newer one in the hash kept', async () => {
    const { history, keys } = fresh();
    const now = Date.now();
    const old = queued('w.j.legacy', now - 2_000);
    const both = queued('w.j.both', now - 1_000);
    await redis.set(keys.legacyRun(old.id), JSON.stringify(old), 'EX', 3600);
    await redis.set(keys.legacyRun(both.id), JSON.stringify(both), 'EX', 3600);
    await redis.zadd(keys.runs, old.queuedAt, old.id, both.queuedAt, both.id);
    // Not a record of the run its name says: left where it is.
    await redis.set(keys.legacyRun('w.j.other'), '{"id":"w.j.something-else"}');
    const newer = { ...both, status: 'succeeded' as const, attempts: 1, finishedAt: now };
    await redis.hset(keys.runRecords, both.id, JSON.stringify(newer));
    // Before the move, reads find the record where the earlier version left it.
    expect(await history.get(old.id)).toEqual(old);
    expect((await history.query({})).runs.map((r) => r.id)).toEqual([both.id, old.id]);

    expect(await history.moveLegacyRecords()).toBe(1);
    expect(await redis.exists(keys.legacyRun(old.id), keys.legacyRun(both.id))).toBe(0);
    expect(await redis.get(keys.legacyRun('w.j.other'))).toBe('{"id":"w.j.something-else"}');
    expect(await history.get(old.id)).toEqual(old);
    expect(await history.get(both.id)).toEqual(newer);
    // Nothing left to move: no scan.
    expect(await history.moveLegacyRecords()).toBe(0);
  });
});
