import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../../cli/builtin-plugins.js';
import type { Engine } from '../../core/engine/engine.js';
import { readRecorded } from '../support/test-plugins.js';
import { testEngines, waitFor } from '../support/test-engine.js';

const engines = testEngines();
const redis = engines.redis;
const key = `rec:${Date.now()}:api`;
let engine: Engine;
const TOKEN = 'test-token-0123456789abcdef0123456789';

beforeAll(async () => {
  const started = await engines.start({
    workflows: { 'api.json': { name: 'api', jobs: { t: { plugin: 'record', every: '1s', config: { key } } } } },
    config: { adminToken: TOKEN },
    // The built-ins too: their services contribute the docker and store health checks.
    options: { api: true, pluginModules: BUILTIN_PLUGINS },
  });
  engine = started.engine;
});


const auth = { authorization: `Bearer ${TOKEN}` };

describe('admin API on a real engine (real Redis)', () => {
  it('listens on loopback and reports health', async () => {
    expect(engine.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await engine.app!.inject({ method: 'GET', url: '/api/health' });
    const body = res.json();
    expect(res.statusCode, JSON.stringify(body)).toBe(200);
    for (const check of ['redis', 'docker', 'scheduler', 'store']) expect(body.checks[check].status, check).toBe('up');
    expect(body.checks.store.reason).toMatch(/records in .*tideflow\.db/);
  });

  it('pausing through the API really stops fires, resuming restarts them', async () => {
    await waitFor(async () => (await redis.llen(key)) >= 1, 'first fire');
    const wrong = await engine.app!.inject({ method: 'POST', url: '/api/workflows/api/jobs/t/pause', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    expect((await engine.engineControl.getWorkflow('api')).jobs[0]!.state).toBe('active');

    const paused = await engine.app!.inject({ method: 'POST', url: '/api/workflows/api/jobs/t/pause', headers: auth });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ state: 'paused' });
    const atPause = await redis.llen(key);
    // 2.5 periods without a new fire (one already in flight may still land).
    await new Promise((r) => setTimeout(r, 2500));
    const afterWindow = await redis.llen(key);
    expect(afterWindow).toBeLessThanOrEqual(atPause + 1);

    const resumed = await engine.app!.inject({ method: 'POST', url: '/api/workflows/api/jobs/t/resume', headers: auth });
    expect(resumed.statusCode).toBe(200);
    await waitFor(async () => (await redis.llen(key)) >= afterWindow + 2, 'fires after resume');

    const trig = await engine.app!.inject({ method: 'POST', url: '/api/workflows/api/jobs/t/trigger', headers: auth, payload: { input: { via: 'api' } } });
    expect(trig.statusCode).toBe(202);
    const { runId } = trig.json();
    await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.runId === runId && r.trigger === 'manual'), 'the manual run');
    const run = await waitFor(async () => {
      const r = await engine.app!.inject({ method: 'GET', url: `/api/runs/${runId}` });
      return r.statusCode === 200 && r.json().status === 'succeeded' ? r.json() : undefined;
    }, 'run record');
    expect(run).toMatchObject({ workflow: 'api', job: 't', trigger: 'manual' });
  });
});
