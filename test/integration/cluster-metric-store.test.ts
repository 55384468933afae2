import { Redis } from 'ioredis';
import { pino } from 'pino';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineMetrics } from '../../core/api/metrics/engine-metrics.js';
import type { RunEvent } from '../../core/control/engine-events.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { silentLogger } from '../../core/logging/logger.js';
import { METRICS_MARK_SLICE_MS, RedisClusterMetricStore } from '../../core/metrics/redis-cluster-metric-store.js';
import { RunMetricsRecorder } from '../../core/metrics/run-metrics.js';
import type { PluginManifest, RunCount } from '../../core/plugin/plugin.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';

/**
 * The cluster-wide counters' recording in a real Redis: one script per run
 * event, counted once per (run, attempt, started|finished) whoever records
 * it and however often.
 */
const a = testRedis();
const b = testRedis();
let prefix: string;
let keys: EngineKeys;

beforeEach(() => {
  prefix = uniquePrefix('cm');
  keys = new EngineKeys(prefix);
});
afterEach(async () => {
  await deletePrefix(a, prefix);
});
afterAll(async () => {
  await a.quit();
  await b.quit();
});

/** Every run of these tests was queued in one slice of time: one marker hash holds their marks. */
const QUEUED_AT = 1_796_000_000_000;

const inc = (labels: Record<string, string>, by = 1) => [{ sample: 'tideflow_test_things_total', labels, by }];

async function total(store: RedisClusterMetricStore, sample = 'tideflow_test_things_total'): Promise<number> {
  return (await store.read(sample)).reduce((sum, s) => sum + s.value, 0);
}

function run(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { id, workflow: 'wf', job: 'j', plugin: 'counting', trigger: 'manual', status: 'running', attempts: 1, queuedAt: 1, startedAt: 1000, ...extra };
}

describe('RedisClusterMetricStore', () => {
  it('counts the same event once, however often it is recorded', async () => {
    const store = new RedisClusterMetricStore(a, keys);
    const labels = { workflow: 'wf', class: 'high' };
    expect(await store.record({ runId: 'r1', queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, inc(labels, 3))).toBe(true);
    expect(await store.record({ runId: 'r1', queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, inc(labels, 3))).toBe(false);
    // From another connection too (another process's duplicate).
    expect(await new RedisClusterMetricStore(b, keys).record({ runId: 'r1', queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, inc(labels, 3))).toBe(false);
    expect(await store.read('tideflow_test_things_total')).toEqual([{ labels, value: 3 }]);
    // Another event, attempt or run of it does count.
    expect(await store.record({ runId: 'r1', queuedAt: QUEUED_AT, attempt: 1, event: 'started' }, inc(labels))).toBe(true);
    expect(await store.record({ runId: 'r1', queuedAt: QUEUED_AT, attempt: 2, event: 'finished' }, inc(labels))).toBe(true);
    expect(await store.record({ runId: 'r2', queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, inc(labels))).toBe(true);
    expect(await total(store)).toBe(6);
    // The marks, in the hash of the runs' slice of queue time, expire (a day after the last by default).
    const marks = keys.metricsCounted(Math.floor(QUEUED_AT / METRICS_MARK_SLICE_MS));
    const ttl = await a.ttl(marks);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);
    // One field per run attempt, its value the events counted in the order they came.
    expect(await a.hgetall(marks)).toEqual({ 'r1 1': 'finished started', 'r1 2': 'finished', 'r2 1': 'finished' });
  });

  it('sums concurrent recordings from two connections exactly, duplicates racing included', async () => {
    const stores = [new RedisClusterMetricStore(a, keys), new RedisClusterMetricStore(b, keys)];
    const labels = { workflow: 'wf' };
    const N = 300;
    // Each connection records its own N runs, and both race to record N shared ones.
    const results = await Promise.all(
      stores.flatMap((store, i) => [
        ...Array.from({ length: N }, (_, n) => store.record({ runId: `own-${i}-${n}`, queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, inc(labels))),
        ...Array.from({ length: N }, (_, n) => store.record({ runId: `shared-${n}`, queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, [...inc(labels), { sample: 'tideflow_test_seconds_sum', labels, by: 0.1 }])),
      ]),
    );
    expect(results.filter(Boolean).length).toBe(3 * N);
    expect(await total(stores[0]!)).toBe(3 * N);
    expect(await total(stores[1]!, 'tideflow_test_seconds_sum')).toBeCloseTo(N * 0.1, 9);
  });

  it('round-trips label values with quotes, backslashes, newlines, separators and unicode, through /metrics too', async () => {
    const store = new RedisClusterMetricStore(a, keys);
    const odd = ['say "hi"', 'back\\slash', 'two\nlines', 'a=b,c={d}', '', 'ünïcødé ✓ 🚀', '["json",1]', ' spaced '];
    for (const [n, value] of odd.entries()) {
      await store.record({ runId: `odd-${n}`, queuedAt: QUEUED_AT, attempt: 1, event: 'finished' }, [{ sample: 'tideflow_runs_started_total', labels: { workflow: value, tideflow_job: `j${n}` }, by: n + 1 }]);
    }
    const stored = await store.read('tideflow_runs_started_total');
    expect(stored.map((s) => s.labels.workflow).sort()).toEqual([...odd].sort());
    for (const [n, value] of odd.entries()) expect(stored.find((s) => s.labels.workflow === value)?.value).toBe(n + 1);

    // What a Prometheus parser reads back from the exposition.
    const text = await new EngineMetrics({ clusterMetrics: store, registry: new Registry() }).text();
    const family = parsePrometheusTextFormat(text).find((f) => f.name === 'tideflow_runs_started_total')!;
    const parsed = new Map(family.metrics.map((m) => [m.labels?.workflow, Number(m.value)]));
    for (const [n, value] of odd.entries()) expect(parsed.get(value), JSON.stringify(value)).toBe(n + 1);
  });

  it('leaves out what it did not write', async () => {
    const store = new RedisClusterMetricStore(a, keys);
    await a.hset(keys.metricSamples('tideflow_test_things_total'), 'not json', '3', '{"a":"b"}', '4', '[["a","b"]]', 'NaN?', '[["a","b"],["c","d"]]', '5');
    expect(await store.read('tideflow_test_things_total')).toEqual([{ labels: { a: 'b', c: 'd' }, value: 5 }]);
  });
});

/** A plugin manifest with one cluster counter and one histogram (the contract as a plugin declares it). */
const countingManifest = {
  name: 'counting',
  counters: [{ name: 'tideflow_test_things_total', help: 'Things counted by the test plugin.', labelNames: ['workflow', 'kind'] }],
  histograms: [{ name: 'tideflow_test_size_bytes', help: 'Sizes seen by the test plugin.', labelNames: ['workflow'], buckets: [10, 100] }],
} satisfies Pick<PluginManifest, 'name' | 'counters' | 'histograms'>;

describe('RunMetricsRecorder', () => {
  it('records the run counters and the plugin counts of an event once, and drops counts that do not fit their declaration', async () => {
    const lines: string[] = [];
    const recorder = new RunMetricsRecorder(new RedisClusterMetricStore(a, keys), pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }));
    const counts: RunCount[] = [
      { counter: 'tideflow_test_things_total', labels: { workflow: 'wf', kind: 'x' }, value: 2 },
      { counter: 'tideflow_test_things_total', labels: { workflow: 'wf', kind: 'y' } },
      { histogram: 'tideflow_test_size_bytes', labels: { workflow: 'wf' }, value: 50 },
      { counter: 'tideflow_test_undeclared_total', labels: { workflow: 'wf' } },
      { counter: 'tideflow_test_things_total', labels: { workflow: 'wf' } },
      { counter: 'tideflow_test_things_total', labels: { workflow: 'wf', kind: 'x', extra: '1' } },
      { counter: 'tideflow_test_things_total', labels: { workflow: 'wf', kind: 'x' }, value: -1 },
    ];
    const plugin = { manifest: countingManifest, plugin: { countRun: () => counts } };
    const started: RunEvent = { type: 'started', run: run('r1') };
    const done: RunEvent = { type: 'succeeded', run: run('r1', { status: 'succeeded', finishedAt: 1250, durationMs: 250 }), output: {} };
    for (let i = 0; i < 2; i++) {
      await recorder.record(started, plugin);
      await recorder.record(done, plugin);
    }
    const store = new RedisClusterMetricStore(b, keys);
    expect(await store.read('tideflow_runs_started_total')).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j' }, value: 1 }]);
    expect(await store.read('tideflow_runs_total')).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 1 }]);
    expect(await store.read('tideflow_run_duration_seconds_sum')).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 0.25 }]);
    expect((await store.read('tideflow_test_things_total')).sort((x, y) => x.labels.kind!.localeCompare(y.labels.kind!))).toEqual([
      { labels: { workflow: 'wf', kind: 'x' }, value: 2 },
      { labels: { workflow: 'wf', kind: 'y' }, value: 1 },
    ]);
    // Stored per bucket (its own range only; /metrics adds them up): 50 is in (10, 100].
    const bins = new Map((await store.read('tideflow_test_size_bytes_bin')).map((s) => [s.labels.le, s.value]));
    expect(Object.fromEntries(bins)).toEqual({ '100': 1 });
    expect(await store.read('tideflow_test_size_bytes_count')).toEqual([{ labels: { workflow: 'wf' }, value: 1 }]);
    expect(lines.join('')).toContain('tideflow_test_undeclared_total is not declared in the manifest');
    expect(lines.join('')).toContain('missing kind');
    expect(lines.join('')).toContain('unknown extra');
    expect(lines.join('')).toContain('cannot take -1');
  });

  it('still counts the run when the plugin throws while counting, and never throws itself', async () => {
    const recorder = new RunMetricsRecorder(new RedisClusterMetricStore(a, keys), silentLogger());
    const throwing = { manifest: countingManifest, plugin: { countRun: (): RunCount[] => { throw new Error('bad output'); } } };
    await recorder.record({ type: 'succeeded', run: run('r2', { status: 'succeeded', durationMs: 5 }), output: null }, throwing);
    expect(await new RedisClusterMetricStore(a, keys).read('tideflow_runs_total')).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 1 }]);
    // A Redis that refuses: a warning, no exception into the runner.
    const gone = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    gone.on('error', () => undefined);
    const lines: string[] = [];
    const failing = new RunMetricsRecorder(new RedisClusterMetricStore(gone, keys), pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }));
    await expect(failing.record({ type: 'started', run: run('r3') })).resolves.toBeUndefined();
    expect(lines.join('')).toContain('metrics: could not record a run event');
    gone.disconnect();
  });
});
