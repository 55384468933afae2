import { hostname } from 'node:os';
import path from 'node:path';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_QUEUE, jobKey, scheduledRunId } from '../../core/queues/run-ids.js';
import { waitFor } from '../support/test-engine.js';
import { OwnRedis, killGroup, startTideflow, type OwnProcess } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';
import { FAULT_TOKEN, faultWorkflow, readRuns, recordedTwice, removeWorkflowContainers, startArgs, storedRecords } from './support/fault-workflow.js';

/**
 * Scenario 2: a `tideflow worker` process is SIGKILLed in the middle of a
 * spawn, then another in the middle of an analysis. BullMQ's stalled-job
 * check (lock 6 s, checked every 3 s) hands each run to the engine's worker,
 * which completes it; the run history shows the lost attempt; nothing is
 * recorded twice.
 */
const wf = faultWorkflow('sigkill');
const own = new OwnRedis(path.resolve('data/faults', wf.name, 'redis'));
const procs: OwnProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killGroup(p);
  await own.destroy();
  await removeWorkflowContainers(wf);
}, 300_000);

async function startWorker(env: Record<string, string>): Promise<OwnProcess> {
  const w = startTideflow(['worker', '--data-dir', wf.dataDir], env);
  procs.push(w);
  await w.waitForOutput(/worker ready/, 120_000);
  return w;
}

/** Waits for `job` of the workflow to be running on `worker`, SIGKILLs it, and waits for that run to complete elsewhere. */
async function killMidRun(queue: Queue, worker: OwnProcess, job: string) {
  const name = jobKey(wf.name, job);
  const on = `worker@${hostname()}:${worker.pid}`;
  const victim = await waitFor(async () => (await queue.getActive()).find((j: Job) => j.name === name && j.processedBy === on), `a ${job} running on the worker`, 120_000, 10);
  worker.signalGroup('SIGKILL');
  const killedAt = Date.now();
  await worker.exited;
  const done = await waitFor(async () => {
    const j = await queue.getJob(victim.id!);
    return j?.finishedOn ? j : undefined;
  }, `the ${job} run to be recovered`, 90_000, 50);
  const state = await done.getState();
  return { victim, done, state, recoveryMs: done.finishedOn! - killedAt, runId: scheduledRunId(wf.name, job, victim.id!) };
}

describe('scenario 2: a worker SIGKILLed mid-run', () => {
  it('the stalled run is recovered and completed; nothing is recorded twice', async () => {
    await own.start();
    const env = { REDIS_URL: own.url, TIDEFLOW_ADMIN_TOKEN: FAULT_TOKEN };
    const engine = startTideflow(startArgs(wf), env);
    procs.push(engine);
    await engine.waitForOutput(/engine ready/, 120_000);
    const redis = new Redis(own.url, { maxRetriesPerRequest: null });
    const queue = new Queue(RUN_QUEUE, { connection: redis, prefix: 'tideflow' });
    const violations: string[] = [];
    const figures: Record<string, string | number> = {};
    try {
      for (const job of ['spawn', 'analyze']) {
        const worker = await startWorker(env);
        const r = await killMidRun(queue, worker, job);
        figures[`${job}RecoveryMs`] = r.recoveryMs;
        if (r.state !== 'completed') violations.push(`${job} run ${r.runId} ended ${r.state}: ${r.done.failedReason}`);
        if (r.done.processedBy === r.victim.processedBy) violations.push(`${job} run ${r.runId} was "completed" by the dead worker`);
        const record = (await readRuns(redis)).filter((x) => x.id === r.runId);
        if (record.length !== 1) violations.push(`${job} run ${r.runId} has ${record.length} run records`);
        else {
          if (record[0]!.status !== 'succeeded') violations.push(`${job} run ${r.runId} recorded as ${record[0]!.status}`);
          if (!record[0]!.interrupted?.length) violations.push(`${job} run ${r.runId}: the lost attempt is not in the run history`);
        }
        const stored = await storedRecords(wf);
        const ofRun = stored.filter((s) => s.source === r.runId);
        if (!ofRun.length) violations.push(`${job} run ${r.runId} stored nothing`);
        const twice = recordedTwice(ofRun, job === 'spawn' ? 'spawned' : 'killed');
        if (twice.length) violations.push(`${job} run ${r.runId} recorded ${twice.length} container(s) twice`);
      }
      const stored = await storedRecords(wf);
      const spawnedTwice = recordedTwice(stored, 'spawned');
      if (spawnedTwice.length) violations.push(`${spawnedTwice.length} container(s) recorded as spawned twice`);
      figures.spawned = stored.filter((s) => s.kind === 'spawned').length;
      figures.killed = stored.filter((s) => s.kind === 'killed').length;
      // Duplicate kill records across analyses are issue 9 item 2 (scenario 1 checks them): shown here, not judged.
      figures.killedTwiceAnyRun = recordedTwice(stored, 'killed').length;
    } finally {
      await queue.close();
      redis.disconnect();
    }
    if (/Unhandled error event/.test(engine.output())) violations.push('engine printed "[ioredis] Unhandled error event"');
    recordScenario({ scenario: '2 worker SIGKILLed mid-spawn and mid-analysis', ok: violations.length === 0, figures, violations });
    expect(violations).toEqual([]);
  });
});
