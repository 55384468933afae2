import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RECORD_PLUGIN, startCli, stopChild } from '../support/cli-process.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { readRecorded } from '../support/test-plugins.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { startTestEngine, waitFor, writeWorkflows } from '../support/test-engine.js';

const redis = testRedis();
const prefix = uniquePrefix('two');

afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('two engine processes on one Redis', () => {
  it('runs each fire exactly once, spread over both processes', async () => {
    const key = `rec:${Date.now()}:two`;
    // Each run outlasts the period, so one process alone could not keep up.
    const dir = writeWorkflows({ 'two.json': { name: 'two', jobs: { t: { plugin: 'record', every: '1s', config: { key, sleepMs: 1500 } } } } });
    const { engine } = await startTestEngine({ workflows: {}, dir, prefix, config: { concurrency: 1 } });
    const other = await startCli(
      ['start', '--workflows', dir, '--data-dir', mkdtempSync(path.join(os.tmpdir(), 'tf-data-')), '--port', '0'],
      { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix, TIDEFLOW_PLUGINS: RECORD_PLUGIN, TIDEFLOW_CONCURRENCY: '1' },
      /engine ready/,
    );
    try {
      const runs = await waitFor(async () => {
        const r = await readRecorded(redis, key);
        const pids = new Set(r.map((x) => x.pid));
        return r.length >= 8 && pids.size === 2 ? r : undefined;
      }, '8 runs across both processes', 40_000).catch(async (err: Error) => {
        // Say what did happen: the runs each process recorded, and the statuses in the run history (skipped fires included).
        const byPid: Record<string, number> = {};
        for (const r of await readRecorded(redis, key)) byPid[r.pid] = (byPid[r.pid] ?? 0) + 1;
        const statuses: Record<string, number> = {};
        for (const json of Object.values(await redis.hgetall(new EngineKeys(prefix).runRecords))) {
          const { status } = JSON.parse(json) as { status: string };
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
        throw new Error(`${err.message}; runs by pid ${JSON.stringify(byPid)} (this test ${process.pid}, the CLI ${other.child.pid}); history ${JSON.stringify(statuses)}`);
      });
      const ids = runs.map((r) => r.runId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(runs.map((r) => r.pid))).toEqual(new Set([process.pid, other.child.pid]));
      expect(await redis.zcard(`${prefix}:runs:repeat`)).toBe(1);
    } finally {
      expect(await stopChild(other.child)).toBe(0);
      await engine.stop();
    }
  });
});
