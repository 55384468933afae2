import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli-process.js';
import { testRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { writeWorkflows } from '../support/test-engine.js';
import { createDockerClient } from '../../plugins/shared/containers/docker-engine.js';
import { listManagedContainers } from '../../plugins/shared/containers/container-labels.js';

/**
 * A configuration `tideflow start` refuses is refused before anything
 * happens: no redis-server started, no key written, no container spawned,
 * nothing in the data dir. (It used to spawn containers and create
 * schedulers first.)
 */
const redis = testRedis();
const docker = createDockerClient(process.env.DOCKER_HOST);
afterAll(() => redis.quit());

/** A workflow whose spawner would fire at once if the engine got that far. */
function spawningWorkflow() {
  const name = `refused-${randomUUID().slice(0, 8)}`;
  const dir = writeWorkflows({
    'w.json': { name, jobs: { spawn: { plugin: 'spawner', every: '1h', config: { count: 1, images: [{ name: 'tideflow/sleeper', class: 'low' }] } } } },
  });
  return { name, dir };
}

function start(dir: string, env: Record<string, string>) {
  const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'tf-refused-')), 'data');
  const r = runCli(['start', '--workflows', dir, '--data-dir', dataDir, '--port', '0'], env);
  return { ...r, output: r.stdout + r.stderr, dataDir };
}

async function expectNothingDone(opts: { name: string; prefix?: string; dataDir: string; output: string }) {
  if (opts.prefix) expect(await redis.keys(`${opts.prefix}*`)).toEqual([]);
  expect(await listManagedContainers(docker, { workflow: opts.name })).toEqual([]);
  expect(opts.output).not.toMatch(/redis-server \(pid/);
  expect(existsSync(opts.dataDir), 'the data dir is not even created').toBe(false);
}

describe('a refused start does nothing first', () => {
  it('HOST=0.0.0.0 without TIDEFLOW_ADMIN_TOKEN: exit 1, no key, no container', async () => {
    const { name, dir } = spawningWorkflow();
    const prefix = uniquePrefix('refused');
    const r = start(dir, { HOST: '0.0.0.0', TIDEFLOW_ADMIN_TOKEN: '', REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toMatch(/non-loopback host "0\.0\.0\.0" without a configured token.*TIDEFLOW_ADMIN_TOKEN/);
    await expectNothingDone({ name, prefix, dataDir: r.dataDir, output: r.output });
  });

  it('an admin token too short to be secret: exit 1 naming the minimum, no private redis-server', async () => {
    const { name, dir } = spawningWorkflow();
    const r = start(dir, { TIDEFLOW_ADMIN_TOKEN: 'hunter2', REDIS_URL: '' });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toMatch(/TIDEFLOW_ADMIN_TOKEN is 7 characters long: too short to be secret; use at least 16/);
    await expectNothingDone({ name, dataDir: r.dataDir, output: r.output });
  });

  it('several problems at once are all named: the engine\'s and a plugin\'s', async () => {
    const { name, dir } = spawningWorkflow();
    const prefix = uniquePrefix('refused');
    const r = start(dir, {
      HOST: '0.0.0.0', TIDEFLOW_ADMIN_TOKEN: 'hunter2', TIDEFLOW_OPEN_LOG_INGEST: '1',
      REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix,
    });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toMatch(/TIDEFLOW_ADMIN_TOKEN is 7 characters long/);
    expect(r.stderr).toMatch(/TIDEFLOW_OPEN_LOG_INGEST=1 .*loopback HOST, not 0\.0\.0\.0/);
    await expectNothingDone({ name, prefix, dataDir: r.dataDir, output: r.output });
  });

  it('bad environment variables are all named before anything starts', async () => {
    const { name, dir } = spawningWorkflow();
    const prefix = uniquePrefix('refused');
    const r = start(dir, { TIDEFLOW_CONCURRENCY: 'abc', PORT: '-1', REDIS_URL: testRedisUrl(), TIDEFLOW_QUEUE_PREFIX: prefix });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toMatch(/PORT must be an integer 0\.\.65535, got -1/);
    expect(r.stderr).toMatch(/TIDEFLOW_CONCURRENCY must be an integer 1\.\.1000, got "abc"/);
    await expectNothingDone({ name, prefix, dataDir: r.dataDir, output: r.output });
  });
});
