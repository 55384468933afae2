import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../core/control/engine-events.js';
import type { Engine } from '../../core/engine/engine.js';
import type { AnalysisResult, SpawnResult } from '../../plugins/shared/records/container-records.js';
import { listManagedContainers, removeManagedContainers } from '../../plugins/spawner/index.js';
import { CHART_NAMES } from '../../plugins/charts/index.js';
import { testDocker } from '../support/docker.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';
import { BUILTIN_PLUGINS } from '../../cli/builtin-plugins.js';

/**
 * The built-in workflow end to end, with accelerated intervals: the real
 * plugins, a real Docker engine, Redis, SQLite and the admin API.
 */
const docker = testDocker();
const redis = testRedis();
const wf = `e2e-${randomUUID().slice(0, 8)}`;
const TOKEN = 'e2e-token-0123456789abcdef0123456789';
let engine: Engine;
let prefix: string;
const events: RunEvent[] = [];

beforeAll(async () => {
  const started = await startTestEngine({
    workflows: {
      'lifecycle.json': {
        name: wf,
        jobs: {
          spawn: {
            plugin: 'spawner',
            every: '4s',
            config: {
              count: 4,
              images: [
                { name: 'tideflow/cpu-hog', class: 'high' },
                { name: 'tideflow/mem-hog', class: 'high' },
                { name: 'tideflow/sleeper', class: 'low' },
                { name: 'tideflow/ticker', class: 'low' },
              ],
            },
            retry: { attempts: 3, backoff: 'exponential', delay: '500ms' },
            timeout: '60s',
            then: ['log'],
          },
          analyze: { plugin: 'analyzer', every: '3s', config: { keep: { high: 1, low: 1 }, sampleWindow: '300ms' }, timeout: '20s', then: ['log'] },
          log: { plugin: 'logger', retry: { attempts: 3, delay: '200ms' } },
          chart: { plugin: 'charts', every: '5s', config: { width: 640, height: 320 } },
        },
      },
    },
    config: { adminToken: TOKEN, concurrency: 4 },
    options: { pluginModules: BUILTIN_PLUGINS, api: true, startServices: true },
  });
  engine = started.engine;
  prefix = started.prefix;
  engine.runner!.on('run', (e) => events.push(e));
});

afterAll(async () => {
  await engine?.stop();
  await removeManagedContainers(docker, { workflow: wf, includeProtected: true });
  await deletePrefix(redis, prefix);
  await redis.quit();
});

const outputs = <T>(job: string) =>
  events.flatMap((e) => (e.type === 'succeeded' && e.run.job === job ? [e.output as T] : []));

describe('container-lifecycle workflow, end to end', () => {
  it('spawns, keeps 1 high + 1 low, kills the rest, logs it and charts it', async () => {
    // An analysis that saw more than it keeps, and killed the surplus.
    const analysis = await waitFor(
      () => outputs<AnalysisResult>('analyze').find((a) => a.containers.filter((c) => c.decision === 'killed').length > 0),
      'an analysis that killed containers',
      90_000,
    );
    const kept = analysis.containers.filter((c) => c.decision === 'kept');
    expect(kept.filter((c) => c.class === 'high').length).toBeLessThanOrEqual(1);
    expect(kept.filter((c) => c.class === 'low').length).toBeLessThanOrEqual(1);
    expect(analysis.hostMemory.totalBytes).toBeGreaterThan(0);
    const killedIds = analysis.containers.filter((c) => c.decision === 'killed').map((c) => c.id);
    // Killed through their cgroups: dead when the analysis returns; Docker then removes them (AutoRemove).
    const alive = await waitFor(async () => {
      const ids = new Set((await listManagedContainers(docker, { workflow: wf })).map((c) => c.Id));
      return killedIds.every((id) => !ids.has(id)) ? ids : undefined;
    }, 'the killed containers removed by Docker', 15_000);
    for (const id of killedIds) expect(alive.has(id)).toBe(false);

    const spawn = outputs<SpawnResult>('spawn')[0]!;
    expect(spawn.created.length).toBe(4);

    // The logger stored what both produced (chained through `then`).
    const auth = { authorization: `Bearer ${TOKEN}` };
    const killed = await waitFor(async () => {
      const r = await engine.app!.inject({ method: 'GET', url: '/api/logs?kind=killed&limit=100', headers: auth });
      const items = r.json().items as Array<{ containerId?: string; id?: string }>;
      return items.length >= killedIds.length ? items : undefined;
    }, 'killed records in the store', 30_000);
    expect(killed.length).toBeGreaterThanOrEqual(killedIds.length);
    const spawned = await engine.app!.inject({ method: 'GET', url: '/api/logs?kind=spawned&limit=100' });
    expect(spawned.json().items.length).toBeGreaterThanOrEqual(4);

    // Charts rendered as PNG files and served.
    const charts = await waitFor(async () => {
      const r = await engine.app!.inject({ method: 'GET', url: '/api/charts' });
      const list = r.json().charts as Array<{ name: string; png: { url: string; bytes: number } }>;
      return list.length === CHART_NAMES.length ? list : undefined;
    }, `all ${CHART_NAMES.length} charts`, 30_000);
    for (const c of charts) {
      const png = await engine.app!.inject({ method: 'GET', url: c.png.url });
      expect(png.statusCode).toBe(200);
      expect(png.headers['content-type']).toBe('image/png');
      expect(png.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    }

    // Runs are in the history with their trigger.
    const logRuns = await engine.engineControl.listRuns({ workflow: wf, job: 'log', status: 'succeeded' });
    expect(logRuns.runs.length).toBeGreaterThan(0);
    expect(logRuns.runs.every((r) => r.trigger === 'chain' && r.causedBy)).toBe(true);
  });

  it('on shutdown renders the charts once more and removes the managed containers', async () => {
    const chartFile = path.join(engine.config.dataDir, 'charts', 'memory.png');
    const before = statSync(chartFile).mtimeMs;
    const stoppedAt = Date.now();
    await engine.stop();
    expect(statSync(chartFile).mtimeMs).toBeGreaterThan(Math.max(before, stoppedAt - 1));
    expect(await listManagedContainers(docker, { workflow: wf })).toHaveLength(0);
  });
});
