import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { RedisEngineControl } from '../../core/control/redis-engine-control.js';
import { RunHistory } from '../../core/history/run-history.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { PauseStore } from '../../core/scheduler/pause-store.js';
import { WorkflowCatalog } from '../../core/workflow/workflow-catalog.js';
import { MAX_INPUT_BYTES, MAX_INPUT_DEPTH, RunInputError } from '../../core/control/run-input-limits.js';
import { readRecorded } from '../support/test-plugins.js';
import { testEngines, waitFor } from '../support/test-engine.js';

const engines = testEngines();
const redis = engines.redis;
const WF = `inlim${Date.now().toString(36)}`;
const key = `rec:${Date.now()}:input-limits`;
const TOKEN = 'input-limits-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
let engine: Engine;
let prefix: string;

/** A value nested `depth` levels: {"a":{"a":...}}, built as text so the test itself recurses nowhere. */
const nestedText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

beforeAll(async () => {
  const started = await engines.start({
    workflows: { 'w.json': { name: WF, jobs: { t: { plugin: 'record', manual: true, config: { key } } } } },
    config: { adminToken: TOKEN },
    options: { api: true },
  });
  engine = started.engine;
  prefix = started.prefix;
});


const runCount = async () => (await engine.app!.inject({ method: 'GET', url: '/api/runs?limit=1' })).json().total as number;
const trigger = (payload: string) =>
  engine.app!.inject({ method: 'POST', url: `/api/workflows/${WF}/jobs/t/trigger`, headers: { ...auth, 'content-type': 'application/json' }, payload });

describe('trigger input bounds (real engine, real Redis)', () => {
  it('a 10,000-level input is a 400 naming /body/input, and leaves no run', async () => {
    const before = await runCount();
    const res = await trigger(`{"input":${nestedText(10_000)}}`);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().path).toMatch(/^\/body\/input(\/a)+$/);
    expect(res.json().message).toContain(`deeper than ${MAX_INPUT_DEPTH} levels`);
    expect(await runCount()).toBe(before);
    expect((await engine.engineControl.listRuns({ workflow: WF, status: 'queued' })).total).toBe(0);
  });

  it(`${MAX_INPUT_DEPTH} levels run; ${MAX_INPUT_DEPTH + 1} do not`, async () => {
    const ok = await trigger(`{"input":${nestedText(MAX_INPUT_DEPTH)}}`);
    expect(ok.statusCode, ok.body).toBe(202);
    const { runId } = ok.json();
    const rec = await waitFor(async () => (await readRecorded(redis, key)).find((r) => r.runId === runId), 'the deep-but-allowed run');
    let depth = 0;
    for (let v = rec.input as Record<string, unknown> | number; typeof v === 'object'; v = v.a as typeof v) depth++;
    expect(depth).toBe(MAX_INPUT_DEPTH);
    const before = await runCount();
    expect((await trigger(`{"input":${nestedText(MAX_INPUT_DEPTH + 1)}}`)).statusCode).toBe(400);
    expect(await runCount()).toBe(before);
  });

  it('an input over 256 KiB is a 413, a body over 1 MiB too; no run either way', async () => {
    const before = await runCount();
    const big = await trigger(JSON.stringify({ input: { blob: 'x'.repeat(MAX_INPUT_BYTES) } }));
    expect(big.statusCode, big.body).toBe(413);
    expect(big.json().path).toBe('/body/input');
    const huge = await trigger(JSON.stringify({ input: 'y'.repeat(5 * 1024 * 1024) }));
    expect(huge.statusCode).toBe(413);
    expect(await runCount()).toBe(before);
  });

  it('the engine control (what the CLI calls) refuses the same input before writing anything', async () => {
    const before = await runCount();
    const deep = JSON.parse(nestedText(10_000));
    await expect(engine.engineControl.trigger(WF, 't', deep)).rejects.toBeInstanceOf(RunInputError);
    await expect(engine.engineControl.trigger(WF, 't', { n: 1n })).rejects.toThrow(/bigint/);
    expect(await runCount()).toBe(before);
  });

  it('an enqueue that fails after the run record is written leaves a failed run saying why, not a queued one', async () => {
    // The same control over the same Redis keys, with a queue that refuses the job.
    const refusing = { add: () => Promise.reject(new Error('queue refused the job')) };
    const control = new RedisEngineControl({
      queues: { queue: () => refusing } as never,
      catalog: new WorkflowCatalog(redis, new EngineKeys(prefix)),
      pauses: new PauseStore(redis, new EngineKeys(prefix)),
      publishCancel: async () => 0,
      history: new RunHistory(redis, new EngineKeys(prefix)),
      sync: undefined as never,
    });
    await expect(control.trigger(WF, 't', { ok: 1 })).rejects.toThrow(/queue refused/);
    expect((await engine.engineControl.listRuns({ workflow: WF, status: 'queued' })).total).toBe(0);
    const failed = (await engine.engineControl.listRuns({ workflow: WF, status: 'failed' })).runs;
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ trigger: 'manual', error: 'not enqueued: queue refused the job' });
  });
});
