import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RECORD_PLUGIN } from '../support/cli-process.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { waitFor, writeWorkflows } from '../support/test-engine.js';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { readEngineInfo } from '../../core/engine/engine-info.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { isPidAlive, killGroup, startTideflow, type OwnProcess } from '../faults/support/fault-processes.js';

/**
 * `tideflow start` is started as a terminal starts a foreground job: the
 * leader of its own process group. Ctrl-C is SIGINT to that whole group
 * (every child spawned without `detached` gets it too); a supervisor's stop
 * is SIGTERM to the engine's PID. Both are tested as such.
 */
const redis = testRedis();
const prefixes: string[] = [];
const started: OwnProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) await killGroup(p);
});
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

/** Workflow names are unique per test: other tests share the engines' Docker and Redis. */
const uniqueName = (base: string) => `${base}-${randomUUID().slice(0, 8)}`;

type Stop = { name: string; send: (p: OwnProcess) => void };
const CTRL_C: Stop = { name: 'Ctrl-C (SIGINT to the process group)', send: (p) => p.signalGroup('SIGINT') };
const SIGTERM: Stop = { name: 'SIGTERM to the engine', send: (p) => p.signal('SIGTERM') };

async function startEngine(env: Record<string, string>, dir: string, dataDir = mkdtempSync(path.join(os.tmpdir(), 'tf-data-'))) {
  const proc = startTideflow(['start', '--workflows', dir, '--data-dir', dataDir, '--port', '0'], { TIDEFLOW_PLUGINS: RECORD_PLUGIN, ...env });
  started.push(proc);
  await proc.waitForOutput(/engine ready/);
  return { proc, dataDir };
}

/** `tideflow start` running one workflow whose job takes `sleepMs`, on the test Redis. */
async function engineWithSlowJob(sleepMs: number) {
  const prefix = uniquePrefix('shutdown');
  prefixes.push(prefix);
  const key = `rec:${prefix}`;
  const dir = writeWorkflows({ 'slow.json': { name: uniqueName('slow'), jobs: { work: { plugin: 'record', every: '1h', config: { key, sleepMs } } } } });
  const { proc } = await startEngine({ REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix }, dir);
  // The every-1h job fires once at start: wait until it is running.
  await waitFor(async () => (await redis.llen(key)) >= 1, 'the job to start');
  return { proc, prefix };
}

describe('graceful shutdown of tideflow start', () => {
  it.each([SIGTERM, CTRL_C])('$name lets the running job finish, then exits 0', async (stop) => {
    const { proc, prefix } = await engineWithSlowJob(5000);
    const sent = Date.now();
    stop.send(proc);
    const { code } = await proc.exited;
    expect(code, proc.output()).toBe(0);
    const records = Object.values(await redis.hgetall(new EngineKeys(prefix).runRecords)).map((json) => JSON.parse(json) as { status: string; finishedAt: number });
    expect(records.map((r) => r.status)).toEqual(['succeeded']);
    // It was still running when the signal came, and the engine waited for it to finish.
    expect(records[0]!.finishedAt).toBeGreaterThan(sent);
    expect(proc.output()).toMatch(/shutting down gracefully/);
  });

  it('a second signal forces the exit while a job still runs', async () => {
    const { proc } = await engineWithSlowJob(60_000);
    CTRL_C.send(proc);
    await waitFor(() => /shutting down gracefully/.test(proc.output()), 'the first signal to be taken');
    const sent = Date.now();
    CTRL_C.send(proc);
    const { code, at } = await proc.exited;
    expect(code).toBe(130);
    expect(at - sent).toBeLessThan(10_000);
    expect(proc.output()).toMatch(/again: exiting now/);
  });

  it('Ctrl-C does not reach the private redis-server: the engine finishes with it, then stops it, and its data is kept', async () => {
    const dir = writeWorkflows({ 'short.json': { name: uniqueName('short'), jobs: { t: { plugin: 'record', every: '1h', config: { key: 'k', sleepMs: 1500 } } } } });
    const { proc, dataDir } = await startEngine({ REDIS_URL: '' }, dir);
    const info = readEngineInfo(dataDir)!;
    const redisPid = Number(/redis-server \(pid (\d+)\)/.exec(proc.output())![1]);
    const own = new Redis(info.redisUrl);
    await waitFor(async () => (await own.llen('k')) >= 1, 'the job to start');
    own.disconnect();
    CTRL_C.send(proc);
    // Had Redis got the SIGINT too, the job's final record could not be written and the stop would hang.
    const { code } = await proc.exited;
    expect(code, proc.output()).toBe(0);
    expect(proc.output()).not.toMatch(/ECONNREFUSED|Unhandled error event/);
    expect(isPidAlive(redisPid)).toBe(false);
    // The next start finds the run recorded as succeeded in the same Redis data.
    const again = await startEngine({ REDIS_URL: '' }, dir, dataDir);
    const url = readEngineInfo(dataDir)!.redisUrl;
    const r2 = new Redis(url);
    const ids = await r2.zrange('tideflow:runs', '0', '-1');
    const records = ids.length ? await r2.hmget(new EngineKeys('tideflow').runRecords, ...ids) : [];
    const statuses = records.map((json) => (JSON.parse(json!) as { status: string }).status);
    r2.disconnect();
    expect(statuses).toContain('succeeded');
    again.proc.signal('SIGTERM');
    expect((await again.proc.exited).code).toBe(0);
  }, 180_000); // two engine starts: slow on a loaded machine

  it('leaves no private redis-server behind, even on a forced exit', async () => {
    // A long job keeps the graceful stop waiting, so the second signal takes the forced path.
    const dir = writeWorkflows({ 'busy.json': { name: uniqueName('busy'), jobs: { t: { plugin: 'record', every: '1h', config: { key: 'k', sleepMs: 60_000 } } } } });
    const { proc, dataDir } = await startEngine({ REDIS_URL: '' }, dir);
    const info = readEngineInfo(dataDir);
    const redisPid = Number(/redis-server \(pid (\d+)\)/.exec(proc.output())![1]);
    expect(info?.pid).toBe(proc.pid);
    const own = new Redis(info!.redisUrl);
    await waitFor(async () => (await own.llen('k')) >= 1, 'the job to start');
    own.disconnect();
    CTRL_C.send(proc);
    await waitFor(() => /shutting down gracefully/.test(proc.output()), 'the first signal to be taken');
    CTRL_C.send(proc);
    expect((await proc.exited).code).toBe(130);
    await waitFor(() => !isPidAlive(redisPid), 'the private redis-server to be gone', 10_000);
  });
});
