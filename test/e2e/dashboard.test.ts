import { existsSync } from 'node:fs';
import { chartsRoutes } from '../../plugins/charts/charts-routes.js';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Resvg } from '@resvg/resvg-js';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { launchTestBrowser } from '../support/test-browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAdminApp } from '../../core/api/admin-app.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import { logsRoutes } from '../../plugins/logger/logs-routes.js';
import { FakeEngineControl, lifecycleWorkflow } from '../support/fake-engine-control.js';
import { ChartsPlugin } from '../../plugins/charts/charts-plugin.js';
import { LoggerPlugin } from '../../plugins/logger/logger-plugin.js';

/**
 * The dashboard in a real headless Chromium (Debian's, driven by
 * playwright-core): charts load, a pause click reaches the engine, a job
 * no live worker serves shows as waiting, the host selector narrows the runs
 * and the killed containers to one host (and is remembered), and a
 * screenshot is kept in data/test-artifacts/dashboard.png.
 */

const TOKEN = 'dashboard-e2e-token-0123456789abcdef';
const WF = 'container-lifecycle';
const SCREENSHOT = path.resolve('data/test-artifacts/dashboard.png');

const FONT_DIR = '/usr/share/fonts/truetype/dejavu';

/** A real PNG drawn like a chart: an SVG line chart rendered by resvg. */
function chartPng(title: string, values: number[], width: number, color: string): Buffer {
  const height = Math.round(width * 0.5);
  const left = 56;
  const top = 44;
  const plotW = width - left - 24;
  const plotH = height - top - 40;
  const max = Math.max(...values) * 1.15;
  const x = (i: number) => left + (i * plotW) / (values.length - 1);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const gy = top + plotH - f * plotH;
      return `<line x1="${left}" x2="${left + plotW}" y1="${gy}" y2="${gy}" stroke="#e5e9f0"/>` +
        `<text x="${left - 8}" y="${gy + 4}" font-size="11" text-anchor="end" fill="#6b778a">${Math.round(f * max)}</text>`;
    })
    .join('');
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="#ffffff"/>
    <text x="${left}" y="26" font-size="15" font-weight="bold" fill="#1d2633">${title}</text>
    ${grid}
    <polyline points="${left},${top + plotH} ${pts} ${left + plotW},${top + plotH}" fill="${color}" fill-opacity="0.12" stroke="none"/>
    <polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linejoin="round"/>
    <line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#9aa5b4"/>
    <text x="${left + plotW / 2}" y="${height - 12}" font-size="11" text-anchor="middle" fill="#6b778a">time (last hour)</text>
  </svg>`;
  const fontFiles = existsSync(FONT_DIR) ? [`${FONT_DIR}/DejaVuSans.ttf`, `${FONT_DIR}/DejaVuSans-Bold.ttf`] : [];
  return Buffer.from(
    new Resvg(svg, { font: { fontFiles, loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' } }).render().asPng(),
  );
}


/** Three killed containers of two hosts in a real record store, served by the logger's real routes. */
async function killedRecords(dataDir: string): Promise<SqliteRecordStore> {
  const store = openRecordStore(dataDir);
  const now = Date.now();
  const rows = [
    ['tf-cpu-hog-7', 'tideflow/cpu-hog', 'high', 97.4, 3.1e6, 'host-a'],
    ['tf-mem-hog-3', 'tideflow/mem-hog', 'high', 41.2, 70.5e6, 'host-b'],
    ['tf-ticker-9', 'tideflow/ticker', 'low', 2.3, 1.2e6, 'host-a'],
  ] as const;
  for (const [i, [name, image, cls, cpuPct, memBytes, host]] of rows.entries()) {
    const time = now - (i + 1) * 9000;
    await store.ingest({
      source: `run-a${i}`, sourceKind: 'analysis', workflow: WF, time, host,
      records: [{ kind: 'killed', time, containerId: `${i}abc123def4567890`, name, image, class: cls, cpuPct, memBytes,
        reason: cls === 'high' ? 'surplus high: rank 3 of 4 (keep 2)' : 'surplus low: rank 4 of 6 (keep 3)' }],
    });
  }
  return store;
}

let tmp: string;
let store: SqliteRecordStore;
let chartsDir: string;
let control: FakeEngineControl;
let app: FastifyInstance;
let base: string;
let context: BrowserContext | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'tideflow-dashboard-'));
  chartsDir = path.join(tmp, 'charts');
  store = await killedRecords(tmp);
  await mkdir(chartsDir, { recursive: true });
  await writeFile(path.join(chartsDir, 'memory.png'), chartPng('Host memory used (MiB)', [812, 840, 905, 990, 1010, 960, 1105, 1180, 1120, 1204, 1150, 1230], 640, '#2f6fb2'));
  await writeFile(path.join(chartsDir, 'containers.png'), chartPng('Managed containers', [5, 15, 5, 15, 5, 15, 5, 15, 6, 14, 5, 15], 640, '#c0602c'));

  control = new FakeEngineControl([
    lifecycleWorkflow(),
    { name: 'nightly-report', jobs: { report: { plugin: 'charts', trigger: { cron: '0 3 * * *', timezone: 'UTC' } } } },
    // A route nobody serves: its job waits.
    { name: 'fleet-c', jobs: { analyze: { plugin: 'analyzer', trigger: { every: '10s' }, route: 'host-c', routeWorkers: 0 } } },
  ]);
  const now = Date.now();
  control.addRun({ workflow: WF, job: 'spawn', status: 'succeeded', trigger: 'schedule', host: 'host-a', queuedAt: now - 42_000, startedAt: now - 42_000, finishedAt: now - 40_100, durationMs: 1900 });
  control.addRun({ workflow: WF, job: 'log', status: 'succeeded', trigger: 'chain', host: 'host-a', queuedAt: now - 40_000, startedAt: now - 40_000, finishedAt: now - 39_980, durationMs: 20 });
  control.addRun({ workflow: WF, job: 'analyze', status: 'succeeded', trigger: 'schedule', host: 'host-b', queuedAt: now - 8_000, startedAt: now - 8_000, finishedAt: now - 7_960, durationMs: 40 });
  control.addRun({ workflow: WF, job: 'log', status: 'succeeded', trigger: 'chain', host: 'host-b', queuedAt: now - 7_900, startedAt: now - 7_900, finishedAt: now - 7_880, durationMs: 20 });
  control.addRun({ workflow: WF, job: 'chart', status: 'failed', trigger: 'schedule', attempts: 3, error: 'render timeout', host: 'host-a', queuedAt: now - 65_000, startedAt: now - 65_000, finishedAt: now - 35_000, durationMs: 30_000 });

  app = await buildAdminApp({
    control,
    adminToken: TOKEN,
    plugins: [
      // The charts plugin's real routes over the PNGs written above, so the page reads the real list format.
      // With the real manifests: the page loads the real panel modules.
      { manifest: ChartsPlugin.manifest, plugin: { routes: chartsRoutes(() => chartsDir) } },
      { manifest: LoggerPlugin.manifest, plugin: { routes: logsRoutes(store) } },
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  context = await launchTestBrowser(path.join(tmp, 'profile'));
});

afterAll(async () => {
  await context?.close();
  await app?.close();
  await store?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function jobState(job: string): Promise<string | undefined> {
  const res = await app.inject({ url: `/api/workflows/${WF}` });
  return res.json().jobs.find((j: { job: string }) => j.job === job)?.state;
}

describe('dashboard in headless Chromium', () => {
  it('shows loaded charts, pauses a job through the API, refreshes charts; screenshot saved', async () => {
    const page: Page = context!.pages()[0] ?? (await context!.newPage());
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (req) => {
      if (!req.url().startsWith(`${base}/`) && !req.url().startsWith('data:')) foreign.push(req.url());
    });

    await page.goto(`${base}/`, { waitUntil: 'load' });
    expect(await page.title()).toBe('tideflow');

    // At least one chart image really loaded.
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll<HTMLImageElement>('img.chart-img')).some((i) => i.complete && i.naturalWidth > 0),
      undefined,
      { timeout: 15_000 },
    );
    const widths = await page.$$eval('img.chart-img', (imgs) => (imgs as HTMLImageElement[]).map((i) => i.naturalWidth));
    expect(widths).toEqual([640, 640]);

    // Jobs of each workflow, with state and buttons.
    const spawnRow = page.locator(`tr[data-job="${WF}/spawn"]`);
    await expect.poll(() => spawnRow.getAttribute('data-state')).toBe('active');
    expect(await page.locator('tr[data-job]').count()).toBe(6);
    expect(await page.locator('#killed tbody tr').count()).toBe(3);

    // Pause: the page asks for the token once, then the engine reports the job paused.
    await spawnRow.locator('button[data-action="pause"]').click();
    await page.locator('#token-dialog[open]').waitFor();
    await page.locator('#token-input').fill(TOKEN);
    await page.locator('#token-save').click();
    await page.locator(`tr[data-job="${WF}/spawn"][data-state="paused"]`).waitFor({ timeout: 10_000 });
    expect(await jobState('spawn')).toBe('paused');
    expect(control.calls).toEqual([{ op: 'pause', target: { workflow: WF, job: 'spawn' } }]);
    expect(await page.evaluate(() => localStorage.getItem('tideflow.adminToken'))).toBe(TOKEN);

    // The token is kept: triggering another job does not ask again.
    await page.locator(`tr[data-job="${WF}/chart"] button[data-action="trigger"]`).click();
    await expect.poll(() => control.calls.length).toBe(2);
    expect(control.calls[1]).toMatchObject({ op: 'trigger', workflow: WF, job: 'chart' });
    expect(await page.locator('#token-dialog[open]').count()).toBe(0);

    // A newly rendered chart replaces the old image without a reload.
    await writeFile(path.join(chartsDir, 'memory.png'), chartPng('Host memory used (MiB)', [900, 1000, 950, 1100, 1250, 1200, 1300, 1280, 1350, 1400, 1390, 1420], 720, '#2f6fb2'));
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('figure[data-chart="memory"] img')?.naturalWidth ?? 0) === 720,
      undefined,
      { timeout: 15_000 },
    );
    // Back to the first size so the screenshot shows both charts side by side alike.
    await writeFile(path.join(chartsDir, 'memory.png'), chartPng('Host memory used (MiB)', [812, 840, 905, 990, 1010, 960, 1105, 1180, 1120, 1204, 1150, 1230], 640, '#2f6fb2'));
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('figure[data-chart="memory"] img')?.naturalWidth ?? 0) === 640,
      undefined,
      { timeout: 15_000 },
    );

    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(10_000);

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
  });

  it('shows a job whose route no live worker serves as waiting, with the reason', async () => {
    const page = context!.pages()[0]!;
    const row = page.locator('tr[data-job="fleet-c/analyze"]');
    await expect.poll(() => row.getAttribute('data-state')).toBe('waiting');
    const badge = row.locator('td.state-cell .badge');
    expect(await badge.textContent()).toBe('waiting');
    expect(await badge.getAttribute('class')).toBe('badge waiting');
    expect(await row.locator('td.state-cell').getAttribute('title')).toBe('no live worker serves route "host-c" (start `tideflow worker --serve host-c`)');
    expect(await row.locator('td').first().textContent()).toContain('on host-c');
    // The other jobs are served: none of them waits.
    expect(await page.locator('tr[data-job][data-state="waiting"]').count()).toBe(1);
  });

  it('narrows the runs and the killed containers to the chosen host, and remembers it', async () => {
    const page = context!.pages()[0]!;
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    await page.goto(`${base}/`, { waitUntil: 'load' });
    const options = () => page.$$eval('#host-select option', (os) => (os as HTMLOptionElement[]).map((o) => [o.value, o.textContent]));
    const runHosts = () => page.$$eval('#runs tbody td.host', (tds) => tds.map((td) => td.textContent));
    const killed = () => page.$$eval('#killed tbody td.clip:nth-child(2)', (tds) => tds.map((td) => td.textContent));

    // All hosts by default: both hosts listed, every run (the manual run of the first test has no host yet) and every kill shown.
    await expect.poll(options).toEqual([['', 'all hosts'], ['host-a', 'host-a'], ['host-b', 'host-b']]);
    expect(await page.locator('#host-select').inputValue()).toBe('');
    await expect.poll(runHosts).toEqual(['—', 'host-b', 'host-b', 'host-a', 'host-a', 'host-a']);
    await expect.poll(killed).toEqual(['tf-cpu-hog-7', 'tf-mem-hog-3', 'tf-ticker-9']);

    await page.selectOption('#host-select', 'host-b');
    await expect.poll(runHosts).toEqual(['host-b', 'host-b']);
    await expect.poll(killed).toEqual(['tf-mem-hog-3']);
    expect(await page.locator('#runs-note').textContent()).toBe('2 in history on host-b');
    expect(await page.evaluate(() => localStorage.getItem('tideflow.host'))).toBe('host-b');

    // A reload keeps the choice: the first requests are already narrowed.
    await page.reload({ waitUntil: 'load' });
    await expect.poll(options).toEqual([['', 'all hosts'], ['host-a', 'host-a'], ['host-b', 'host-b']]);
    expect(await page.locator('#host-select').inputValue()).toBe('host-b');
    await expect.poll(runHosts).toEqual(['host-b', 'host-b']);
    await expect.poll(killed).toEqual(['tf-mem-hog-3']);

    await page.selectOption('#host-select', 'host-a');
    await expect.poll(runHosts).toEqual(['host-a', 'host-a', 'host-a']);
    await expect.poll(killed).toEqual(['tf-cpu-hog-7', 'tf-ticker-9']);

    // Back to all hosts: nothing remembered.
    await page.selectOption('#host-select', '');
    await expect.poll(killed).toEqual(['tf-cpu-hog-7', 'tf-mem-hog-3', 'tf-ticker-9']);
    await expect.poll(runHosts).toHaveLength(6);
    expect(await page.evaluate(() => localStorage.getItem('tideflow.host'))).toBeNull();
    expect(problems).toEqual([]);
  });

  it('serves the OpenAPI UI at /docs from this origin only', async () => {
    const page = await context!.newPage();
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(`${base}/`) && !req.url().startsWith('data:')) foreign.push(req.url());
    });
    await page.goto(`${base}/docs`, { waitUntil: 'load' });
    await page.locator('.swagger-ui .opblock').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('.swagger-ui .opblock').count()).toBeGreaterThanOrEqual(13);
    expect(foreign).toEqual([]);
    await page.close();
  });
});
