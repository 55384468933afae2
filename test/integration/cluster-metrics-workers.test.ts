import parsePrometheusTextFormat, { type PromSample } from 'parse-prometheus-text-format';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../core/history/run-record.js';
import { RECORD_PLUGIN, startCli, stopChild } from '../support/cli-process.js';
import { pollUntil } from '../support/poll.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { readRecorded, RECORDED_RUNS } from '../support/test-plugins.js';
import { startTestEngine, waitFor, writeWorkflows } from '../support/test-engine.js';

const redis = testRedis();
const prefix = uniquePrefix('cluster');
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const WF = 'counted';

/**
 * Sums the samples of one family of /metrics for this workflow, by the value
 * of one label (or all together under ''). Histograms' TYPE lines are dropped
 * first, so `_count` reads as its own family with its labels (the parser
 * flattens a histogram's label sets).
 */
async function scrape(url: string): Promise<(name: string, by?: string) => Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const flat = text.split('\n').filter((l) => !/^# TYPE \S+ histogram$/.test(l)).join('\n');
  // Without its TYPE, the parser may split a family into several of the same name: joined again.
  const samples = new Map<string, PromSample[]>();
  for (const f of parsePrometheusTextFormat(flat)) samples.set(f.name, [...(samples.get(f.name) ?? []), ...f.metrics]);
  return (name, by) => {
    const out = new Map<string, number>();
    const family = samples.get(name);
    if (!family) throw new Error(`no ${name} in /metrics`);
    for (const m of family) {
      if (m.labels?.workflow !== WF) continue;
      const k = by ? (m.labels[by] ?? '') : '';
      out.set(k, (out.get(k) ?? 0) + Number(m.value));
    }
    return out;
  };
}

/**
 * The process serving /metrics runs only some of the runs: an engine
 * (concurrency 1) and two `tideflow worker` processes share the work, and
 * /metrics counts every run of all three, as the run history does.
 */
describe('/metrics with an engine and two worker processes', () => {
  it('counts the runs, attempts, durations and plugin counts of every process, as the run history has them', async () => {
    const key = `rec:${prefix}`;
    // Each fire of `slow` outlasts the period, so the engine alone could not keep up. `flaky` fails its
    // first attempt; it is triggered by hand (a paused job's scheduled retry would be dropped).
    const dir = writeWorkflows({
      [`${WF}.json`]: {
        name: WF,
        jobs: {
          slow: { plugin: 'record', every: '1s', overlap: 'allow', config: { key, sleepMs: 2500 }, then: ['after'] },
          flaky: { plugin: 'record', manual: true, retry: { attempts: 2, backoff: 'fixed', delay: '100ms' }, config: { key, failTimes: 1 } },
          after: { plugin: 'record', config: { key } },
        },
      },
    });
    const { engine } = await startTestEngine({ workflows: {}, dir, prefix, config: { concurrency: 1, hostName: 'engine' }, options: { api: true } });
    const workers: Array<Awaited<ReturnType<typeof startCli>>> = [];
    try {
      await Promise.all(
        ['worker-1', 'worker-2'].map(async (host) =>
          workers.push(await startCli(['worker'], { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_CONCURRENCY: '2', TIDEFLOW_HOST_NAME: host }, /worker ready/)),
        ),
      );
      const workerPids = workers.map((w) => String(w.child.pid));
      for (let i = 0; i < 6; i++) await engine.engineControl.trigger(WF, 'flaky');
      await waitFor(async () => {
        const pids = new Set((await readRecorded(redis, key)).map((r) => String(r.pid)));
        return pids.has(String(process.pid)) && workerPids.every((p) => pids.has(p)) && pids.size === 3;
      }, 'runs in the engine and both workers', 40_000);
      // Stop the schedules; let the runs in flight, their retries and their successors finish.
      await engine.engineControl.pause({ workflow: WF });
      const history = async () => (await engine.engineControl.listRuns({ workflow: WF, limit: 1000 })).runs;
      const runs: RunRecord[] = await pollUntil(history, (rs) => rs.length > 0 && rs.every((r) => r.status === 'succeeded' || r.status === 'failed'), 30_000, 100);
      expect(runs.filter((r) => r.status !== 'succeeded').map((r) => `${r.id}: ${r.status}`)).toEqual([]);

      // Every process ran some: the history says which host, the test plugin which pid.
      expect(new Set(runs.map((r) => r.host))).toEqual(new Set(['engine', 'worker-1', 'worker-2']));
      const attempts = runs.reduce((n, r) => n + r.attempts, 0);
      const retried = runs.reduce((n, r) => n + r.attempts - 1, 0);
      expect(retried).toBe(runs.filter((r) => r.job === 'flaky').length);
      expect(retried).toBeGreaterThan(0);

      const m = await scrape(engine.url!);
      const finished = m('tideflow_runs_total', 'status');
      expect(Object.fromEntries(finished)).toEqual({ succeeded: runs.length, retrying: retried });
      expect(m('tideflow_runs_started_total').get('')).toBe(attempts);
      expect(m('tideflow_run_duration_seconds_count').get('')).toBe(attempts);
      const perJob = m('tideflow_runs_total', 'tideflow_job');
      for (const job of ['slow', 'flaky', 'after']) {
        const inHistory = runs.filter((r) => r.job === job).reduce((n, r) => n + r.attempts, 0);
        expect({ job, counted: perJob.get(job) }).toEqual({ job, counted: inHistory });
      }

      // The plugin's own counter: one per succeeded run, by the pid that ran it, as the plugin's records say.
      const byPid = m(RECORDED_RUNS.name, 'pid');
      const recorded = await readRecorded(redis, key);
      const succeededAttempts = new Map<string, number>();
      for (const r of recorded) if (!(r.job === 'flaky' && r.attempt === 1)) succeededAttempts.set(String(r.pid), (succeededAttempts.get(String(r.pid)) ?? 0) + 1);
      expect(Object.fromEntries(byPid)).toEqual(Object.fromEntries(succeededAttempts));
      expect([...byPid.values()].reduce((a, b) => a + b, 0)).toBe(runs.length);
      for (const pid of workerPids) expect(byPid.get(pid), `worker ${pid}`).toBeGreaterThan(0);
      console.log('cluster metrics', { runs: runs.length, attempts, retried, byHost: Object.fromEntries(['engine', 'worker-1', 'worker-2'].map((h) => [h, runs.filter((r) => r.host === h).length])) });
    } finally {
      for (const w of workers) expect(await stopChild(w.child)).toBe(0);
      await engine.stop();
    }
  });
});
