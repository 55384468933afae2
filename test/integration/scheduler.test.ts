import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { schedulerJobId } from '../../core/queues/scheduler-job-id.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { readRecorded, type RecordedRun } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

const redis = testRedis();
const running: Engine[] = [];
const prefixes: string[] = [];

async function start(workflows: Record<string, unknown>, prefix?: string, options?: Parameters<typeof startTestEngine>[0]['options']) {
  const r = await startTestEngine({ workflows, prefix, options });
  running.push(r.engine);
  prefixes.push(r.prefix);
  return r;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
  for (const p of prefixes.splice(0)) await deletePrefix(redis, p);
});

const fireTime = (r: RecordedRun) => Number(r.runId.split('.').pop());

describe('scheduler and runner (real Redis)', () => {
  it('fires a 1s job on time, repeatedly', async () => {
    const key = `rec:${Date.now()}:tick`;
    const { engine } = await start({ 'tick.json': { name: 'tick', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } });
    const runs = await waitFor(async () => {
      const r = await readRecorded(redis, key);
      return r.length >= 4 ? r : undefined;
    }, '4 fires');
    const fires = runs.map(fireTime);
    for (let i = 1; i < fires.length; i++) expect(fires[i]! - fires[i - 1]!).toBe(1000);
    // Each fire ran close to its scheduled time (loose: CI machines are busy).
    for (const r of runs.slice(1)) expect(r.at - fireTime(r)).toBeLessThan(1000);
    expect(runs.every((r) => r.trigger === 'schedule')).toBe(true);
    const status = await engine.engineControl.getWorkflow('tick');
    expect(status.jobs[0]!.nextRunAt).toBeGreaterThan(Date.now() - 1000);
  });

  it('a restart on the same Redis gives no second scheduler and no double fire', async () => {
    const key = `rec:${Date.now()}:restart`;
    const wf = { 'r.json': { name: 'restart', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } };
    const first = await start(wf);
    await waitFor(async () => (await redis.llen(key)) >= 2, '2 fires');
    await first.engine.stop();
    const second = await start(wf, first.prefix);
    const third = await start(wf, first.prefix); // and a concurrent second engine
    const before = await redis.llen(key);
    await waitFor(async () => (await redis.llen(key)) >= before + 3, '3 more fires');
    const schedulers = await redis.zcard(`${first.prefix}:runs:repeat`);
    expect(schedulers).toBe(1);
    const runs = await readRecorded(redis, key);
    const ids = runs.map((r) => r.runId);
    expect(new Set(ids).size).toBe(ids.length);
    const fires = [...new Set(runs.map(fireTime))].sort();
    for (let i = 1; i < fires.length; i++) expect((fires[i]! - fires[i - 1]!) % 1000).toBe(0);
    await second.engine.stop();
    await third.engine.stop();
  });

  it('pause stops fires, resume restarts them, a manual trigger runs a paused job', async () => {
    const key = `rec:${Date.now()}:pause`;
    const { engine } = await start({ 'p.json': { name: 'pausable', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } });
    const control = engine.engineControl;
    await waitFor(async () => (await redis.llen(key)) >= 1, 'first fire');
    await control.pause({ workflow: 'pausable', job: 't' });
    const wf = await control.getWorkflow('pausable');
    expect(wf.jobs[0]).toMatchObject({ state: 'paused', pausedBy: 'job', nextRunAt: null });
    const afterPause = await redis.llen(key);
    // A window of 2.5 periods with no fire is the observable "stopped".
    await new Promise((r) => setTimeout(r, 2500));
    expect(await redis.llen(key)).toBeLessThanOrEqual(afterPause + 1); // at most one fire that was already in flight

    const settled = await redis.llen(key);
    const { runId } = await control.trigger('pausable', 't', { hello: 1 });
    const manual = await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.runId === runId), 'manual run');
    expect(manual).toMatchObject({ trigger: 'manual', input: { hello: 1 } });
    expect(await redis.llen(key)).toBe(settled + 1);

    await control.resume({ workflow: 'pausable', job: 't' });
    expect((await control.getWorkflow('pausable')).jobs[0]!.state).toBe('active');
    await waitFor(async () => (await readRecorded(redis, key)).filter((r) => r.trigger === 'schedule').length >= settled + 1, 'fires after resume');

    // Pausing the whole workflow and everything works the same way.
    await control.pause({ workflow: 'pausable' });
    expect((await control.getWorkflow('pausable')).jobs[0]).toMatchObject({ state: 'paused', pausedBy: 'workflow' });
    await control.resume({ workflow: 'pausable' });
    await control.pause({});
    expect((await control.getWorkflow('pausable')).jobs[0]).toMatchObject({ state: 'paused', pausedBy: 'global' });
    await control.resume({});
    expect((await control.getWorkflow('pausable')).jobs[0]!.state).toBe('active');
  });

  it('a pause survives an engine restart', async () => {
    const key = `rec:${Date.now()}:persist`;
    const wf = { 'p.json': { name: 'persist', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } };
    const first = await start(wf);
    await first.engine.engineControl.pause({ workflow: 'persist', job: 't' });
    await first.engine.stop();
    const second = await start(wf, first.prefix);
    const wfStatus = await second.engine.engineControl.getWorkflow('persist');
    expect(wfStatus.jobs[0]!.state).toBe('paused');
    expect(await redis.zcard(`${first.prefix}:runs:repeat`)).toBe(0);
  });

  it('retries with backoff, then succeeds', async () => {
    const key = `rec:${Date.now()}:retry`;
    const { engine } = await start({
      'r.json': { name: 'retry', jobs: { t: { plugin: 'record', manual: true, config: { key, failTimes: 2 }, retry: { attempts: 3, backoff: 'fixed', delay: '300ms' } } } },
    });
    const { runId } = await engine.engineControl.trigger('retry', 't');
    const run = await waitFor(async () => {
      const r = await engine.engineControl.getRun(runId);
      return r?.status === 'succeeded' ? r : undefined;
    }, 'run to succeed');
    expect(run.attempts).toBe(3);
    const attempts = (await readRecorded(redis, key)).filter((r) => r.runId === runId);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    for (let i = 1; i < attempts.length; i++) expect(attempts[i]!.at - attempts[i - 1]!.at).toBeGreaterThanOrEqual(290);
  });

  it('a non-retryable error fails at once', async () => {
    const key = `rec:${Date.now()}:nonretry`;
    const { engine } = await start({
      'n.json': { name: 'nonretry', jobs: { t: { plugin: 'record', manual: true, config: { key, failTimes: 5, nonRetryable: true }, retry: { attempts: 5, delay: '100ms' } } } },
    });
    const { runId } = await engine.engineControl.trigger('nonretry', 't');
    const run = await waitFor(async () => {
      const r = await engine.engineControl.getRun(runId);
      return r?.status === 'failed' ? r : undefined;
    }, 'run to fail');
    expect(run.attempts).toBe(1);
    expect(run.error).toContain('configured to fail for good');
    expect(await redis.llen(key)).toBe(1);
  });

  it('a job over its timeout fails as an attempt, even if the plugin ignores the signal', async () => {
    const key = `rec:${Date.now()}:timeout`;
    const { engine } = await start({
      't.json': { name: 'timeout', jobs: { t: { plugin: 'record', manual: true, timeout: '300ms', config: { key, sleepMs: 5000 }, retry: { attempts: 2, delay: '100ms' } } } },
    });
    const t0 = Date.now();
    const { runId } = await engine.engineControl.trigger('timeout', 't');
    const run = await waitFor(async () => {
      const r = await engine.engineControl.getRun(runId);
      return r?.status === 'failed' ? r : undefined;
    }, 'run to time out');
    expect(run.error).toBe('timed out after 300 ms');
    expect(run.attempts).toBe(2);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('then passes the output on, and a failing successor retries without re-running its predecessor', async () => {
    const key = `rec:${Date.now()}:chain`;
    const { engine } = await start({
      'c.json': {
        name: 'chain',
        jobs: {
          a: { plugin: 'record', manual: true, config: { key, output: { x: 1 } }, then: ['b'] },
          b: { plugin: 'record', config: { key, failTimes: 1 }, retry: { attempts: 3, backoff: 'fixed', delay: '100ms' } },
        },
      },
    });
    const { runId } = await engine.engineControl.trigger('chain', 'a');
    const b = await waitFor(async () => {
      const runs = await readRecorded(redis, key);
      const bs = runs.filter((r) => r.job === 'b');
      return bs.length >= 2 ? runs : undefined;
    }, 'b to be retried');
    const aRuns = b.filter((r) => r.job === 'a');
    const bRuns = b.filter((r) => r.job === 'b');
    expect(aRuns).toHaveLength(1);
    expect(bRuns.map((r) => r.attempt)).toEqual([1, 2]);
    expect(bRuns[0]).toMatchObject({ trigger: 'chain', causedBy: runId, input: { job: 'a', runId, value: { x: 1 } } });
    const bRun = await waitFor(async () => {
      const r = await engine.engineControl.getRun(bRuns[0]!.runId);
      return r?.status === 'succeeded' ? r : undefined;
    }, 'b to succeed');
    expect(bRun.causedBy).toBe(runId);
    const { runs } = await engine.engineControl.listRuns({ workflow: 'chain', job: 'b' });
    expect(runs.map((r) => r.id)).toEqual([bRun.id]);
  });

  it('repairs a scheduler whose next fire vanished (the watchdog)', async () => {
    const key = `rec:${Date.now()}:watchdog`;
    const { engine, prefix } = await start({ 'w.json': { name: 'dog', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } }, undefined, {
      watchdog: { graceMs: 1000, intervalMs: 600_000 },
    });
    await waitFor(async () => (await redis.llen(key)) >= 1, 'first fire');
    // Simulate the known failure: the scheduler's next delayed job disappears.
    const next = Number(await redis.zscore(`${prefix}:runs:repeat`, 'dog/t'));
    await redis.zrem(`${prefix}:runs:delayed`, schedulerJobId('dog/t', next));
    await redis.del(`${prefix}:runs:${schedulerJobId('dog/t', next)}`);
    await waitFor(async () => Date.now() > next + 1500, 'the missed fire to be overdue', 5000);
    const count = await redis.llen(key);
    const repaired = await engine.watchdog!.check();
    expect(repaired).toEqual(['dog/t']);
    await waitFor(async () => (await redis.llen(key)) > count, 'fires after repair');
  });
});
