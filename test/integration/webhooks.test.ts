import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { readRecorded } from '../support/test-plugins.js';
import { testEngines, waitFor } from '../support/test-engine.js';

const engines = testEngines();
const redis = engines.redis;
const key = `rec:${Date.now()}:hooks`;
const SECRET = 'webhook-secret-0123456789abcdef';
const TOKEN = 'webhooks-test-token-0123456789abcdef';
let engine: Engine;

const WF = 'hooks';
beforeAll(async () => {
  const started = await engines.start({
    workflows: {
      'hooks.json': {
        name: WF,
        jobs: {
          signed: { plugin: 'record', manual: true, config: { key }, webhook: { secretEnv: 'HOOK_SECRET', maxBodyBytes: 1024 } },
          limited: { plugin: 'record', manual: true, config: { key }, webhook: { secretEnv: 'HOOK_SECRET', perMinute: 3 } },
          bearer: { plugin: 'record', manual: true, config: { key }, webhook: { secretEnv: 'HOOK_SECRET', auth: 'bearer' } },
          unset: { plugin: 'record', manual: true, config: { key }, webhook: { secretEnv: 'NOT_SET_ANYWHERE' } },
          plain: { plugin: 'record', manual: true, config: { key } },
        },
      },
    },
    config: { adminToken: TOKEN, env: { HOOK_SECRET: SECRET } },
    options: { api: true },
  });
  engine = started.engine;
});


const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const post = (job: string, body: string, headers: Record<string, string>) =>
  fetch(`${engine.url}/hooks/${WF}/${job}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

describe('webhook trigger (POST /hooks/<workflow>/<job>, real engine)', () => {
  it('a call signed like GitHub runs the job with the body as input, recorded as a webhook run', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', commits: [{ id: 'abc' }] });
    const res = await post('signed', body, { 'x-hub-signature-256': sign(body) });
    expect(res.status, await res.clone().text()).toBe(202);
    const { runId } = (await res.json()) as { runId: string };
    const runs = await waitFor(async () => (await readRecorded(redis, key)).filter((r) => r.runId === runId), 'the webhook run');
    expect(runs[0]!.input).toEqual({ ref: 'refs/heads/main', commits: [{ id: 'abc' }] });
    expect(runs[0]!.trigger).toBe('webhook');
    const rec = await fetch(`${engine.url}/api/runs/${runId}`);
    expect(((await rec.json()) as { trigger: string }).trigger).toBe('webhook');
  });

  it('accepts a signature made by openssl, as a shell script or a CI job signs it', async () => {
    const body = JSON.stringify({ from: 'openssl' });
    const dgst = spawnSync('openssl', ['dgst', '-sha256', '-hmac', SECRET], { input: body, encoding: 'utf8' });
    expect(dgst.status, dgst.stderr).toBe(0);
    const hex = /([0-9a-f]{64})\s*$/.exec(dgst.stdout.trim())![1]!;
    const res = await post('signed', body, { 'x-hub-signature-256': `sha256=${hex}` });
    expect(res.status, await res.clone().text()).toBe(202);
    // Ran before the next test counts the runs (which must see none of its own).
    const { runId } = (await res.json()) as { runId: string };
    await waitFor(async () => (await readRecorded(redis, key)).some((r) => r.runId === runId), 'the openssl-signed run');
  });

  it('refuses a bad or missing signature (401) and runs nothing', async () => {
    const before = (await readRecorded(redis, key)).length;
    const body = '{"x":1}';
    const wrong = await post('signed', body, { 'x-hub-signature-256': sign(body, 'not-the-secret') });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { message: string }).message).toMatch(/signature does not match/);
    const tampered = await post('signed', '{"x":2}', { 'x-hub-signature-256': sign(body) });
    expect(tampered.status).toBe(401);
    const missing = await post('signed', body, {});
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { message: string }).message).toMatch(/missing X-Hub-Signature-256/);
    // The admin token is not a webhook credential.
    expect((await post('signed', body, { authorization: `Bearer ${TOKEN}` })).status).toBe(401);
    expect((await readRecorded(redis, key)).length).toBe(before);
  });

  it('bearer auth: the right secret runs, a wrong one is refused', async () => {
    expect((await post('bearer', '{"n":1}', { authorization: 'Bearer nope' })).status).toBe(401);
    const ok = await post('bearer', '{"n":1}', { authorization: `Bearer ${SECRET}` });
    expect(ok.status).toBe(202);
  });

  it('bounds the body (413), refuses non-JSON (400), a paused job (409), a job without webhook (404), an unset secret (503)', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(2000) });
    const tooBig = await post('signed', big, { 'x-hub-signature-256': sign(big) });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { message: string }).message).toMatch(/at most 1024/);
    const notJson = 'not json';
    const bad = await post('signed', notJson, { 'x-hub-signature-256': sign(notJson) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { path: string }).path).toBe('/body');

    await engine.engineControl.pause({ workflow: WF, job: 'bearer' });
    const paused = await post('bearer', '{}', { authorization: `Bearer ${SECRET}` });
    expect(paused.status).toBe(409);
    await engine.engineControl.resume({ workflow: WF, job: 'bearer' });

    expect((await post('plain', '{}', { authorization: `Bearer ${SECRET}` })).status).toBe(404);
    expect((await post('nope', '{}', {})).status).toBe(404);
    const unset = await post('unset', '{}', { 'x-hub-signature-256': sign('{}') });
    expect(unset.status).toBe(503);
    expect(((await unset.json()) as { message: string }).message).toMatch(/NOT_SET_ANYWHERE is not set/);
  });

  it('rate-limits each job to its perMinute (429), other jobs unaffected', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const body = JSON.stringify({ i });
      statuses.push((await post('limited', body, { 'x-hub-signature-256': sign(body) })).status);
    }
    expect(statuses).toEqual([202, 202, 202, 429, 429]);
    expect((await post('bearer', '{}', { authorization: `Bearer ${SECRET}` })).status).toBe(202);
  });
});
