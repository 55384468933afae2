import type { FastifyInstance } from 'fastify';
import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { buildAdminApp } from '../../core/api/admin-app.js';
import type { RunEvent } from '../../core/control/engine-events.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { labelSetKey } from '../../core/metrics/cluster-metric-store.js';
import { RedisClusterMetricStore } from '../../core/metrics/redis-cluster-metric-store.js';
import { RUN_DURATION } from '../../core/metrics/run-metrics.js';
import type { AnalysisResult, AnalyzedContainer, SpawnResult } from '../../plugins/shared/records/container-records.js';
import { silentLogger } from '../../core/logging/logger.js';
import { systemClock } from '../../core/di/tokens.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { createDockerClient } from '../../plugins/shared/containers/docker-engine.js';
import { AnalyzerPlugin } from '../../plugins/analyzer/analyzer-plugin.js';
import { SpawnerPlugin } from '../../plugins/spawner/spawner-plugin.js';
import { FakeEngineControl, lifecycleWorkflow } from '../support/fake-engine-control.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { runCounting } from '../support/run-counting.js';

// The counters live in the real Redis, under a fresh prefix per test (the analyzer claims kills there too).
const redis = testRedis();
afterAll(async () => {
  await redis.quit();
});

const WF = 'container-lifecycle';

let control: FakeEngineControl;
let prefix: string;
let store: RedisClusterMetricStore;
let count: ReturnType<typeof runCounting>['count'];
let plugins: ReturnType<typeof containerPlugins>;
let app: FastifyInstance;
let queue: Record<string, number>;
let queuePaused: boolean;
let lastSuccess: Map<string, number>;

/** The container plugins, which contribute the container metrics through their `metrics` hook. */
function containerPlugins() {
  const docker = createDockerClient(process.env.DOCKER_HOST);
  return [
    { manifest: SpawnerPlugin.manifest, plugin: new SpawnerPlugin(docker, systemClock, silentLogger(), loadEngineConfig({ dataDir: '/nonexistent' })) },
    { manifest: AnalyzerPlugin.manifest, plugin: new AnalyzerPlugin(docker, systemClock, redis, new EngineKeys('tideflow')) },
  ];
}

/**
 * What the runner of any process does with a run event: the fake's history
 * sees it, and it is counted in the cluster-wide store with its run's record
 * (with the counts of the plugin that ran it).
 */
async function emit(e: RunEvent): Promise<void> {
  control.emitRun(e);
  await count(e, plugins.find((p) => p.manifest.name === e.run.plugin));
}

beforeEach(async () => {
  control = new FakeEngineControl([lifecycleWorkflow()]);
  prefix = uniquePrefix('metrics');
  ({ store, count } = runCounting(redis, new EngineKeys(prefix)));
  plugins = containerPlugins();
  queue = { waiting: 3, active: 1, delayed: 4, failed: 0 };
  queuePaused = false;
  lastSuccess = new Map();
  app = await buildAdminApp({
    control,
    clusterMetrics: store,
    plugins,
    adminToken: 'metrics-test-token-0123456789',
    queueCounts: async () => queue,
    queuePaused: async () => queuePaused,
    lastSuccesses: async () => lastSuccess,
  });
});

afterEach(async () => {
  await app.close();
  await deletePrefix(redis, prefix);
});

interface Scrape {
  /** Families as the parser reads the exposition. */
  families: Map<string, PromFamily>;
  /**
   * The same text parsed with the histogram TYPE lines dropped, so every
   * `_bucket`/`_sum`/`_count` line keeps its labels. (parse-prometheus-text-format
   * 1.1.1 flattens a histogram's label sets into one, dropping labelled sums and
   * counts; the exposition itself is fine.)
   */
  lines: Map<string, PromSample[]>;
}

async function scrape(target = app): Promise<Scrape> {
  const res = await target.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const parsed = parsePrometheusTextFormat(res.body);
  expect(parsed.length).toBeGreaterThan(10);
  const families = new Map(parsed.map((f) => [f.name, f]));
  const lines = new Map<string, PromSample[]>();
  const flat = res.body.split('\n').filter((l) => !/^# TYPE \S+ histogram$/.test(l)).join('\n');
  for (const f of parsePrometheusTextFormat(flat)) lines.set(f.name, [...(lines.get(f.name) ?? []), ...f.metrics]);
  return { families, lines };
}

const sameLabels = (have: Record<string, string> | undefined, want: Record<string, string>) =>
  Object.keys(have ?? {}).length === Object.keys(want).length && Object.entries(want).every(([k, v]) => have?.[k] === v);

function sample(m: Scrape, name: string, labels: Record<string, string> = {}): PromSample | undefined {
  const fam = m.families.get(name);
  if (!fam) throw new Error(`metric ${name} missing; have ${[...m.families.keys()].join(', ')}`);
  return fam.metrics.find((s) => sameLabels(s.labels, labels));
}

const value = (m: Scrape, name: string, labels: Record<string, string> = {}) => {
  const s = sample(m, name, labels);
  return s?.value === undefined ? undefined : Number(s.value);
};

/** One labelled series of a histogram: buckets by `le`, sum and count. */
function histogram(m: Scrape, name: string, labels: Record<string, string>) {
  expect(m.families.get(name)?.type).toBe('HISTOGRAM');
  const pick = (suffix: string) => m.lines.get(`${name}${suffix}`) ?? [];
  const buckets: Record<string, number> = {};
  for (const b of pick('_bucket')) {
    const { le, ...rest } = b.labels ?? {};
    if (le !== undefined && sameLabels(rest, labels)) buckets[le] = Number(b.value);
  }
  const one = (suffix: string) => {
    const s = pick(suffix).find((x) => sameLabels(x.labels, labels));
    return s === undefined ? undefined : Number(s.value);
  };
  return { buckets, sum: one('_sum'), count: one('_count') };
}

let seq = 0;
function run(job: string, plugin: string, extra: Partial<RunRecord> = {}): RunRecord {
  const startedAt = 1_000_000 + seq * 1000;
  return {
    id: `r${++seq}`,
    workflow: WF,
    job,
    plugin,
    trigger: 'schedule',
    status: 'running',
    attempts: 1,
    queuedAt: startedAt - 5,
    startedAt,
    ...extra,
  };
}

function finished(r: RunRecord, status: 'succeeded' | 'failed', durationMs: number): RunRecord {
  return { ...r, status, finishedAt: (r.startedAt ?? 0) + durationMs, durationMs };
}

function spawnOutput(runId: string, classes: Array<'high' | 'low'>): SpawnResult {
  return {
    kind: 'spawn',
    runId,
    workflow: WF,
    time: Date.now(),
    created: classes.map((c, i) => ({ id: `c${runId}${i}`, name: `tf-${runId}-${i}`, image: c === 'high' ? 'tideflow/cpu-hog' : 'tideflow/sleeper', class: c })),
    skipped: null,
    durationMs: 1800,
  };
}

function container(cls: 'high' | 'low', decision: AnalyzedContainer['decision'], killError?: string): AnalyzedContainer {
  return {
    id: Math.random().toString(16).slice(2),
    name: 'x',
    image: 'tideflow/ticker',
    class: cls,
    classSource: 'label',
    cpuPct: 1,
    memBytes: 1000,
    decision,
    reason: 'policy',
    ...(killError ? { killError } : {}),
  };
}

function analysisOutput(runId: string, containers: AnalyzedContainer[], durationMs: number, dryRun = false): AnalysisResult {
  return {
    kind: 'analysis',
    runId,
    workflow: WF,
    time: Date.now(),
    hostMemory: { totalBytes: 1, freeBytes: 1, availableBytes: 1, usedBytes: 0 },
    metricSource: 'cgroup',
    dryRun,
    containers,
    durationMs,
  };
}

describe('/metrics', () => {
  it('parses with a real Prometheus parser and has process, queue and engine families before any run', async () => {
    const m = await scrape();
    expect(m.families.get('process_cpu_user_seconds_total')?.type).toBe('COUNTER');
    expect(m.families.get('process_resident_memory_bytes')?.type).toBe('GAUGE');
    expect(m.families.get('nodejs_eventloop_lag_seconds')?.type).toBe('GAUGE');
    expect(m.families.get('tideflow_runs_total')?.type).toBe('COUNTER');
    expect(m.families.get('tideflow_queue_jobs')?.type).toBe('GAUGE');
    for (const name of [
      'tideflow_runs_total',
      'tideflow_runs_started_total',
      'tideflow_run_duration_seconds',
      'tideflow_containers_spawned_total',
      'tideflow_containers_killed_total',
      'tideflow_analyzer_duration_seconds',
      'tideflow_queue_jobs',
    ]) {
      expect(m.families.has(name), name).toBe(true);
    }
    expect(value(m, 'tideflow_queue_jobs', { state: 'waiting' })).toBe(3);
    expect(value(m, 'tideflow_queue_jobs', { state: 'delayed' })).toBe(4);
    expect(value(m, 'tideflow_queue_jobs', { state: 'failed' })).toBe(0);
  });

  it('counts runs by workflow/job/status, durations, spawned and killed containers by class, analyzer duration', async () => {
    // spawn #1 succeeds: 3 high + 2 low.
    const s1 = run('spawn', 'spawner');
    await emit({ type: 'started', run: s1 });
    await emit({ type: 'succeeded', run: finished(s1, 'succeeded', 1500), output: spawnOutput(s1.id, ['high', 'high', 'high', 'low', 'low']) });
    // The same event again (a duplicate delivery, a retried record): counted once.
    await emit({ type: 'succeeded', run: finished(s1, 'succeeded', 1500), output: spawnOutput(s1.id, ['high', 'high', 'high', 'low', 'low']) });
    // The chained log job returns/forwards the same spawn result: must not count twice.
    const l1 = run('log', 'logger', { trigger: 'chain', causedBy: s1.id });
    await emit({ type: 'started', run: l1 });
    await emit({ type: 'succeeded', run: finished(l1, 'succeeded', 20), output: spawnOutput(s1.id, ['high', 'high', 'high', 'low', 'low']) });
    // spawn #2: first attempt fails and retries, then a final failure.
    const s2 = run('spawn', 'spawner');
    await emit({ type: 'started', run: s2 });
    await emit({ type: 'failed', run: finished(s2, 'failed', 300), willRetry: true, error: 'docker busy' });
    await emit({ type: 'started', run: { ...s2, attempts: 2 } });
    await emit({ type: 'failed', run: finished({ ...s2, attempts: 2 }, 'failed', 7000), willRetry: false, error: 'docker down' });
    // analyze: kills 2 high + 1 low, one failed kill (low), keeps/protects others.
    const a1 = run('analyze', 'analyzer');
    await emit({ type: 'started', run: a1 });
    await emit({
      type: 'succeeded',
      run: finished(a1, 'succeeded', 40),
      output: analysisOutput(
        a1.id,
        [
          container('high', 'kept'),
          container('high', 'killed'),
          container('high', 'killed'),
          container('low', 'killed'),
          container('low', 'killed', 'no such container... permission denied'),
          container('low', 'protected'),
          container('low', 'kept'),
        ],
        35,
      ),
    });
    // A dry-run analysis decides "killed" but kills nothing; its duration still counts.
    const a2 = run('analyze', 'analyzer');
    await emit({ type: 'succeeded', run: finished(a2, 'succeeded', 12), output: analysisOutput(a2.id, [container('high', 'killed')], 8, true) });
    // Outputs that are not container records are ignored.
    const c1 = run('chart', 'charts');
    await emit({ type: 'succeeded', run: finished(c1, 'succeeded', 200), output: { files: ['memory.png'] } });
    await emit({ type: 'succeeded', run: finished(run('chart', 'charts'), 'succeeded', 250), output: null });

    queue = { waiting: 0, active: 2, delayed: 4, failed: 1 };
    const m = await scrape();

    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'spawn', status: 'succeeded' })).toBe(1);
    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'spawn', status: 'retrying' })).toBe(1);
    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'spawn', status: 'failed' })).toBe(1);
    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'log', status: 'succeeded' })).toBe(1);
    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'analyze', status: 'succeeded' })).toBe(2);
    expect(value(m, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'chart', status: 'succeeded' })).toBe(2);
    expect(value(m, 'tideflow_runs_started_total', { workflow: WF, tideflow_job: 'spawn' })).toBe(3);
    expect(value(m, 'tideflow_runs_started_total', { workflow: WF, tideflow_job: 'analyze' })).toBe(1);

    const spawnOk = histogram(m, 'tideflow_run_duration_seconds', { workflow: WF, tideflow_job: 'spawn', status: 'succeeded' });
    expect(spawnOk.count).toBe(1);
    expect(spawnOk.sum).toBeCloseTo(1.5, 6);
    expect(spawnOk.buckets['1']).toBe(0);
    expect(spawnOk.buckets['2.5']).toBe(1);
    expect(spawnOk.buckets['+Inf']).toBe(1);
    const spawnFailed = histogram(m, 'tideflow_run_duration_seconds', { workflow: WF, tideflow_job: 'spawn', status: 'failed' });
    expect(spawnFailed.sum).toBeCloseTo(7, 6);
    expect(spawnFailed.buckets['5']).toBe(0);
    expect(spawnFailed.buckets['10']).toBe(1);
    const retrying = histogram(m, 'tideflow_run_duration_seconds', { workflow: WF, tideflow_job: 'spawn', status: 'retrying' });
    expect(retrying.sum).toBeCloseTo(0.3, 6);
    const charts = histogram(m, 'tideflow_run_duration_seconds', { workflow: WF, tideflow_job: 'chart', status: 'succeeded' });
    expect(charts.count).toBe(2);
    expect(charts.sum).toBeCloseTo(0.45, 6);

    expect(value(m, 'tideflow_containers_spawned_total', { workflow: WF, class: 'high' })).toBe(3);
    expect(value(m, 'tideflow_containers_spawned_total', { workflow: WF, class: 'low' })).toBe(2);
    expect(value(m, 'tideflow_containers_killed_total', { workflow: WF, class: 'high' })).toBe(2);
    expect(value(m, 'tideflow_containers_killed_total', { workflow: WF, class: 'low' })).toBe(1);
    expect(value(m, 'tideflow_container_kill_errors_total', { workflow: WF, class: 'low' })).toBe(1);

    const analyzer = histogram(m, 'tideflow_analyzer_duration_seconds', { workflow: WF });
    expect(analyzer.count).toBe(2);
    expect(analyzer.sum).toBeCloseTo(0.043, 6);
    expect(analyzer.buckets['0.005']).toBe(0);
    expect(analyzer.buckets['0.01']).toBe(1);
    expect(analyzer.buckets['0.05']).toBe(2);
    expect(analyzer.buckets['+Inf']).toBe(2);

    expect(value(m, 'tideflow_queue_jobs', { state: 'waiting' })).toBe(0);
    expect(value(m, 'tideflow_queue_jobs', { state: 'active' })).toBe(2);
    expect(value(m, 'tideflow_queue_jobs', { state: 'failed' })).toBe(1);
  });

  it('adds the stored per-bucket counts up into cumulative buckets, with counts an earlier version stored cumulatively', async () => {
    const labels = { workflow: WF, tideflow_job: 'spawn', status: 'succeeded' };
    const keys = new EngineKeys(prefix);
    // What versions that stored cumulative buckets left: two runs, 0.3 s and 4 s (each in every bucket it is under).
    for (const seconds of [0.3, 4]) {
      for (const le of [...RUN_DURATION.buckets.filter((b) => seconds <= b).map(String), '+Inf']) {
        await redis.hincrbyfloat(keys.metricSamples('tideflow_run_duration_seconds_bucket'), labelSetKey({ ...labels, le }), 1);
      }
    }
    await redis.hset(keys.metricSamples('tideflow_run_duration_seconds_sum'), labelSetKey(labels), '4.3');
    await redis.hset(keys.metricSamples('tideflow_run_duration_seconds_count'), labelSetKey(labels), '2');
    // Then this version: 0.004 s, 0.3 s, 400 s (above the last bound).
    for (const ms of [4, 300, 400_000]) {
      const r = run('spawn', 'spawner');
      await emit({ type: 'succeeded', run: finished(r, 'succeeded', ms), output: null });
    }
    const stored = await store.read('tideflow_run_duration_seconds_bin');
    expect(Object.fromEntries(stored.map((s) => [s.labels.le, s.value]))).toEqual({ '0.005': 1, '0.5': 1 });

    const h = histogram(await scrape(), 'tideflow_run_duration_seconds', labels);
    expect(h.count).toBe(5);
    expect(h.sum).toBeCloseTo(4.3 + 0.004 + 0.3 + 400, 6);
    expect(h.buckets).toEqual({ '0.005': 1, '0.01': 1, '0.025': 1, '0.05': 1, '0.1': 1, '0.25': 1, '0.5': 3, '1': 3, '2.5': 3, '5': 4, '10': 4, '30': 4, '60': 4, '120': 4, '300': 4, '+Inf': 5 });
  });

  it('names no label job, instance, __*, and le/quantile only where Prometheus expects them', async () => {
    // Samples of every family, so the label check also covers plugin metrics with data.
    const s1 = run('spawn', 'spawner');
    await emit({ type: 'succeeded', run: finished(s1, 'succeeded', 10), output: spawnOutput(s1.id, ['high']) });
    const res = await app.inject({ url: '/metrics' });
    const labelNames = new Map<string, Set<string>>();
    for (const line of res.body.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} /.exec(line);
      if (!m) continue;
      const names = [...m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)].map((x) => x[1]!);
      for (const n of names) labelNames.set(n, (labelNames.get(n) ?? new Set()).add(m[1]!));
    }
    expect(labelNames.get('tideflow_job')?.has('tideflow_runs_total')).toBe(true);
    for (const reserved of ['job', 'instance', 'exported_job', 'quantile']) expect(labelNames.get(reserved), reserved).toBeUndefined();
    expect([...labelNames.keys()].filter((n) => n.startsWith('__'))).toEqual([]);
    expect([...(labelNames.get('le') ?? [])].every((metric) => metric.endsWith('_bucket'))).toBe(true);
  });

  it('has per-job paused, scheduled, last success and scheduler lag, and whether the queue is paused', async () => {
    lastSuccess.set(`${WF}/spawn`, 1_700_000_000_500);
    let m = await scrape();
    const job = (j: string) => ({ workflow: WF, tideflow_job: j });
    expect(value(m, 'tideflow_job_paused', job('spawn'))).toBe(0);
    expect(value(m, 'tideflow_job_paused', job('log'))).toBe(0);
    expect(value(m, 'tideflow_job_last_success_timestamp_seconds', job('spawn'))).toBe(1_700_000_000.5);
    expect(sample(m, 'tideflow_job_last_success_timestamp_seconds', job('analyze'))).toBeUndefined();
    expect(value(m, 'tideflow_job_scheduled', job('spawn'))).toBe(1);
    // A job reached only through `then` has no schedule, so no scheduled/lag series.
    expect(sample(m, 'tideflow_job_scheduled', job('log'))).toBeUndefined();
    // The fake's next fire is now + interval: lag is about minus the interval.
    expect(value(m, 'tideflow_scheduler_lag_seconds', job('spawn'))).toBeGreaterThan(-60.5);
    expect(value(m, 'tideflow_scheduler_lag_seconds', job('spawn'))).toBeLessThanOrEqual(-59);
    expect(value(m, 'tideflow_scheduler_lag_seconds', job('analyze'))).toBeLessThanOrEqual(-9);
    expect(sample(m, 'tideflow_scheduler_lag_seconds', job('log'))).toBeUndefined();
    expect(value(m, 'tideflow_queue_paused')).toBe(0);

    await control.pause({ workflow: WF, job: 'spawn' });
    queuePaused = true;
    m = await scrape();
    expect(value(m, 'tideflow_job_paused', job('spawn'))).toBe(1);
    expect(value(m, 'tideflow_job_paused', job('analyze'))).toBe(0);
    expect(value(m, 'tideflow_job_scheduled', job('spawn'))).toBe(0);
    expect(sample(m, 'tideflow_scheduler_lag_seconds', job('spawn'))).toBeUndefined();
    expect(value(m, 'tideflow_queue_paused')).toBe(1);
  });

  it('reads host memory through the analyzer plugin', async () => {
    const m = await scrape();
    const total = value(m, 'tideflow_host_memory_total_bytes')!;
    const used = value(m, 'tideflow_host_memory_used_bytes')!;
    const free = value(m, 'tideflow_host_memory_free_bytes')!;
    expect(total).toBeGreaterThan(0);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(total);
    expect(free).toBeLessThan(total);
  });

  it('still answers when the queue counts callback fails', async () => {
    await app.close();
    app = await buildAdminApp({
      control,
      adminToken: 'metrics-test-token-0123456789',
        queueCounts: async () => {
        throw new Error('redis gone');
      },
    });
    const m = await scrape();
    expect(m.families.get('tideflow_queue_jobs')?.metrics ?? []).toEqual([]);
  });

  it('two apps keep separate registries; apps on one store show the same cluster-wide counts', async () => {
    const other = new FakeEngineControl([lifecycleWorkflow()]);
    // Another engine's store (its own prefix): none of these runs.
    const otherPrefix = uniquePrefix('metrics');
    const second = await buildAdminApp({
      control: other,
      clusterMetrics: new RedisClusterMetricStore(redis, new EngineKeys(otherPrefix)),
      plugins: containerPlugins(),
      adminToken: 'second-app-token-0123456789',
    });
    // The same store read over another connection, as an API process elsewhere would.
    const conn = testRedis();
    const third = await buildAdminApp({ control: other, clusterMetrics: new RedisClusterMetricStore(conn, new EngineKeys(prefix)), plugins: containerPlugins(), adminToken: 'third-app-token-0123456789' });
    try {
      const r = run('spawn', 'spawner');
      await emit({ type: 'succeeded', run: finished(r, 'succeeded', 10), output: spawnOutput(r.id, ['low']) });
      const first = await scrape();
      const secondM = await scrape(second);
      const thirdM = await scrape(third);
      expect(value(first, 'tideflow_containers_spawned_total', { workflow: WF, class: 'low' })).toBe(1);
      expect(sample(secondM, 'tideflow_containers_spawned_total', { workflow: WF, class: 'low' })).toBeUndefined();
      expect(value(thirdM, 'tideflow_containers_spawned_total', { workflow: WF, class: 'low' })).toBe(1);
      expect(value(thirdM, 'tideflow_runs_total', { workflow: WF, tideflow_job: 'spawn', status: 'succeeded' })).toBe(1);
      expect(secondM.families.has('process_cpu_user_seconds_total')).toBe(true);
    } finally {
      await second.close();
      await third.close();
      await conn.quit();
      await deletePrefix(redis, otherPrefix);
    }
  });

  it('shows no cluster-wide series and warns, within the scrape timeout, when Redis does not answer', async () => {
    const r = run('spawn', 'spawner');
    await emit({ type: 'succeeded', run: finished(r, 'succeeded', 10), output: spawnOutput(r.id, ['low']) });
    await app.close();
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    // Nothing listens there: ioredis queues the reads and reconnects forever, as when Redis is gone.
    const gone = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: null, retryStrategy: () => 100 });
    gone.on('error', () => undefined);
    try {
      app = await buildAdminApp({ control, clusterMetrics: new RedisClusterMetricStore(gone, new EngineKeys(prefix)), plugins, adminToken: 'metrics-test-token-0123456789', logger: log });
      const t0 = Date.now();
      const m = await scrape();
      expect(Date.now() - t0).toBeLessThan(6_000);
      // Families declared, no sample: never a false 0.
      for (const name of ['tideflow_runs_total', 'tideflow_runs_started_total', 'tideflow_run_duration_seconds', 'tideflow_containers_spawned_total', 'tideflow_containers_killed_total', 'tideflow_analyzer_duration_seconds']) {
        expect(m.families.has(name), name).toBe(true);
        expect(m.families.get(name)?.metrics ?? [], name).toEqual([]);
      }
      expect(warnings.join('')).toContain('metrics: tideflow_runs_total unavailable');
      expect(warnings.join('')).toContain('metrics: tideflow_containers_spawned_total unavailable');
    } finally {
      gone.disconnect();
    }
  });
});
