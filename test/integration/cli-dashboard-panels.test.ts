import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killGroup, startTideflow } from '../faults/support/fault-processes.js';
import { deletePrefix, testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { writeWorkflows } from '../support/test-engine.js';

const redis = testRedis();
const prefix = uniquePrefix('panels');
afterAll(async () => {
  await deletePrefix(redis, prefix);
  await redis.quit();
});

describe('the compiled `tideflow start` (bin/tideflow.mjs, dist/<hash>)', () => {
  it('serves the built-in plugins\' dashboard panels: the build carries the files the sources load beside themselves', async () => {
    const dir = writeWorkflows({});
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tf-data-'));
    const proc = startTideflow(['start', '--workflows', dir, '--data-dir', dataDir, '--port', '0'], { REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix });
    try {
      const READY = /engine ready in \d+ ms: (http:\/\/127\.0\.0\.1:\d+)/;
      await proc.waitForOutput(READY);
      const url = READY.exec(proc.output())![1]!;
      const list = (await (await fetch(`${url}/dashboard/panels.json`)).json()) as { panels: Array<{ plugin: string; id: string; url: string }> };
      expect(list.panels.map((p) => `${p.plugin}/${p.id}`).sort()).toEqual(['charts/charts', 'logger/killed']);
      for (const p of list.panels) {
        const res = await fetch(`${url}${p.url}`);
        expect(res.status, p.url).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
        expect(await res.text()).toMatch(/export default function/);
      }
    } finally {
      await killGroup(proc);
    }
  });
});
