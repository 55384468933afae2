import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterEventHub, type FeedMessage } from '../../core/control/cluster-event-hub.js';
import type { RunEvent } from '../../core/control/engine-events.js';
import { RunHistory } from '../../core/history/run-history.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { silentLogger } from '../../core/logging/logger.js';
import type { EventIncrements } from '../../core/metrics/cluster-metric-store.js';
import { RedisClusterMetricStore } from '../../core/metrics/redis-cluster-metric-store.js';
import { FIRES_SKIPPED, RUNS_FINISHED, RUNS_STARTED, RUN_DURATION, RUN_WAITS, RunIncrements, binSample, fireIncrements } from '../../core/metrics/run-metrics.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { RunLedger } from '../../core/runner/run-ledger.js';
import { pollUntil } from '../support/poll.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';

/**
 * The runner's writes in a real Redis: the writes of one tick leave as one
 * command (group commit), each run's record and counts as they were when
 * every run had a command of its own.
 */
const redis = testRedis();
let prefix: string;
let keys: EngineKeys;
let conn: Redis;

beforeEach(() => {
  prefix = uniquePrefix('ledger');
  keys = new EngineKeys(prefix);
  conn = testRedis();
});
afterEach(async () => {
  conn.disconnect();
  await deletePrefix(redis, prefix);
});
afterAll(async () => {
  await redis.quit();
});

function ledgerOn(connection: Redis, maxRuns?: number) {
  const history = new RunHistory(connection, keys, { maxRuns });
  const store = new RedisClusterMetricStore(connection, keys);
  const ledger = new RunLedger(connection, history, store, new RunIncrements(silentLogger()), silentLogger());
  return { history, store, ledger };
}

function succeeded(id: string, durationMs: number, extra: Partial<RunRecord> = {}): RunRecord {
  const startedAt = 1_000_000;
  return { id, workflow: 'wf', job: 'j', plugin: 'noop', trigger: 'manual', status: 'succeeded', attempts: 1, queuedAt: 999_000, startedAt, finishedAt: startedAt + durationMs, durationMs, ...extra };
}

function finish(run: RunRecord): RunEvent[] {
  return [{ type: 'started', run: { ...run, status: 'running' } }, { type: 'succeeded', run, output: undefined }];
}

async function scriptCalls(): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

const sumOf = (samples: Array<{ value: number }>) => samples.reduce((s, x) => s + x.value, 0);

describe('RunLedger', () => {
  it('writes the runs of one tick in one command: records, index, last run, counters summed', async () => {
    const { history, store, ledger } = ledgerOn(conn);
    // Load the script first so the count below is of this batch only.
    await ledger.write(succeeded('wf.j.0', 1), finish(succeeded('wf.j.0', 1)));
    const before = await scriptCalls();
    const runs = [succeeded('wf.j.1', 2), succeeded('wf.j.2', 30), succeeded('wf.j.3', 400, { queuedAt: 999_500 })];
    await Promise.all(runs.map((r) => ledger.write(r, finish(r))));
    // One script call for the three (another client's commands can only add to the count).
    expect((await scriptCalls()) - before).toBeLessThanOrEqual(1);

    for (const r of runs) expect(await history.get(r.id)).toEqual(r);
    expect(await redis.zrange(keys.runs, '0', '-1')).toEqual(['wf.j.0', 'wf.j.1', 'wf.j.2', 'wf.j.3']);
    // The last run per job is the batch's last; its finish time is last-success's.
    expect(await redis.hget(keys.lastRun, 'wf/j')).toBe('wf.j.3');
    expect(await redis.hget(keys.lastSuccess, 'wf/j')).toBe(String(runs[2]!.finishedAt));
    // The counters: four runs started and succeeded, their durations summed exactly, each in its own bucket.
    expect(sumOf(await store.read(RUNS_STARTED.name))).toBe(4);
    expect(await store.read(RUNS_FINISHED.name)).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 4 }]);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_sum`))).toBeCloseTo(0.433, 12);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_count`))).toBe(4);
    expect(sumOf(await store.read(binSample(RUN_DURATION.name)))).toBe(4);
    // A run that ended in its first attempt with nothing to keep beside it writes no details.
    expect(await redis.exists(keys.runDetails('wf.j.1'))).toBe(0);
  });

  it('splits a burst over 500 runs into several commands, in order; a batch of many jobs sets every last run', async () => {
    const { history, ledger } = ledgerOn(conn);
    await ledger.write(succeeded('wf.j.0', 1), finish(succeeded('wf.j.0', 1)));
    const before = await scriptCalls();
    // Queued now: the history's age bound, applied every 200 writes, would drop older records.
    const runs = Array.from({ length: 1200 }, (_, i) => succeeded(`wf.j${i}.1`, 1, { job: `j${i}`, queuedAt: Date.now() }));
    const writes = runs.map((r) => ledger.write(r, finish(r)));
    await ledger.sent();
    // Sent, in the order written: a command after sent() sees the last one.
    expect(await conn.hget(keys.runRecords, 'wf.j1199.1')).not.toBeNull();
    await Promise.all(writes);
    expect((await scriptCalls()) - before).toBe(3);
    expect(await redis.hlen(keys.lastRun)).toBe(1201);
    expect(await redis.hget(keys.lastRun, 'wf/j777')).toBe('wf.j777.1');
    expect(await history.get('wf.j1199.1')).toEqual(runs[1199]);
  });

  it('counts an event once when the same write comes twice, in one batch or in two', async () => {
    const { store, ledger } = ledgerOn(conn);
    const r = succeeded('wf.j.1', 5);
    await Promise.all([ledger.write(r, finish(r)), ledger.write(r, finish(r))]);
    await ledger.write(r, finish(r));
    // Another process's ledger, on its own connection.
    const other = testRedis();
    await ledgerOn(other).ledger.write(r, finish(r));
    other.disconnect();
    expect(sumOf(await store.read(RUNS_STARTED.name))).toBe(1);
    expect(sumOf(await store.read(RUNS_FINISHED.name))).toBe(1);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_sum`))).toBeCloseTo(0.005, 12);
    // A single amount is stored as it was sent (no float formatting), the field's one write in its batch.
    const durationSum = (await redis.hgetall(keys.metricSamples(`${RUN_DURATION.name}_sum`)));
    expect(Object.values(durationSum)).toEqual(['0.005']);
  });

  it('reads a run\'s amounts past a duplicate in the same batch: the runs after it count their own', async () => {
    const { store, ledger } = ledgerOn(conn);
    const first = succeeded('wf.j.1', 5);
    await ledger.write(first, finish(first));
    // One batch: the duplicate (its amounts skipped, not counted), then two new runs whose durations must be read at their own places.
    const next = [succeeded('wf.j.2', 70), succeeded('wf.j.3', 900, { queuedAt: 5_000_000 })];
    await Promise.all([ledger.write(first, finish(first)), ...next.map((r) => ledger.write(r, finish(r)))]);
    expect(sumOf(await store.read(RUNS_STARTED.name))).toBe(3);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_count`))).toBe(3);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_sum`))).toBeCloseTo(0.975, 12);
    // The same events again, in a later batch: nothing more counted.
    await Promise.all(next.map((r) => ledger.write(r, finish(r))));
    expect(sumOf(await store.read(`${RUN_DURATION.name}_count`))).toBe(3);
  });

  it('counts what the record it replaces had not counted: the start its running record counted, then only the finish, in the batch or later', async () => {
    const { store, ledger } = ledgerOn(conn);
    const started = async () => sumOf(await store.read(RUNS_STARTED.name));
    const finishedCount = async () => sumOf(await store.read(RUNS_FINISHED.name));
    const long = succeeded('wf.j.long', 250);
    const running: RunRecord = { ...long, status: 'running', finishedAt: undefined, durationMs: undefined };
    // The running record counts the start; the final one, which carries the start too, counts only the finish.
    await ledger.write(running, [{ type: 'started', run: running }]);
    expect([await started(), await finishedCount()]).toEqual([1, 0]);
    await ledger.write(long, finish(long));
    expect([await started(), await finishedCount()]).toEqual([1, 1]);
    // In one batch: a run's running and final writes, and one write naming its start twice (counted once).
    const both = succeeded('wf.j.both', 30);
    const twice = succeeded('wf.j.twice', 40);
    const bothRunning: RunRecord = { ...both, status: 'running' };
    await Promise.all([
      ledger.write(bothRunning, [{ type: 'started', run: bothRunning }]),
      ledger.write(both, finish(both)),
      ledger.write(twice, [...finish(twice), { type: 'started', run: twice }]),
    ]);
    expect(await started()).toBe(3);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_count`))).toBe(3);
    expect(sumOf(await store.read(`${RUN_DURATION.name}_sum`))).toBeCloseTo(0.32, 12);
    // A later attempt counts its own.
    const second = succeeded('wf.j.long', 5, { attempts: 2 });
    await ledger.write(second, finish(second));
    expect([await started(), await finishedCount()]).toEqual([4, 4]);
    // No marker keys: the records say how far their runs are counted.
    expect((await redis.keys(`${prefix}:*`)).filter((k) => k.includes('counted'))).toEqual([]);
  });

  it('leaves the record and the counts alone when a late write is behind them (a frozen worker\'s running record after the final one)', async () => {
    const { history, store, ledger } = ledgerOn(conn);
    const done = succeeded('wf.j.late', 20);
    const running: RunRecord = { ...done, status: 'running', finishedAt: undefined, durationMs: undefined };
    await ledger.write(done, finish(done));
    // The running record of the same attempt, written after it ended: not saved, not counted, not published.
    await ledger.write(running, [{ type: 'started', run: running }]);
    expect(await history.get('wf.j.late')).toEqual(done);
    expect(await redis.hget(keys.runRecords, 'wf.j.late')).toBe(JSON.stringify(done));
    // So the final write coming again (the frozen worker's own) still finds the finish counted.
    await ledger.write(done, finish(done));
    expect(sumOf(await store.read(RUNS_STARTED.name))).toBe(1);
    expect(sumOf(await store.read(RUNS_FINISHED.name))).toBe(1);
  });

  it('counts a run\'s wait once, then its attempt, from a queued record saved without counts; a dropped waiting fire counts its skip', async () => {
    const { history, store, ledger } = ledgerOn(conn);
    const total = async (sample: string) => sumOf(await store.read(sample));
    // Queued by the API (no counts), then waiting for a slot (its wait counted once however often written), then run.
    const queued: RunRecord = { id: 'wf.j.q', workflow: 'wf', job: 'j', plugin: 'noop', trigger: 'manual', status: 'queued', attempts: 0, queuedAt: 999_000 };
    await history.save(queued);
    const waiting: RunRecord = { ...queued, waiting: { for: 'concurrency', since: 999_500, reason: 'waits for a slot' } };
    await ledger.writeCounted(waiting, fireIncrements(waiting, 'waited', 'concurrency'));
    await ledger.writeCounted(waiting, fireIncrements(waiting, 'waited', 'concurrency'));
    expect(await total(RUN_WAITS.name)).toBe(1);
    const done = succeeded('wf.j.q', 3);
    await ledger.write(done, finish(done));
    expect([await total(RUNS_STARTED.name), await total(RUNS_FINISHED.name)]).toEqual([1, 1]);
    // A fire that waited, then dropped (its job paused meanwhile): skipped, counted once; nothing after it counts.
    const fire: RunRecord = { ...waiting, id: 'wf.j.fire', trigger: 'schedule' };
    await ledger.writeCounted(fire, fireIncrements(fire, 'waited', 'concurrency'));
    const skipped: RunRecord = { ...fire, status: 'skipped', waiting: undefined, finishedAt: 1_000_000 };
    await ledger.writeCounted(skipped, fireIncrements(skipped, 'skipped'));
    await ledger.writeCounted(skipped, fireIncrements(skipped, 'skipped'));
    await ledger.writeCounted(fire, fireIncrements(fire, 'waited', 'concurrency'));
    expect([await total(RUN_WAITS.name), await total(FIRES_SKIPPED.name)]).toEqual([2, 1]);
    expect((await history.get('wf.j.fire'))?.status).toBe('skipped');
  });

  it('trims the runs over the bound that ended, keeping one not ended (indexed) so its final write counts only the finish', async () => {
    const { history, store, ledger } = ledgerOn(conn, 2);
    const long = succeeded('wf.j.long', 900, { queuedAt: 1_000 });
    const running: RunRecord = { ...long, status: 'running', finishedAt: undefined, durationMs: undefined };
    await ledger.write(running, [{ type: 'started', run: running }]);
    const ended = [succeeded('wf.j.1', 1, { queuedAt: 2_000 }), succeeded('wf.j.2', 1, { queuedAt: 3_000 }), succeeded('wf.j.3', 1, { queuedAt: 4_000 })];
    await Promise.all(ended.map((r) => ledger.write(r, finish(r))));
    await history.trim(5_000);
    expect(await redis.zrange(keys.runs, '0', '-1')).toEqual(['wf.j.long', 'wf.j.2', 'wf.j.3']);
    expect(await history.get('wf.j.1')).toBeUndefined();
    expect(await redis.hexists(keys.runRecords, 'wf.j.1')).toBe(0);
    expect((await history.get('wf.j.long'))?.status).toBe('running');
    await ledger.write(long, finish(long));
    expect(sumOf(await store.read(RUNS_STARTED.name))).toBe(4);
    expect(sumOf(await store.read(RUNS_FINISHED.name))).toBe(4);
    expect(await redis.zrange(keys.runs, '0', '-1')).toEqual(['wf.j.long', 'wf.j.2', 'wf.j.3']);
  });

  it('refuses to count events of two attempts in one write, and still saves the record', async () => {
    const { history, store, ledger } = ledgerOn(conn);
    const run = succeeded('wf.j.mixed', 3, { attempts: 2 });
    await ledger.write(run, [{ type: 'started', run: { ...run, attempts: 1 } }, { type: 'succeeded', run, output: undefined }]);
    expect((await history.get('wf.j.mixed'))?.status).toBe('succeeded');
    expect(await store.read(RUNS_STARTED.name)).toEqual([]);
  });

  it('counts runs of several jobs and statuses in one batch under their own label sets, a label object changed between runs included', async () => {
    const { store, ledger } = ledgerOn(conn);
    const labels = { workflow: 'wf', tideflow_job: 'a' };
    const skipped = (id: string, job: string): [RunRecord, EventIncrements] => {
      const run = succeeded(id, 1, { job, status: 'skipped' });
      return [run, { event: { runId: id, attempt: 0, event: 'skipped' }, increments: [{ sample: RUNS_STARTED.name, labels, by: 1 }] }];
    };
    const ok = succeeded('wf.j.1', 2);
    const bad: RunRecord = { ...succeeded('wf.j.2', 3), status: 'failed', error: 'boom' };
    const writes = [ledger.writeCounted(...skipped('wf.a.1', 'a'))];
    // The same (unfrozen) object, changed: the second run must not be counted with the first one's plan.
    labels.tideflow_job = 'b';
    writes.push(ledger.writeCounted(...skipped('wf.b.1', 'b')));
    writes.push(ledger.write(ok, finish(ok)));
    writes.push(ledger.write(bad, [{ type: 'started', run: { ...bad, status: 'running' } }, { type: 'failed', run: bad, willRetry: false, error: 'boom' }]));
    await Promise.all(writes);
    const started = await store.read(RUNS_STARTED.name);
    expect(started.map((x) => [x.labels.tideflow_job, x.value]).sort()).toEqual([['a', 1], ['b', 1], ['j', 2]]);
    const finished = await store.read(RUNS_FINISHED.name);
    expect(finished.map((x) => [x.labels.status, x.value]).sort()).toEqual([['failed', 1], ['succeeded', 1]]);
  });

  it('publishes a batch\'s records in one message that the event hub hands out as one run event each', async () => {
    const hub = new ClusterEventHub(testRedis(), keys);
    const heard: FeedMessage[] = [];
    const stop = await hub.listen((m) => heard.push(m));
    const raw: string[] = [];
    const sub = testRedis();
    sub.on('message', (_channel: string, data: string) => raw.push(data));
    await sub.subscribe(keys.eventsChannel);
    try {
      const { ledger } = ledgerOn(conn);
      const runs = [succeeded('wf.j.1', 2), succeeded('wf.j.2', 3, { error: 'line one\nline two' }), succeeded('wf.j.3', 4)];
      await Promise.all(runs.map((r) => ledger.write(r, finish(r))));
      await pollUntil(async () => heard.length, (n) => n >= 3, 5000);
      expect(raw).toHaveLength(1);
      expect(heard.map((m) => m.event)).toEqual(['run', 'run', 'run']);
      expect(heard.map((m) => JSON.parse(m.data))).toEqual(runs.map((run) => ({ type: 'run', run })));
    } finally {
      stop();
      await hub.close();
      sub.disconnect();
    }
  });

  it('puts the batch on the connection before sent() resolves: a command sent after it sees the records', async () => {
    const { ledger } = ledgerOn(conn);
    const r = succeeded('wf.j.1', 1);
    let written = false;
    void ledger.write(r, finish(r)).then(() => (written = true));
    await ledger.sent();
    // Not answered yet, but on the connection: what this connection sends next runs after it in Redis.
    expect(written).toBe(false);
    expect(await conn.hget(keys.runRecords, 'wf.j.1')).toBe(JSON.stringify(r));
  });

  it('keeps a retried attempt\'s summary and input/output beside the record', async () => {
    const { history, store, ledger } = ledgerOn(conn);
    const first: RunRecord = { ...succeeded('wf.j.1', 3), status: 'retrying', error: 'boom' };
    const second = succeeded('wf.j.1', 4, { attempts: 2, startedAt: 2_000_000, finishedAt: 2_000_004 });
    await ledger.write(first, [{ type: 'started', run: first }, { type: 'failed', run: first, willRetry: true, error: 'boom' }], { io: { input: { a: 1 } } });
    await Promise.all([
      ledger.write(second, [{ type: 'started', run: second }, { type: 'succeeded', run: second, output: { ok: true } }], { io: { output: { ok: true } } }),
      ledger.write(succeeded('wf.j.2', 1), finish(succeeded('wf.j.2', 1))),
    ]);
    const details = await history.details('wf.j.1');
    expect(details?.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 'retrying'], [2, 'succeeded']]);
    expect(details?.io).toEqual({ runId: 'wf.j.1', input: { bytes: 7, truncated: false, value: { a: 1 } }, output: { bytes: 11, truncated: false, value: { ok: true } } });
    expect(await history.get('wf.j.2')).toBeDefined();
    expect(await store.read(RUNS_FINISHED.name)).toEqual(
      expect.arrayContaining([
        { labels: { workflow: 'wf', tideflow_job: 'j', status: 'retrying' }, value: 1 },
        { labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 2 },
      ]),
    );
  });
});
