import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_QUEUE } from '../../core/queues/run-ids.js';
import { sleep } from '../../core/util/sleep.js';
import { waitFor } from '../support/test-engine.js';
import { OwnRedis, killGroup, startTideflow, type OwnProcess } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';
import {
  FAULT_TOKEN, apiUrl, faultWorkflow, getHealth, readRuns, removeWorkflowContainers, startArgs, storedRecords, type HealthAnswer,
} from './support/fault-workflow.js';

/**
 * Scenario 3: Redis frozen (SIGSTOP) for 10 s, then killed and restarted on
 * the same data dir and port, under an engine and a worker. Both reconnect
 * by themselves; /api/health answers within 1 s throughout (503, redis down)
 * and says up after; the schedules fire again within 2 periods; no stored
 * record or run record is lost; each process logs the outage in two lines.
 */
const FREEZE_MS = 10_000;
const wf = faultWorkflow('redis-outage');
const own = new OwnRedis(path.resolve('data/faults', wf.name, 'redis'));
const procs: OwnProcess[] = [];
afterAll(async () => {
  for (const p of procs) {
    writeFileSync(path.resolve('data/faults', wf.name, `${p === procs[0] ? 'engine' : 'worker'}.log`), p.output());
    await killGroup(p);
  }
  await own.destroy();
  await removeWorkflowContainers(wf);
}, 300_000);

/** Asks for health every `everyMs` until `untilMs` has passed; every answer must say Redis is down, within 1 s. */
async function healthWhileDown(url: string, untilMs: number, violations: string[], phase: string): Promise<HealthAnswer[]> {
  const answers: HealthAnswer[] = [];
  const end = Date.now() + untilMs;
  while (Date.now() < end) {
    const a = await getHealth(url);
    answers.push(a);
    if (a.status !== 503 || a.checks.redis?.status !== 'down') violations.push(`${phase}: health answered ${a.status} redis=${a.checks.redis?.status ?? '?'}`);
    if (a.ms > 1000) violations.push(`${phase}: health took ${a.ms} ms`);
    await sleep(Math.max(0, 1000 - a.ms));
  }
  return answers;
}

describe('scenario 3: Redis frozen, killed and restarted', () => {
  it('engine and worker reconnect by themselves; health tells the truth on time; nothing is lost', async () => {
    await own.start();
    const env = { REDIS_URL: own.url, TIDEFLOW_ADMIN_TOKEN: FAULT_TOKEN };
    const engine = startTideflow(startArgs(wf), env);
    procs.push(engine);
    await engine.waitForOutput(/engine ready/, 120_000);
    const worker = startTideflow(['worker', '--data-dir', wf.dataDir], env);
    procs.push(worker);
    await worker.waitForOutput(/worker ready/, 120_000);
    const url = apiUrl(wf);
    const violations: string[] = [];

    let redis = new Redis(own.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    // Steady state: runs succeed (on a Docker engine shared with other tests a spawn can take minutes: any job will do).
    await waitFor(async () => (await readRuns(redis)).filter((r) => r.status === 'succeeded').length >= 3, 'three successful runs', 180_000);
    await waitFor(async () => (await getHealth(url)).status === 200, 'health up before the outage', 30_000);
    const runsBefore = new Set((await readRuns(redis)).map((r) => r.id));
    const storedBefore = new Set((await storedRecords(wf)).map((r) => r.id));
    redis.disconnect();

    own.freeze();
    const frozen = await healthWhileDown(url, FREEZE_MS, violations, 'frozen');
    await own.kill();
    const killed = await healthWhileDown(url, 2_000, violations, 'killed');
    await own.start();
    const restartedAt = Date.now();
    const up = await waitFor(async () => {
      const a = await getHealth(url);
      if (a.ms > 1000) violations.push(`restarted: health took ${a.ms} ms`);
      return a.status === 200 && a.checks.redis?.status === 'up' ? a : undefined;
    }, 'health up after the restart', 60_000, 250);
    const healthUpMs = Date.now() - restartedAt;

    redis = new Redis(own.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    const queue = new Queue(RUN_QUEUE, { connection: redis, prefix: 'tideflow' });
    try {
      // The schedules fire again: the first fire queued after the restart, per job.
      const firstFire = async (job: string) =>
        waitFor(async () => {
          const after = (await readRuns(redis)).filter((r) => r.job === job && r.trigger === 'schedule' && r.queuedAt >= restartedAt);
          return after.length ? Math.min(...after.map((r) => r.queuedAt)) - restartedAt : undefined;
        }, `a ${job} fire after the restart`, 90_000, 100).catch(async (err: Error) => {
          // What the history holds for the job, relative to the restart: enough to tell a missing fire from a mis-dated one.
          const seen = (await readRuns(redis).catch(() => [])).filter((r) => r.job === job).slice(0, 8)
            .map((r) => `${r.id.slice(r.id.lastIndexOf('.') + 1)} ${r.trigger} ${r.status} queued ${r.queuedAt - restartedAt} ms started ${r.startedAt === undefined ? '-' : r.startedAt - restartedAt} ms`);
          throw new Error(`${err.message}; restarted at ${restartedAt}; newest ${job} runs: ${seen.join(' | ') || 'none'}`);
        });
      const spawnFireMs = await firstFire('spawn');
      const analyzeFireMs = await firstFire('analyze');
      if (spawnFireMs > 2 * wf.spawnEveryMs) violations.push(`spawn fired ${spawnFireMs} ms after the restart (> 2 periods)`);
      if (analyzeFireMs > 2 * wf.analyzeEveryMs) violations.push(`analyze fired ${analyzeFireMs} ms after the restart (> 2 periods)`);
      // The worker process took jobs again.
      const workerName = `worker@`;
      await waitFor(async () => (await queue.getCompleted(0, 500)).some((j) => j.processedBy?.startsWith(workerName) && (j.finishedOn ?? 0) > restartedAt), 'the worker to run a job after the restart', 90_000, 250)
        .catch(() => violations.push('the worker process ran no job after the restart'));

      const runsAfter = new Set((await readRuns(redis)).map((r) => r.id));
      const lostRuns = [...runsBefore].filter((id) => !runsAfter.has(id));
      if (lostRuns.length) violations.push(`${lostRuns.length} run record(s) lost: ${lostRuns.slice(0, 3).join(', ')}`);
      const storedAfter = new Set((await storedRecords(wf)).map((r) => r.id));
      const lostStored = [...storedBefore].filter((id) => !storedAfter.has(id));
      if (lostStored.length) violations.push(`${lostStored.length} stored record(s) lost`);

      for (const [who, p] of [['engine', engine], ['worker', worker]] as const) {
        const out = p.output();
        if (p.child.exitCode !== null) violations.push(`${who} exited (${p.child.exitCode})`);
        if (/Unhandled error event/.test(out)) violations.push(`${who} printed "[ioredis] Unhandled error event"`);
        const lost = out.match(/Redis connection lost/g)?.length ?? 0;
        const back = out.match(/Redis connection back after/g)?.length ?? 0;
        if (lost < 1 || lost > 2 || back !== lost) violations.push(`${who} logged the outage in ${lost} "lost" and ${back} "back" lines (want 1 and 1, at most 2 each)`);
        const workerErrors = out.split('\n').filter((l) => /worker error/.test(l));
        if (workerErrors.length > 0) violations.push(`${who} logged ${workerErrors.length} "worker error" lines, e.g. ${[...new Set(workerErrors.map((l) => l.slice(0, 200)))].slice(0, 3).join(' | ')}`);
      }
      const all = [...frozen, ...killed];
      recordScenario({
        scenario: '3 Redis frozen 10 s, killed, restarted',
        ok: violations.length === 0,
        figures: {
          healthMaxMsDown: Math.max(...all.map((a) => a.ms)), healthAsks: all.length, healthUpMs, spawnFireMs, analyzeFireMs,
          runsKept: `${runsBefore.size}/${runsBefore.size}`.replace(/^\d+/, String(runsBefore.size - lostRuns.length)),
          storedKept: `${storedBefore.size - lostStored.length}/${storedBefore.size}`,
          upStatus: up.status,
        },
        violations,
      });
    } finally {
      await queue.close();
      redis.disconnect();
    }
    expect(violations).toEqual([]);
  });
});
