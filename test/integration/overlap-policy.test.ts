import { describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { readRecorded } from '../support/test-plugins.js';
import { metricValue } from '../support/metric-series.js';
import { testEngines, waitFor } from '../support/test-engine.js';

const engines = testEngines();
const redis = engines.redis;

const SLOW_MS = 2_500;

/** A job firing every second whose runs take 2.5 s, on an engine with room for several at once. */
async function slowEveryJob(
  name: string,
  overlap?: 'skip' | 'allow' | 'queue' | 'cancel-previous',
  job: { every?: string; then?: string[]; config?: Record<string, unknown> } = {},
  jobs: (key: string) => Record<string, unknown> = () => ({}),
) {
  const key = `rec:${Date.now()}:${name}`;
  const { config, ...rest } = job;
  const slow = { plugin: 'record', every: '1s', config: { key, sleepMs: SLOW_MS, ...config }, ...(overlap ? { overlap } : {}), ...rest };
  const started = await engines.start({
    workflows: { [`${name}.json`]: { name, jobs: { slow, ...jobs(key) } } },
    config: { concurrency: 8, adminToken: 'overlap-test-token-0123456789abcdef' },
    options: { api: true },
  });
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
    // /metrics counts exactly the skipped fires the history holds (a fire in flight at the pause may still land: both are read again).
    const series = { workflow: 'overlap-skip', tideflow_job: 'slow' };
    await waitFor(async () => {
      const total = (await engine.engineControl.listRuns({ workflow: 'overlap-skip', status: 'skipped', limit: 1, offset: 0 })).total;
      return (await metricValue(engine.app!, 'tideflow_fires_skipped_total', series)) === total;
    }, 'tideflow_fires_skipped_total to equal the skipped records');
    expect(await metricValue(engine.app!, 'tideflow_run_waits_total', { ...series, for: 'previous-run' })).toBe(0);
  });

  it('allow: fires run alongside the previous run', async () => {
    const { engine, key } = await slowEveryJob('overlap-allow', 'allow');
    await waitFor(async () => (await readRecorded(redis, key)).length >= 3, 'three runs', 20_000);
    await engine.engineControl.pause({ workflow: 'overlap-allow' });
    const starts = (await readRecorded(redis, key)).map((r) => r.at).sort((a, b) => a - b);
    expect(starts[2]! - starts[0]!).toBeLessThan(SLOW_MS);
    expect((await runsOf(engine, 'overlap-allow')).filter((r) => r.status === 'skipped')).toEqual([]);
  });

  it('queue: a fire that comes while the previous run goes runs right after it, in fire order; at most one waits, later ones are recorded skipped', async () => {
    const { engine, key } = await slowEveryJob('overlap-queue', 'queue', { config: {} }, () => ({ limited: { plugin: 'record', manual: true, concurrency: 3, config: { key: 'unused' } } }));
    const served = await engine.engineControl.getWorkflow('overlap-queue');
    expect(served.jobs.map((j) => [j.job, j.overlap, j.concurrency])).toEqual([['slow', 'queue', undefined], ['limited', undefined, 3]]);
    // While a run goes, the next fire is visible as queued and waiting for it.
    const waiting = await waitFor(
      async () => (await runsOf(engine, 'overlap-queue')).find((r) => r.status === 'queued' && r.waiting?.for === 'previous-run'),
      'a fire waiting for the previous run',
      20_000,
    );
    expect(waiting.waiting!.reason).toMatch(/^waits for run overlap-queue\.slow\.\d+ of this job to end \(overlap "queue"\)$/);
    await waitFor(async () => (await readRecorded(redis, key)).length >= 4, 'four runs', 30_000);
    await engine.engineControl.pause({ workflow: 'overlap-queue' });
    // The fire waiting when the pause came is dropped (a paused job never fires); wait until nothing is going or waiting.
    const runs = await waitFor(async () => {
      const all = await runsOf(engine, 'overlap-queue');
      return all.every((r) => r.status !== 'running' && r.status !== 'queued') ? all : undefined;
    }, 'the last runs to finish', 20_000);
    const recorded = await readRecorded(redis, key);
    const ran = runs.filter((r) => r.status === 'succeeded').sort((a, b) => a.startedAt! - b.startedAt!);
    expect(ran.length).toBe(recorded.length);
    for (let i = 1; i < ran.length; i++) {
      const [prev, next] = [ran[i - 1]!, ran[i]!];
      // Never alongside: each starts after the previous one finished ...
      expect(next.startedAt!).toBeGreaterThanOrEqual(prev.finishedAt!);
      // ... and right after it (it was waiting), not at its own next fire.
      expect(next.startedAt! - prev.finishedAt!).toBeLessThan(1_500);
      // Fire order kept: run ids end with the fire time.
      expect(fireTime(next.id)).toBeGreaterThan(fireTime(prev.id));
      expect(next.attempts).toBe(1);
    }
    const droppedByPause = runs.filter((r) => r.error === 'skipped: its job was paused while the fire waited');
    expect(droppedByPause.length).toBeLessThanOrEqual(1);
    const skipped = runs.filter((r) => r.status === 'skipped' && !droppedByPause.includes(r));
    // A fire every second, runs of 2.5 s, one waiting at most: about one fire in two is skipped.
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    for (const s of skipped) expect(s.error).toMatch(/^skipped: fire overlap-queue\.slow\.\d+ already waits for run overlap-queue\.slow\.\d+ \(overlap "queue" keeps at most one waiting fire per job\)$/);
    // /metrics: every skipped record counted once (overflow and the one dropped by the pause); each run that ran after waiting counted once.
    const series = { workflow: 'overlap-queue', tideflow_job: 'slow' };
    expect(await metricValue(engine.app!, 'tideflow_fires_skipped_total', series)).toBe(runs.filter((r) => r.status === 'skipped').length);
    const waits = await metricValue(engine.app!, 'tideflow_run_waits_total', { ...series, for: 'previous-run' });
    // All but the first run waited for the one before (they ran right after it), and so might the one the pause dropped.
    expect(waits).toBeGreaterThanOrEqual(ran.length - 1);
    expect(waits).toBeLessThanOrEqual(ran.length + droppedByPause.length);
  });

  it('cancel-previous: a new fire aborts the running run (its plugin sees the signal, it ends cancelled, its successors never start), then runs', async () => {
    // The plugin ignores its signal (it sleeps on): the runner ends the attempt anyway.
    const { engine, key } = await slowEveryJob('overlap-cancel', 'cancel-previous', { every: '2s', then: ['after'], config: { sleepMs: 5_000, recordAbort: true } }, (k) => ({
      after: { plugin: 'record', config: { key: `${k}:after` } },
    }));
    const wf = 'overlap-cancel';
    const cancelled = await waitFor(async () => {
      const c = (await runsOf(engine, wf)).filter((r) => r.status === 'cancelled');
      return c.length >= 3 ? c : undefined;
    }, 'three cancelled runs', 40_000);
    await engine.engineControl.pause({ workflow: wf });
    const runs = await waitFor(async () => {
      const all = await runsOf(engine, wf);
      return all.every((r) => r.status !== 'running' && r.status !== 'queued') ? all : undefined;
    }, 'the last run to finish', 30_000);
    const byId = new Map(runs.map((r) => [r.id, r]));
    const aborted = (await redis.lrange(`${key}:aborted`, 0, -1)).map((s) => JSON.parse(s) as { runId: string; reason: string });
    for (const c of cancelled) {
      const m = /^cancelled: replaced by fire (overlap-cancel\.slow\.\d+) \(overlap "cancel-previous"\)$/.exec(c.error ?? '');
      expect(m, c.error).not.toBeNull();
      const replacement = byId.get(m![1]!);
      expect(replacement, `run ${m![1]} that replaced ${c.id}`).toBeDefined();
      // The new fire ran once the old run had ended, never alongside it.
      expect(fireTime(replacement!.id)).toBeGreaterThan(fireTime(c.id));
      if (replacement!.startedAt !== undefined) expect(replacement!.startedAt).toBeGreaterThanOrEqual(c.finishedAt!);
      // Its plugin saw its AbortSignal, with the reason.
      expect(aborted).toContainEqual({ runId: c.id, reason: c.error });
      // Its successor never started.
      expect(runs.filter((r) => r.job === 'after' && r.causedBy === c.id)).toEqual([]);
    }
    // The runs that were not replaced succeeded and started their successor.
    const last = runs.filter((r) => r.job === 'slow' && r.status === 'succeeded');
    for (const r of last) expect(runs.some((a) => a.job === 'after' && a.causedBy === r.id)).toBe(true);
    // Never two runs at once.
    const slow = runs.filter((r) => r.job === 'slow' && r.startedAt !== undefined).sort((a, b) => a.startedAt! - b.startedAt!);
    for (let i = 1; i < slow.length; i++) expect(slow[i]!.startedAt!).toBeGreaterThanOrEqual(slow[i - 1]!.finishedAt!);
  });
});

function fireTime(runId: string): number {
  return Number(runId.slice(runId.lastIndexOf('.') + 1));
}
