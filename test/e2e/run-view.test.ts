import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { ChattyPlugin } from '../support/chatty-plugin.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { launchTestBrowser } from '../support/test-browser.js';
import { startTestEngine, waitFor } from '../support/test-engine.js';

/**
 * The dashboard's run view in a real headless Chromium over a real engine:
 * a click on a recent run opens it with the run's attempts, log lines,
 * input and output; its causing run is a link; Cancel on a running run
 * (a slow plugin that honours its signal) ends it `cancelled`.
 * Screenshot: data/test-artifacts/run-view.png.
 */

const TOKEN = 'run-view-e2e-token-0123456789abcdef';
const SCREENSHOT = path.resolve('data/test-artifacts/run-view.png');
const redis = testRedis();
let engine: Engine;
let prefix: string;
let tmp: string;
let context: BrowserContext | undefined;
let page: Page;
const problems: string[] = [];
const foreign: string[] = [];

beforeAll(async () => {
  ({ engine, prefix } = await startTestEngine({
    workflows: {
      'v.json': {
        name: 'views',
        jobs: {
          talk: { plugin: 'chatty', manual: true, config: { lines: 4 }, then: ['after'] },
          after: { plugin: 'chatty', config: { lines: 1 } },
          slow: { plugin: 'chatty', manual: true, config: { lines: 2, waitMs: 120_000 } },
        },
      },
    },
    config: { adminToken: TOKEN },
    options: { api: true, plugins: [ChattyPlugin] },
  }));
  tmp = await mkdtemp(path.join(os.tmpdir(), 'tideflow-run-view-'));
  context = await launchTestBrowser(path.join(tmp, 'profile'));
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(`${engine.url}/`) && !req.url().startsWith('data:')) foreign.push(req.url());
  });
});

afterAll(async () => {
  await context?.close();
  await engine?.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const status = (id: string) => async (): Promise<RunRecord | undefined> => engine.engineControl.getRun(id);
const view = () => page.locator('#run-view');

describe('run view in headless Chromium (real engine)', () => {
  it("opens from the recent runs: status, attempts, log lines, input and output; the causing run is a link to its own view", async () => {
    const { runId } = await engine.engineControl.trigger('views', 'talk', { greeting: 'hi' });
    // Its `then` successor: caused by the talk run.
    const after = await waitFor(async () => (await engine.engineControl.listRuns({ job: 'after', limit: 1, offset: 0 })).runs.find((r) => r.causedBy === runId && r.status === 'succeeded'), 'the successor to succeed');

    await page.goto(`${engine.url}/`, { waitUntil: 'load' });
    // Clicked once its row shows the run's last state (a row replaced under the pointer would lose the click).
    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="succeeded"]`).click({ timeout: 15_000 });
    expect(await page.evaluate(() => location.hash)).toBe(`#run=${encodeURIComponent(runId)}`);
    await page.locator(`#run-view[data-run="${runId}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });
    expect(await view().locator('.run-view-title').textContent()).toBe('views/talk');
    expect(await view().locator('.run-view-status .badge').textContent()).toBe('succeeded');
    expect(await view().locator('button[data-action="cancel-run"]').isVisible()).toBe(false);

    await expect.poll(() => view().locator('.log-line .log-msg').allTextContents()).toEqual([1, 2, 3, 4].map((i) => `line ${i} of attempt 1`));
    expect(await view().locator('.log-line .log-fields').first().textContent()).toBe('{"i":1}');
    await expect.poll(() => view().locator('.run-attempts li').evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.attempt, (li as HTMLElement).dataset.status]))).toEqual([['1', 'succeeded']]);
    await expect.poll(() => view().locator('[data-io="input"] pre').textContent()).toBe(JSON.stringify({ greeting: 'hi' }, null, 2));
    expect(await view().locator('[data-io="output"] pre').textContent()).toBe(JSON.stringify({ echoed: { greeting: 'hi' }, attempt: 1 }, null, 2));

    // The successor's view names the talk run as its cause; following the link opens the talk run again.
    await page.evaluate((id) => (location.hash = `#run=${encodeURIComponent(id)}`), after.id);
    await page.locator(`#run-view[data-run="${after.id}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });
    const cause = view().locator(`a[data-caused-by="${runId}"]`);
    expect(await cause.textContent()).toBe(runId);
    // Its input is the talk run's output.
    await expect.poll(() => view().locator('[data-io="input"] pre').textContent()).toBe(JSON.stringify({ echoed: { greeting: 'hi' }, attempt: 1 }, null, 2));
    await cause.click();
    await page.locator(`#run-view[data-run="${runId}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });

    // Esc closes it and clears the hash.
    await page.keyboard.press('Escape');
    await expect.poll(() => view().isHidden()).toBe(true);
    expect(await page.evaluate(() => location.hash)).toBe('');
  });

  it('Cancel on a running run (a slow plugin that honours its signal) ends it cancelled, with its lines', async () => {
    await page.evaluate((t) => localStorage.setItem('tideflow.adminToken', t), TOKEN);
    const { runId } = await engine.engineControl.trigger('views', 'slow', { n: 7 });
    await waitFor(async () => (await status(runId)())?.status === 'running', 'the slow run to be running');

    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="running"]`).click({ timeout: 15_000 });
    await page.locator(`#run-view[data-run="${runId}"][data-status="running"]`).waitFor({ timeout: 10_000 });
    // Its lines so far, while it runs (written within 250 ms).
    await expect.poll(() => view().locator('.log-line .log-msg').allTextContents()).toEqual(['line 1 of attempt 1', 'line 2 of attempt 1', 'waiting 120000 ms']);
    await expect.poll(() => view().locator('.run-attempts li').getAttribute('data-status')).toBe('running');
    // Its input is there while it runs (stored with the "running" record), its output not yet.
    await expect.poll(() => view().locator('[data-io="input"] pre').textContent()).toBe(JSON.stringify({ n: 7 }, null, 2));
    expect(await view().locator('[data-io="output"] .empty').textContent()).toBe('None yet: recorded when it succeeds.');

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    const cancel = view().locator('button[data-action="cancel-run"]');
    expect(await cancel.isVisible()).toBe(true);
    await cancel.click();
    await page.locator(`#run-view[data-run="${runId}"][data-status="cancelled"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator('#token-dialog[open]').count()).toBe(0);
    expect(await cancel.isVisible()).toBe(false);
    expect(await status(runId)()).toMatchObject({ status: 'cancelled', error: 'cancelled', attempts: 1 });
    // The plugin heard its signal; the runner's own line closes the log.
    await expect.poll(() => view().locator('.log-line .log-msg').allTextContents()).toEqual([
      'line 1 of attempt 1', 'line 2 of attempt 1', 'waiting 120000 ms', 'signal received: stopping', 'views/slow was cancelled (not retried)',
    ]);
    await expect.poll(() => view().locator('.run-attempts li').getAttribute('data-status')).toBe('cancelled');
    // The recent runs table follows.
    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="cancelled"]`).waitFor({ timeout: 10_000 });

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
