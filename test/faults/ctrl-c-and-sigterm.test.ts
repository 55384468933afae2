import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { readEngineInfo } from '../../core/engine/engine-info.js';
import { RUN_QUEUE } from '../../core/queues/run-ids.js';
import { cliEnv } from '../support/cli-process.js';
import { waitFor } from '../support/test-engine.js';
import { OwnRedis, isPidAlive, killGroup, startOwnProcess, startTideflow, type OwnProcess } from './support/fault-processes.js';
import { recordScenario } from './support/fault-summary.js';
import { FAULT_TOKEN, faultWorkflow, managedContainerIds, readRuns, removeWorkflowContainers, startArgs, type FaultWorkflow } from './support/fault-workflow.js';

/**
 * Scenario 5: the engine (with its PRIVATE redis-server, REDIS_URL unset)
 * is stopped while jobs run, by SIGTERM (a supervisor) and by SIGINT to its
 * whole process group (a terminal's Ctrl-C). Then `npx tideflow start`
 * stopped by SIGTERM to npx, which npm exec does not forward.
 */
const started: OwnProcess[] = [];
const workflows: FaultWorkflow[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) await killGroup(p);
  for (const wf of workflows.splice(0)) await removeWorkflowContainers(wf);
}, 300_000);

const ENV = { REDIS_URL: '', TIDEFLOW_ADMIN_TOKEN: FAULT_TOKEN };

async function stopWhileJobsRun(scenario: string, send: (p: OwnProcess) => void): Promise<void> {
  const wf = faultWorkflow('stop');
  workflows.push(wf);
  const proc = startTideflow(startArgs(wf), ENV);
  started.push(proc);
  await proc.waitForOutput(/engine ready/, 120_000);
  const redisPid = Number(/redis-server \(pid (\d+)\)/.exec(proc.output())![1]);
  const redisUrl = readEngineInfo(wf.dataDir)!.redisUrl;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const queue = new Queue(RUN_QUEUE, { connection: redis, prefix: 'tideflow' });

  // Running: a spawn has made containers, and a job is in flight right now.
  await waitFor(async () => (await readRuns(redis)).some((r) => r.job === 'spawn' && r.status === 'succeeded'), 'a first spawn', 90_000);
  await waitFor(async () => (await managedContainerIds(wf)).length > 0, 'managed containers', 30_000);
  const inFlight = await waitFor(async () => {
    const active = await queue.getActive();
    return active.length ? active.map((j) => j.id!) : undefined;
  }, 'a job in flight', 30_000, 20);
  const runsBefore = (await readRuns(redis)).length;
  await queue.close();
  redis.disconnect();

  const sent = Date.now();
  send(proc);
  const { code, at } = await proc.exited;
  const stopMs = at - sent;
  const out = proc.output();
  const violations: string[] = [];
  if (code !== 0) violations.push(`exit code ${code}, expected 0`);
  if (!/charts rendered on shutdown/.test(out)) violations.push('no final charts rendered');
  const chartsDir = path.join(wf.dataDir, 'charts');
  const pngs = existsSync(chartsDir) ? readdirSync(chartsDir).filter((f) => f.endsWith('.png')) : [];
  if (!pngs.length) violations.push(`no PNG chart in ${chartsDir}`);
  const left = await managedContainerIds(wf);
  if (left.length) violations.push(`${left.length} managed container(s) left running`);
  if (isPidAlive(redisPid)) violations.push(`private redis-server (pid ${redisPid}) still running`);
  for (const bad of ['Unhandled error event', 'ECONNREFUSED', 'Redis connection lost']) {
    if (out.includes(bad)) violations.push(`log says "${bad}": Redis went away before the engine was done with it`);
  }

  // The private Redis's data is there for the next start: read it back from its AOF.
  const again = new OwnRedis(path.join(wf.dataDir, 'redis'));
  await again.start();
  let runsAfter = 0;
  try {
    const check = new Redis(again.url);
    const runs = await readRuns(check);
    check.disconnect();
    runsAfter = runs.length;
    if (runsAfter < runsBefore) violations.push(`${runsBefore - runsAfter} run record(s) lost (${runsBefore} before the stop, ${runsAfter} after)`);
    const running = runs.filter((r) => r.status === 'running');
    if (running.length) violations.push(`run(s) left "running": ${running.map((r) => r.id).join(', ')}`);
  } finally {
    await again.stop();
  }
  recordScenario({
    scenario,
    ok: violations.length === 0,
    figures: { exit: String(code), stopMs, inFlight: inFlight.length, runs: runsAfter, charts: pngs.length, containersLeft: left.length },
    violations,
  });
  expect(violations).toEqual([]);
}

describe('scenario 5: stopping the engine while jobs run', () => {
  it('SIGTERM to the engine', () => stopWhileJobsRun('5a SIGTERM while jobs run (private Redis)', (p) => p.signal('SIGTERM')));

  it('Ctrl-C: SIGINT to the whole process group', () => stopWhileJobsRun('5b Ctrl-C to the process group', (p) => p.signalGroup('SIGINT')));

  it('npx tideflow start under a supervisor that SIGTERMs npx: the engine stops too', async () => {
    const name = `faults-npx-${randomUUID().slice(0, 8)}`;
    const root = path.resolve('data/faults', name);
    const workflowsDir = path.join(root, 'workflows');
    const dataDir = path.join(root, 'data');
    mkdirSync(workflowsDir, { recursive: true });
    writeFileSync(path.join(workflowsDir, 'w.json'), JSON.stringify({ name, jobs: { chart: { plugin: 'charts', every: '1h' } } }));
    const npx = startOwnProcess('npx', ['--no-install', 'tideflow', 'start', '--workflows', workflowsDir, '--data-dir', dataDir, '--port', '0'], cliEnv(ENV));
    started.push(npx);
    await npx.waitForOutput(/engine ready/, 120_000);
    const enginePid = readEngineInfo(dataDir)!.pid;
    const redisPid = Number(/redis-server \(pid (\d+)\)/.exec(npx.output())![1]);
    const violations: string[] = [];
    if (enginePid === npx.pid) violations.push('the engine is npx itself: npm exec did not start a child');
    const sent = Date.now();
    npx.signal('SIGTERM');
    await npx.exited;
    let stopMs = -1;
    try {
      await waitFor(() => !isPidAlive(enginePid) && !isPidAlive(redisPid), 'the engine and its redis-server to stop', 60_000);
      stopMs = Date.now() - sent;
    } catch {
      violations.push(`engine (pid ${enginePid}) or its redis-server (pid ${redisPid}) still running after npx got SIGTERM`);
      for (const pid of [enginePid, redisPid]) if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (!/npm exec \(pid \d+\) exited without forwarding its signal: shutting down gracefully/.test(npx.output())) violations.push('no graceful-shutdown line');
    if (!/"msg":"stopped"|\bstopped\b/.test(npx.output())) violations.push('the engine did not log "stopped"');
    recordScenario({ scenario: '5c npx under a supervisor: SIGTERM to npx', ok: violations.length === 0, figures: { stopMs }, violations });
    expect(violations).toEqual([]);
  });
});
