import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminApp } from '../../core/api/admin-app.js';
import { FakeEngineControl, lifecycleWorkflow } from '../support/fake-engine-control.js';

const TOKEN = 'strict-input-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const WF = 'container-lifecycle';

describe('mutating API routes refuse input they do not read', () => {
  let control: FakeEngineControl;
  let app: FastifyInstance;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tideflow-strict-'));
    control = new FakeEngineControl([lifecycleWorkflow()]);
    app = await buildAdminApp({ control, adminToken: TOKEN });
  });
  afterAll(async () => {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a query parameter on a route that declares none is a 400 naming it; nothing is done', async () => {
    const calls = control.calls.length;
    const res = await app.inject({ method: 'POST', url: `/api/workflows/${WF}/jobs/spawn/trigger?input=%7B%7D`, headers: AUTH });
    expect(res.statusCode).toBe(400);
    expect(res.json().path).toBe('/querystring/input');
    expect((await app.inject({ method: 'POST', url: '/api/pause?now=1', headers: AUTH })).statusCode).toBe(400);
    expect(control.calls.length).toBe(calls);
  });

  it('a body on a route that takes none is a 400 at /body; no body, null or {} are fine', async () => {
    const calls = control.calls.length;
    for (const payload of ['[1,2,3]', '"pause"', '{"workflow":"x"}', '7']) {
      const res = await app.inject({ method: 'POST', url: '/api/pause', headers: { ...AUTH, 'content-type': 'application/json' }, payload });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().path).toBe('/body');
    }
    const text = await app.inject({ method: 'POST', url: `/api/workflows/${WF}/resume`, headers: { ...AUTH, 'content-type': 'text/plain' }, payload: 'go' });
    expect(text.statusCode).toBe(400);
    expect(control.calls.length).toBe(calls);
    for (const payload of [undefined, 'null', '{}', '']) {
      const res = await app.inject({ method: 'POST', url: '/api/pause', headers: { ...AUTH, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, payload });
      expect(res.statusCode, String(payload)).toBe(200);
    }
    // The route that declares a body keeps its own schema.
    expect((await app.inject({ method: 'POST', url: `/api/workflows/${WF}/jobs/spawn/trigger`, headers: AUTH, payload: { input: [1] } })).statusCode).toBe(202);
  });
});
