import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

/**
 * Bull Board at /queues on a real engine (real Redis, real BullMQ queue):
 * reading is open, actions need the admin token, runs' log lines reach the
 * BullMQ job.
 */
const WF = `bb-${randomUUID().slice(0, 8)}`;
const TOKEN = 'bull-board-test-token-0123456789abcdef';
let engine: Engine;

interface BoardQueue {
  name: string;
  readOnlyMode: boolean;
  allowRetries: boolean;
  counts: Record<string, number>;
  jobs: Array<{ id: string; name: string; data: { workflow: string; job: string } }>;
}

async function listing(status: string, token?: string): Promise<BoardQueue> {
  const res = await engine.app!.inject({
    url: `/queues/api/queues?activeQueue=runs&status=${status}&page=1&jobsPerPage=50`,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(res.statusCode, res.body).toBe(200);
  const queue = (res.json() as { queues: BoardQueue[] }).queues.find((q) => q.name === 'runs');
  expect(queue, res.body).toBeDefined();
  return queue!;
}

beforeAll(async () => {
  ({ engine } = await startTestEngine({
    workflows: {
      [`${WF}.json`]: {
        name: WF,
        jobs: {
          // Fails for good on its only attempt; the runner logs why.
          broken: { plugin: 'record', manual: true, config: { key: `${WF}:broken`, failTimes: 1 } },
        },
      },
    },
    config: { adminToken: TOKEN },
    options: { api: true },
  }));
});

afterAll(async () => {
  await engine?.stop();
});

describe('Bull Board at /queues', () => {
  it('serves its page from this origin only, with a content security policy', async () => {
    const res = await engine.app!.inject({ url: '/queues' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('static/js/main.');
    expect(res.body).not.toMatch(/https?:\/\//);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    const script = /src="(static\/js\/main\.[^"]+)"/.exec(res.body)![1];
    expect((await engine.app!.inject({ url: `/queues/${script}` })).statusCode).toBe(200);
  });

  it('lists the run queue with its jobs; read-only without the token, actions refused (401) until the token comes', async () => {
    const { runId } = await engine.engineControl.trigger(WF, 'broken');
    const failed = await waitFor(async () => {
      const q = await listing('failed');
      return q.jobs.some((j) => j.id === runId) ? q : undefined;
    }, 'the failed run in Bull Board');
    // The BullMQ job id is the run id.
    expect(failed.jobs.find((j) => j.id === runId)?.data).toMatchObject({ workflow: WF, job: 'broken' });
    expect(failed.readOnlyMode).toBe(true);
    expect(failed.allowRetries).toBe(false);
    const asAdmin = await listing('failed', TOKEN);
    expect(asAdmin.readOnlyMode).toBe(false);
    expect(asAdmin.allowRetries).toBe(true);

    const retry = (headers: Record<string, string>) =>
      engine.app!.inject({ method: 'PUT', url: `/queues/api/queues/runs/${encodeURIComponent(runId)}/retry`, headers });
    const withoutToken: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong-token' }];
    for (const headers of withoutToken) {
      const refused = await retry(headers);
      expect(refused.statusCode).toBe(401);
      expect(refused.json().message).toMatch(/Authorization: Bearer|invalid admin token/);
    }
    const pause = await engine.app!.inject({ method: 'PUT', url: '/queues/api/queues/runs/pause' });
    expect(pause.statusCode).toBe(401);
    expect(await engine.app!.inject({ method: 'PUT', url: '/queues/api/queues/runs/clean/failed' }).then((r) => r.statusCode)).toBe(401);
    // Nothing happened: still failed, queue not paused.
    expect((await listing('failed')).jobs.some((j) => j.id === runId)).toBe(true);
    const status = await engine.app!.inject({ url: `/queues/api/queues/runs/${encodeURIComponent(runId)}` });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ job: { id: runId }, status: 'failed' });

    // With the token the retry is done: the run is attempted a second time (and succeeds: failTimes 1).
    const done = await retry({ authorization: `Bearer ${TOKEN}` });
    expect(done.statusCode, done.body).toBe(204);
    const run = await waitFor(async () => {
      const r = await engine.engineControl.getRun(runId);
      return r?.status === 'succeeded' ? r : undefined;
    }, 'the retried run to succeed');
    expect(run.attempts).toBe(2);
  });

  it('shows what a run logged (job.log)', async () => {
    const { runId } = await engine.engineControl.trigger(WF, 'broken');
    const lines = await waitFor(async () => {
      const res = await engine.app!.inject({ url: `/queues/api/queues/runs/${encodeURIComponent(runId)}/logs` });
      const logs = res.json() as string[];
      return logs.length ? logs : undefined;
    }, 'the run log in Bull Board');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^warn ${WF}/broken failed: configured failure 1/1 \\(no attempts left\\) \\{"attempt":1,"of":1\\}$`));
  });
});
