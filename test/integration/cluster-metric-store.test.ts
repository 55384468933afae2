import { pino } from 'pino';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineMetrics } from '../../core/api/metrics/engine-metrics.js';
import type { RunEvent } from '../../core/control/engine-events.js';
import type { RunRecord } from '../../core/history/run-record.js';
import type { EventIncrements } from '../../core/metrics/cluster-metric-store.js';
import { RedisClusterMetricStore } from '../../core/metrics/redis-cluster-metric-store.js';
import type { PluginManifest, RunCount } from '../../core/plugin/plugin.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { runCounting } from '../support/run-counting.js';

/**
 * The cluster-wide counters in a real Redis, counted as the runner counts
 * them (with the run records that carry them, see test/support/run-counting.ts):
 * once per (run, attempt, event) whoever writes it and however often.
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

const inc = (labels: Record<string, string>, by = 1) => [{ sample: 'tideflow_test_things_total', labels, by }];

async function total(store: RedisClusterMetricStore, sample = 'tideflow_test_things_total'): Promise<number> {
  return (await store.read(sample)).reduce((sum, s) => sum + s.value, 0);
}

function run(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return { id, workflow: 'wf', job: 'j', plugin: 'counting', trigger: 'manual', status: 'running', attempts: 1, queuedAt: 1, startedAt: 1000, ...extra };
}

/** A finished attempt's record, and its finish counted with `increments`. */
function finished(id: string, attempt: number, increments: EventIncrements['increments']): [RunRecord, EventIncrements] {
  return [run(id, { status: 'succeeded', attempts: attempt }), { event: { runId: id, attempt, event: 'finished' }, increments }];
}

describe('RedisClusterMetricStore', () => {
  it('counts the same event once, however often it is written; an event behind its run\'s record counts nothing', async () => {
    const { countAs, store, history } = runCounting(a, keys);
    const labels = { workflow: 'wf', class: 'high' };
    await countAs(...finished('r1', 1, inc(labels, 3)));
    await countAs(...finished('r1', 1, inc(labels, 3)));
    // From another connection too (another process's duplicate).
    await runCounting(b, keys).countAs(...finished('r1', 1, inc(labels, 3)));
    expect(await store.read('tideflow_test_things_total')).toEqual([{ labels, value: 3 }]);
    // A later attempt, or another run, does count.
    await countAs(...finished('r1', 2, inc(labels)));
    await countAs(...finished('r2', 1, inc(labels)));
    expect(await total(store)).toBe(5);
    // The start of attempt 2, written after its finish (a late write): neither counted nor saved over the record.
    await countAs(run('r1', { attempts: 2 }), { event: { runId: 'r1', attempt: 2, event: 'started' }, increments: inc(labels) });
    expect(await total(store)).toBe(5);
    expect((await history.get('r1'))?.status).toBe('succeeded');
    // No marker keys: a run's record says how far it is counted.
    expect((await a.keys(`${prefix}:*`)).filter((k) => k.includes('counted'))).toEqual([]);
  });

  it('sums concurrent writes from two connections exactly, duplicates racing included', async () => {
    const counting = [runCounting(a, keys), runCounting(b, keys)];
    const labels = { workflow: 'wf' };
    const N = 300;
    // Each connection counts its own N runs, and both race to count N shared ones.
    await Promise.all(
      counting.flatMap(({ countAs }, i) => [
        ...Array.from({ length: N }, (_, n) => countAs(...finished(`own-${i}-${n}`, 1, inc(labels)))),
        ...Array.from({ length: N }, (_, n) => countAs(...finished(`shared-${n}`, 1, [...inc(labels), { sample: 'tideflow_test_seconds_sum', labels, by: 0.1 }]))),
      ]),
    );
    expect(await total(counting[0]!.store)).toBe(3 * N);
    expect(await total(counting[1]!.store, 'tideflow_test_seconds_sum')).toBeCloseTo(N * 0.1, 9);
  });

  it('round-trips label values with quotes, backslashes, newlines, separators and unicode, through /metrics too', async () => {
    const { countAs, store } = runCounting(a, keys);
    const odd = ['say "hi"', 'back\\slash', 'two\nlines', 'a=b,c={d}', '', 'ünïcødé ✓ 🚀', '["json",1]', ' spaced '];
    for (const [n, value] of odd.entries()) {
      await countAs(...finished(`odd-${n}`, 1, [{ sample: 'tideflow_runs_started_total', labels: { workflow: value, tideflow_job: `j${n}` }, by: n + 1 }]));
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

describe('RunIncrements', () => {
  it('counts the run counters and the plugin counts of an event once, and drops counts that do not fit their declaration', async () => {
    const lines: string[] = [];
    const { count } = runCounting(a, keys, pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }));
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
      await count(started, plugin);
      await count(done, plugin);
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

  it('still counts the run when the plugin throws while counting', async () => {
    const lines: string[] = [];
    const { count, store } = runCounting(a, keys, pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) }));
    const throwing = { manifest: countingManifest, plugin: { countRun: (): RunCount[] => { throw new Error('bad output'); } } };
    await count({ type: 'succeeded', run: run('r2', { status: 'succeeded', durationMs: 5 }), output: null }, throwing);
    expect(await store.read('tideflow_runs_total')).toEqual([{ labels: { workflow: 'wf', tideflow_job: 'j', status: 'succeeded' }, value: 1 }]);
    expect(lines.join('')).toContain('metrics: a plugin could not count a run');
  });
});
