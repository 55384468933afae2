import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../core/engine/engine.js';
import { deletePrefix, testRedis } from '../support/redis.js';
import { startTestEngine } from '../support/test-engine.js';
import { launchTestBrowser } from '../support/test-browser.js';

/**
 * The dashboard's live updates and workflow graph in a real headless
 * Chromium against a real engine: with polling set to 10 minutes
 * (`?poll=600000`), a run triggered through the API appears and changes
 * status in the recent runs, and a pause shows, only because the stream
 * pushed them; with the stream cut, the page says "polling" and still
 * follows by polling; the graph of a workflow with `then` and `onFailure`
 * has the right nodes, layers and edges. Screenshot:
 * data/test-artifacts/dashboard-live.png.
 */

const TOKEN = 'dashboard-live-token-0123456789abcdef';
const SCREENSHOT = path.resolve('data/test-artifacts/dashboard-live.png');
const redis = testRedis();
const key = `rec:dash-live:${Date.now()}`;
let engine: Engine;
let prefix: string;
let tmp: string;
let context: BrowserContext | undefined;

beforeAll(async () => {
  const started = await startTestEngine({
    workflows: {
      'push.json': { name: 'push', jobs: { slow: { plugin: 'record', manual: true, config: { key, sleepMs: 1500 } } } },
      'graph.json': {
        name: 'graph',
        jobs: {
          start: { plugin: 'record', manual: true, then: ['work'], config: { key } },
          work: { plugin: 'record', then: ['done'], onFailure: ['alert'], config: { key } },
          done: { plugin: 'record', config: { key } },
          alert: { plugin: 'record', config: { key } },
        },
      },
    },
    config: { adminToken: TOKEN },
    options: { api: true },
  });
  engine = started.engine;
  prefix = started.prefix;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'tideflow-dashboard-live-'));
  context = await launchTestBrowser(path.join(tmp, 'profile'));
});

afterAll(async () => {
  await context?.close();
  await engine?.stop();
  await deletePrefix(redis, prefix);
  await redis.quit();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function trigger(wf: string, job: string): Promise<string> {
  const res = await fetch(`${engine.url}/api/workflows/${wf}/jobs/${job}/trigger`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { runId: string }).runId;
}

function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  return problems;
}

describe('live dashboard in headless Chromium', () => {
  it('shows a run triggered elsewhere and its status changes as they are pushed (polling set to 10 minutes)', async () => {
    const page = await context!.newPage();
    const problems = watchProblems(page);
    const runRequests: number[] = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/api/runs') runRequests.push(Date.now());
    });
    await page.goto(`${engine.url}/?poll=600000`, { waitUntil: 'load' });
    await page.locator('#live-indicator[data-mode="live"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#live-indicator').textContent()).toBe('live');
    await page.locator('#runs tbody td.empty').waitFor();

    // When each (run, status) row first shows, seen from inside the page.
    await page.evaluate(() => {
      const seen: Record<string, number> = ((window as unknown as { seen: Record<string, number> }).seen = {});
      new MutationObserver(() => {
        for (const tr of Array.from(document.querySelectorAll<HTMLElement>('#runs tbody tr[data-run]'))) seen[`${tr.dataset.run}:${tr.dataset.status}`] ??= Date.now();
      }).observe(document.querySelector('#runs tbody')!, { childList: true, subtree: true, attributes: true });
    });
    const t0 = Date.now();
    const runId = await trigger('push', 'slow');
    const row = page.locator(`#runs tbody tr[data-run="${runId}"]`);
    // The record is saved queued, then running by the runner (it sleeps 1.5 s), then succeeded.
    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="running"]`).waitFor({ timeout: 5000 });
    const running = Date.now() - t0;
    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });
    const succeeded = Date.now() - t0;
    // From the moment the worker saved each state to the moment the page showed it.
    const record = (await (await fetch(`${engine.url}/api/runs/${runId}`)).json()) as { startedAt: number; finishedAt: number };
    const seen = await page.evaluate(() => (window as unknown as { seen: Record<string, number> }).seen);
    const lagRunning = seen[`${runId}:running`]! - record.startedAt;
    const lagSucceeded = seen[`${runId}:succeeded`]! - record.finishedAt;
    console.log(`pushed to the page: saved -> shown ${lagRunning} ms (running), ${lagSucceeded} ms (succeeded); test saw them ${running} / ${succeeded} ms after the trigger`);
    expect(lagRunning).toBeLessThan(1000);
    expect(lagSucceeded).toBeLessThan(1000);
    expect(await row.locator('td').nth(1).textContent()).toBe('slowpush');
    expect(await row.locator('.badge').textContent()).toBe('succeeded');
    // The job's last status and its graph node follow within the second.
    await page.locator('tr[data-job="push/slow"] .badge.succeeded').waitFor({ timeout: 5000 });
    await page.locator('svg[data-workflow="push"] g.node[data-job="slow"][data-status="succeeded"]').waitFor({ timeout: 5000 });

    // A row whose run did not change stays the same node while another run comes and changes (a click
    // or a focused button on it is not lost to a re-render).
    await row.evaluate((tr) => ((tr as HTMLElement & { kept?: boolean }).kept = true));
    const second = await trigger('push', 'slow');
    await page.locator(`#runs tbody tr[data-run="${second}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });
    expect(await row.evaluate((tr) => (tr as HTMLElement & { kept?: boolean }).kept === true)).toBe(true);
    expect(await page.locator('#runs tbody tr[data-run]').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.run))).toEqual([second, runId]);

    // A pause made elsewhere (the API, like the CLI) shows without a poll.
    const paused = await fetch(`${engine.url}/api/workflows/push/jobs/slow/pause`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(paused.status).toBe(200);
    await page.locator('tr[data-job="push/slow"][data-state="paused"]').waitFor({ timeout: 5000 });

    // /api/runs was read at load and then only as the stream's follow-up (the history total): a few times, never every 3 s.
    expect(runRequests.length).toBeLessThanOrEqual(1 + Math.ceil((Date.now() - t0) / 2000) + 1);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('falls back to polling when the stream cannot be had, and says so', async () => {
    const page = await context!.newPage();
    // The stream is cut before it reaches the page.
    await page.route('**/api/events', (route) => route.abort());
    await page.goto(`${engine.url}/?poll=1000`, { waitUntil: 'load' });
    await page.locator('#live-indicator[data-mode="polling"]').waitFor();
    expect(await page.locator('#live-indicator').textContent()).toBe('polling');
    const runId = await trigger('graph', 'done');
    await page.locator(`#runs tbody tr[data-run="${runId}"][data-status="succeeded"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator('#live-indicator').getAttribute('data-mode')).toBe('polling');
    await page.close();
  });

  it('draws each workflow as a graph: jobs in layers by trigger depth, then edges solid, onFailure dashed and labelled', async () => {
    const page = await context!.newPage();
    const problems = watchProblems(page);
    await page.goto(`${engine.url}/`, { waitUntil: 'load' });
    const svg = page.locator('svg[data-workflow="graph"]');
    await svg.waitFor();
    const nodes = await svg.locator('g.node').evaluateAll((els) =>
      els.map((el) => {
        const r = (el as SVGGraphicsElement).getBoundingClientRect();
        return { job: (el as SVGElement).dataset.job, x: Math.round(r.x), y: Math.round(r.y) };
      }),
    );
    expect(nodes.map((n) => n.job).sort()).toEqual(['alert', 'done', 'start', 'work']);
    const x = Object.fromEntries(nodes.map((n) => [n.job, n.x]));
    expect(x.start).toBeLessThan(x.work!);
    expect(x.work).toBeLessThan(x.done!);
    expect(x.alert).toBe(x.done);

    const edges = await svg.locator('g.edge').evaluateAll((els) =>
      els.map((el) => {
        const g = el as SVGElement;
        const line = g.querySelector('path.edge-line')!;
        return {
          from: g.dataset.from,
          to: g.dataset.to,
          kind: g.dataset.kind,
          dashed: getComputedStyle(line).strokeDasharray !== 'none',
          label: g.querySelector('text.edge-label')?.textContent ?? null,
        };
      }),
    );
    expect(edges.sort((a, b) => `${a.from}${a.to}`.localeCompare(`${b.from}${b.to}`))).toEqual([
      { from: 'start', to: 'work', kind: 'then', dashed: false, label: null },
      { from: 'work', to: 'alert', kind: 'on-failure', dashed: true, label: 'on failure' },
      { from: 'work', to: 'done', kind: 'then', dashed: false, label: null },
    ]);
    // The data behind it: GET /api/workflows gives each job its then and onFailure.
    const wfs = (await (await fetch(`${engine.url}/api/workflows`)).json()) as Array<{ name: string; jobs: Array<{ job: string; then: string[]; onFailure: string[] }> }>;
    const work = wfs.find((w) => w.name === 'graph')!.jobs.find((j) => j.job === 'work')!;
    expect(work).toMatchObject({ then: ['done'], onFailure: ['alert'] });
    // The jobs table says what starts a failure handler.
    expect(await page.locator('tr[data-job="graph/alert"] td').nth(1).textContent()).toBe('on failure of work');

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(10_000);
    expect(problems).toEqual([]);
    await page.close();
  });
});
