import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchTestBrowser } from '../support/test-browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

/**
 * Bull Board in a real headless Chromium against a real engine: the
 * tideflow queue is listed with its jobs, everything loads from the engine
 * itself, and an action without the admin token is refused.
 */
const TOKEN = 'bull-board-e2e-token-0123456789abcdef';
const WF = `bbe-${randomUUID().slice(0, 8)}`;
const SCREENSHOT = path.resolve('data/test-artifacts/bull-board.png');

let engine: Engine;
let context: BrowserContext | undefined;
let tmp: string;
let failedRun: string;
let doneRun: string;

beforeAll(async () => {
  ({ engine } = await startTestEngine({
    workflows: {
      [`${WF}.json`]: {
        name: WF,
        jobs: {
          broken: { plugin: 'record', manual: true, config: { key: `${WF}:broken`, failTimes: 1000 } },
          fine: { plugin: 'noop', manual: true },
        },
      },
    },
    config: { adminToken: TOKEN },
    options: { api: true },
  }));
  failedRun = (await engine.engineControl.trigger(WF, 'broken')).runId;
  doneRun = (await engine.engineControl.trigger(WF, 'fine')).runId;
  await waitFor(async () => (await engine.engineControl.getRun(failedRun))?.status === 'failed', 'the broken run to fail');
  await waitFor(async () => (await engine.engineControl.getRun(doneRun))?.status === 'succeeded', 'the fine run to succeed');

  tmp = await mkdtemp(path.join(os.tmpdir(), 'tideflow-bull-board-'));
  context = await launchTestBrowser(path.join(tmp, 'profile'));
});

afterAll(async () => {
  await context?.close();
  await engine?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('Bull Board in headless Chromium', () => {
  it('lists the tideflow queue and its jobs, loads nothing from elsewhere, refuses an action without the token', { timeout: 150_000 }, async () => {
    const page: Page = context!.pages()[0] ?? (await context!.newPage());
    const base = engine.url!;
    const foreign: string[] = [];
    const problems: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(`${base}/`) && !req.url().startsWith('data:')) foreign.push(req.url());
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));

    await page.goto(`${base}/queues`, { waitUntil: 'load' });
    expect(await page.title()).toBe('tideflow queues');
    // The overview lists the run queue.
    await page.getByText('runs', { exact: true }).first().waitFor({ timeout: 20_000 });

    // The queue's failed jobs: the broken run is there under its run id.
    await page.goto(`${base}/queues/queue/runs?status=failed`, { waitUntil: 'load' });
    await page.getByText(failedRun).first().waitFor({ timeout: 20_000 });
    await page.goto(`${base}/queues/queue/runs?status=completed`, { waitUntil: 'load' });
    await page.getByText(doneRun).first().waitFor({ timeout: 20_000 });
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Read-only without the token: the page offers no retry, clean or promote.
    await page.goto(`${base}/queues/queue/runs?status=failed`, { waitUntil: 'load' });
    await page.getByText(failedRun).first().waitFor({ timeout: 20_000 });
    expect(await page.getByRole('button', { name: /retry|clean|promote/i }).count()).toBe(0);

    // An action sent from the page without the token is refused, and nothing changes.
    const refused = await page.evaluate(async (id) => {
      const res = await fetch(`api/queues/runs/${encodeURIComponent(id)}/retry`, { method: 'PUT' });
      return { status: res.status, body: (await res.json()) as { message: string } };
    }, failedRun);
    expect(refused.status).toBe(401);
    expect(refused.body.message).toContain('Authorization: Bearer');
    expect((await engine.engineControl.getRun(failedRun))?.status).toBe('failed');

    expect(foreign).toEqual([]);
    expect(problems).toEqual([]);
  });
});
