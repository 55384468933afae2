import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RECORD_PLUGIN, startCli } from '../support/cli-process.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { waitFor, writeWorkflows } from '../support/test-engine.js';
import { Redis } from 'ioredis';
import { readEngineInfo } from '../../core/engine/engine-info.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deletePrefix(redis, p);
  await redis.quit();
});

/** `tideflow start` in a child process running one workflow whose job takes `sleepMs`. */
async function engineWithSlowJob(sleepMs: number) {
  const prefix = uniquePrefix('shutdown');
  prefixes.push(prefix);
  const key = `rec:${prefix}`;
  const dir = writeWorkflows({ 'slow.json': { name: 'slow', jobs: { work: { plugin: 'record', every: '1h', config: { key, sleepMs } } } } });
  const proc = await startCli(
    ['start', '--workflows', dir, '--data-dir', mkdtempSync(path.join(os.tmpdir(), 'tf-data-')), '--port', '0'],
    { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix, TIDEFLOW_PLUGINS: RECORD_PLUGIN },
    /engine ready/,
  );
  // The every-1h job fires once at start: wait until it is running.
  await waitFor(async () => (await redis.llen(key)) >= 1, 'the job to start');
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => proc.child.once('exit', (code) => resolve({ code, at: Date.now() })));
  return { ...proc, prefix, exited };
}

describe('graceful shutdown of tideflow start', () => {
  it('SIGTERM lets the running job finish, then exits 0', async () => {
    const { child, exited, prefix, output } = await engineWithSlowJob(2000);
    const sent = Date.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code, output()).toBe(0);
    expect(at - sent).toBeGreaterThanOrEqual(1000); // it waited for the job
    const runs = await redis.keys(`${prefix}:run:*`);
    const records = await Promise.all(runs.map(async (k) => JSON.parse((await redis.get(k))!) as { status: string }));
    expect(records.map((r) => r.status)).toEqual(['succeeded']);
    expect(output()).toMatch(/shutting down gracefully/);
  });

  it('a second signal forces the exit while a job still runs', async () => {
    const { child, exited, output } = await engineWithSlowJob(60_000);
    child.kill('SIGTERM');
    await waitFor(() => /shutting down gracefully/.test(output()), 'the first signal to be taken');
    const sent = Date.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code).toBe(130);
    expect(at - sent).toBeLessThan(10_000);
    expect(output()).toMatch(/again: exiting now/);
  });

  it('leaves no private redis-server behind, even on a forced exit', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tf-data-'));
    // A long job keeps the graceful stop waiting, so the second signal takes the forced path.
    const dir = writeWorkflows({ 'busy.json': { name: 'busy', jobs: { t: { plugin: 'record', every: '1h', config: { key: 'k', sleepMs: 60_000 } } } } });
    const { child, output } = await startCli(
      ['start', '--workflows', dir, '--data-dir', dataDir, '--port', '0'],
      { REDIS_URL: '', TIDEFLOW_PLUGINS: RECORD_PLUGIN },
      /engine ready/,
    );
    const info = readEngineInfo(dataDir);
    const redisPid = Number(/redis-server \(pid (\d+)\)/.exec(output())![1]);
    expect(info?.pid).toBe(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const own = new Redis(info!.redisUrl);
    await waitFor(async () => (await own.llen('k')) >= 1, 'the job to start');
    own.disconnect();
    child.kill('SIGTERM');
    await waitFor(() => /shutting down gracefully/.test(output()), 'the first signal to be taken');
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    await waitFor(() => {
      try {
        process.kill(redisPid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the private redis-server to be gone', 10_000);
  });
});
