import { afterAll, describe, expect, it } from 'vitest';
import { RECORD_PLUGIN, startCli, stopChild } from '../support/cli-process.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';
import { routeQueueName } from '../../core/queues/run-queues.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

/** `tideflow worker --serve <route>` as its own process, named as host `host`. */
function startRouteWorker(prefix: string, route: string, host: string) {
  return startCli(['worker', '--serve', route], {
    REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_HOST_NAME: host,
  }, /worker ready/);
}

describe('routes: a job runs only where its route is served', () => {
  it('a route nobody serves waits (visible, one job, never run elsewhere); a worker serving it runs it; successors follow their own route', async () => {
    const prefix = uniquePrefix('route');
    prefixes.push(prefix);
    const here = `rec:${prefix}:here`;
    const there = `rec:${prefix}:there`;
    const after = `rec:${prefix}:after`;
    const { engine } = await startTestEngine({
      prefix,
      config: { hostName: 'host-a' },
      workflows: {
        'local.json': { name: 'local', jobs: { tick: { plugin: 'record', every: '1s', config: { key: here } } } },
        'remote.json': {
          name: 'remote',
          runsOn: 'host-b',
          jobs: {
            work: { plugin: 'record', every: '1s', config: { key: there }, then: ['report'] },
            report: { plugin: 'record', runsOn: 'default', config: { key: after } },
          },
        },
      },
    });
    try {
      // The local job fires a few times: time passes, and the remote job has no worker.
      await waitFor(async () => (await readRecorded(redis, here)).length >= 4, 'four local runs', 20_000);
      expect(await readRecorded(redis, there)).toEqual([]);
      const status = await engine.engineControl.getWorkflow('remote');
      const work = status.jobs.find((j) => j.job === 'work')!;
      expect(work.route).toBe('host-b');
      expect(work.routeWorkers).toBe(0);
      expect(work.waiting).toMatch(/no live worker serves route "host-b"/);
      expect(status.jobs.find((j) => j.job === 'report')!.waiting).toBeUndefined();
      // A schedule with no worker does not pile up fires: one job waits.
      const counts = await redis.llen(`${prefix}:${routeQueueName('host-b')}:wait`);
      expect(counts).toBeLessThanOrEqual(1);
      // A manual trigger of a routed job waits on that route too.
      const { runId: manual } = await engine.engineControl.trigger('remote', 'work');
      expect((await engine.engineControl.getRun(manual))!.status).toBe('queued');

      const b = await startRouteWorker(prefix, 'host-b', 'host-b');
      try {
        const runs = await waitFor(async () => {
          const r = await readRecorded(redis, there);
          return r.length >= 3 && r.some((x) => x.runId === manual) ? r : undefined;
        }, 'three remote runs on the host-b worker, the manual one included', 30_000);
        expect(new Set(runs.map((r) => r.pid))).toEqual(new Set([b.child.pid]));
        expect(new Set(runs.map((r) => r.runId)).size).toBe(runs.length);
        // The successor named the default route: it ran in the engine, not on host-b.
        const reports = await waitFor(async () => {
          const r = await readRecorded(redis, after);
          return r.length >= 1 ? r : undefined;
        }, 'a chained report on the default route');
        expect(new Set(reports.map((r) => r.pid))).toEqual(new Set([process.pid]));
        expect(new Set((await readRecorded(redis, here)).map((r) => r.pid))).toEqual(new Set([process.pid]));
        // Run history says which host ran what (its final records come after the plugin's own).
        const remoteRuns = await waitFor(async () => {
          const { runs: r } = await engine.engineControl.listRuns({ workflow: 'remote', job: 'work', status: 'succeeded', limit: 500 });
          return r.length >= 3 ? r : undefined;
        }, 'three succeeded remote runs in the history');
        expect(new Set(remoteRuns.map((r) => r.host))).toEqual(new Set(['host-b']));
        const { runs: onB } = await engine.engineControl.listRuns({ host: 'host-b', limit: 500 });
        expect(onB.every((r) => r.workflow === 'remote' && r.job === 'work')).toBe(true);
        const { runs: onA } = await engine.engineControl.listRuns({ host: 'host-a', limit: 500 });
        expect(onA.some((r) => r.job === 'report')).toBe(true);
        expect(onA.some((r) => r.job === 'work')).toBe(false);
        const served = (await engine.engineControl.getWorkflow('remote')).jobs.find((j) => j.job === 'work')!;
        expect(served.routeWorkers).toBe(1);
        expect(served.waiting).toBeUndefined();
      } finally {
        expect(await stopChild(b.child)).toBe(0);
      }
      // Stopped again: the route waits again, and is reported so.
      await waitFor(async () => (await engine.engineControl.getWorkflow('remote')).jobs.find((j) => j.job === 'work')!.waiting, 'the route to be reported waiting again');
    } finally {
      await engine.stop();
    }
  });

  it('moving a job to another route moves its scheduler (none left on the old route)', async () => {
    const prefix = uniquePrefix('route-move');
    prefixes.push(prefix);
    const def = (runsOn?: string) => ({ 'm.json': { name: 'm', ...(runsOn ? { runsOn } : {}), jobs: { j: { plugin: 'record', every: '1h', config: { key: `rec:${prefix}` } } } } });
    const first = await startTestEngine({ prefix, workflows: def() });
    const dir = first.dir;
    await first.engine.stop();
    const second = await startTestEngine({ prefix, dir, workflows: def('elsewhere'), options: { watch: false } });
    try {
      const queues = { old: `${prefix}:${routeQueueName('default')}:repeat`, moved: `${prefix}:${routeQueueName('elsewhere')}:repeat` };
      expect(await redis.zrange(queues.old, '0', '-1')).toEqual([]);
      expect(await redis.zrange(queues.moved, '0', '-1')).toEqual(['m/j']);
    } finally {
      await second.engine.stop();
    }
  });
});
