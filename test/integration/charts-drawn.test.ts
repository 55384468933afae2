import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import ChartsPluginClass from '../../plugins/charts/index.js';
import type { ChartsPlugin } from '../../plugins/charts/charts-plugin.js';
import type { ChartsConfig } from '../../plugins/charts/charts-config.js';
import { TIME_ZONE_ENV } from '../../plugins/charts/chart-time-zone.js';
import { lifecycleFixture, type FixtureContainer, type LifecycleFixture } from '../support/chart-fixtures.js';
import { ChartSvg, timeAxisScale, type DrawnAxis } from '../support/chart-svg.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

/**
 * The charts as a person reads them: each is rendered from a fixture whose
 * content is known (the built-in workflow's records, a long workflow name)
 * and the SVG is read back: the labels drawn, where the marks sit on the
 * time axis, which containers appear.
 */

const NOW = Date.UTC(2026, 10, 20, 12, 0, 30);
const DAY = Date.UTC(2026, 10, 20);
const KOLKATA_MS = 5.5 * 3_600_000; // Asia/Kolkata: UTC+5:30 all year

const shortId = (c: FixtureContainer) => c.id.slice(0, 12);
const imageShort = (c: FixtureContainer) => c.image.split('/').pop()!;

function expectDistinct(axis: DrawnAxis): void {
  const texts = axis.labels.map((l) => l.text);
  expect(texts.length, `labels of "${axis.title}"`).toBeGreaterThan(1);
  expect(new Set(texts).size, `labels of "${axis.title}" repeat: ${texts.join(' | ')}`).toBe(texts.length);
}

/** Left edge of a bar drawn as "M x,y h… v… h… Z", on the canvas. */
function barLeft(item: { x: number; d: string | undefined }): number {
  const m = /^M\s*([-\d.e]+)[ ,]/.exec(item.d ?? '');
  if (!m) throw new Error(`not a bar path: ${item.d}`);
  return item.x + Number(m[1]);
}

describe('charts read back from their SVG (fixtures of known content)', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let plugin: ChartsPlugin;
  let savedTz: string | undefined;

  async function seed(fx: LifecycleFixture): Promise<void> {
    for (const b of fx.batches) await store.ingest(b);
  }
  async function render(config: Partial<ChartsConfig>): Promise<Record<string, ChartSvg>> {
    const out = await plugin.renderAll(config);
    return Object.fromEntries(out.charts.map((c) => [c.name, new ChartSvg(readFileSync(c.svg, 'utf8'))]));
  }

  beforeEach(() => {
    savedTz = process.env[TIME_ZONE_ENV];
    delete process.env[TIME_ZONE_ENV];
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-charts-drawn-'));
    store = openRecordStore(dir);
    const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), clock: { now: () => NOW }, extra: [[SharedTokens.RecordStore, store]] });
    plugin = c.resolve(ChartsPluginClass);
  });
  afterEach(async () => {
    if (savedTz === undefined) delete process.env[TIME_ZONE_ENV];
    else process.env[TIME_ZONE_ENV] = savedTz;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('live: each kept container once, told apart by image, slot and short id whatever the workflow name', async () => {
    const fx = lifecycleFixture(NOW, 10, `a-workflow-name-long-enough-to-fill-any-label-${'x'.repeat(40)}`);
    await seed(fx);
    const svg = (await render({ charts: ['live'] })).live!;
    const last = fx.analyses[fx.analyses.length - 1]!;
    const kept = fx.containers.filter((c) => c.killedAt === null && c.sampledAt.includes(last));
    expect(kept).toHaveLength(5); // the workflow keeps 2 high + 3 low
    const axis = svg.axis('Container (image #slot · id)');
    expectDistinct(axis);
    expect(axis.labels).toHaveLength(kept.length);
    for (const c of kept) {
      const rows = axis.labels.filter((l) => l.text.includes(shortId(c)));
      expect(rows, shortId(c)).toHaveLength(1);
      expect(rows[0]!.text).toBe(`${imageShort(c)} #${c.slot} · ${shortId(c)}`);
    }
    expect(svg.texts().some((t) => t.includes('a-workflow-name'))).toBe(false);
  });

  it('containers: the time axis spans the data, not the empty hour; bars sit at their minutes', async () => {
    const fx = lifecycleFixture(NOW, 10);
    await seed(fx);
    const svg = (await render({ charts: ['containers'], window: '1h' })).containers!;
    const axis = svg.axis('Time (UTC)');
    expectDistinct(axis);
    const scale = timeAxisScale(axis, DAY);
    const firstBucket = Math.floor(fx.containers[0]!.spawnedAt / 60_000) * 60_000;
    const lastEvent = Math.max(...fx.analyses);
    // Within the data (plus the bucket in progress), and covering most of it.
    expect(scale.first).toBeGreaterThanOrEqual(firstBucket);
    expect(scale.last).toBeLessThanOrEqual(Math.floor(lastEvent / 60_000) * 60_000 + 60_000);
    expect(scale.last - scale.first).toBeGreaterThanOrEqual(0.7 * (lastEvent - firstBucket));
    // Every bar starts on a minute that has data.
    const bars = svg.marks('mark-rect');
    expect(bars.length).toBeGreaterThan(10);
    for (const b of bars) {
      const t = scale.timeAt(barLeft(b));
      expect(Math.abs(t - Math.round(t / 60_000) * 60_000), 'bar on a minute boundary').toBeLessThan(2_000);
      expect(t).toBeGreaterThanOrEqual(firstBucket - 2_000);
      expect(t).toBeLessThanOrEqual(lastEvent);
    }
  });

  it('containers and memory: a fresh run (2 minutes into a 1h window) fills the plot, it is not a sliver at the edge', async () => {
    const fx = lifecycleFixture(NOW, 2);
    await seed(fx);
    const svgs = await render({ charts: ['containers', 'memory'], window: '1h' });
    for (const name of ['containers', 'memory']) {
      const axis = svgs[name]!.axis('Time (UTC)');
      expectDistinct(axis);
      const scale = timeAxisScale(axis, DAY);
      // Three one-minute buckets at least, never the whole hour.
      expect(scale.first, name).toBeGreaterThanOrEqual(NOW - 4 * 60_000);
      expect(scale.last, name).toBeLessThanOrEqual(NOW + 60_000);
    }
  });

  it('memory: used/free lines over the data with the kills per minute as bars on a second axis, at their minutes', async () => {
    const fx = lifecycleFixture(NOW, 10);
    await seed(fx);
    const svg = (await render({ charts: ['memory'] })).memory!;
    const axis = svg.axis('Time (UTC)');
    expectDistinct(axis);
    expectDistinct(svg.axis('Memory (GiB)'));
    const kills = svg.axis('Killed per minute');
    expectDistinct(kills);
    const scale = timeAxisScale(axis, DAY);
    expect(scale.first).toBeGreaterThanOrEqual(Math.floor(fx.analyses[0]! / 60_000) * 60_000);
    expect(scale.last).toBeLessThanOrEqual(NOW + 60_000);
    // One bar per minute with kills, at that minute.
    const perMinute = new Map<number, number>();
    for (const c of fx.containers) if (c.killedAt !== null) perMinute.set(Math.floor(c.killedAt / 60_000) * 60_000, (perMinute.get(Math.floor(c.killedAt / 60_000) * 60_000) ?? 0) + 1);
    const bars = svg.marks('mark-rect', 'layer_0');
    expect(bars).toHaveLength(perMinute.size);
    const drawn = bars.map((b) => Math.round(scale.timeAt(barLeft(b)) / 60_000) * 60_000).sort();
    expect(drawn).toEqual([...perMinute.keys()].sort());
    // Both lines drawn: one path per series.
    expect(svg.marks('mark-line')).toHaveLength(2);
  });

  it('memory: a stretch without readings breaks the lines instead of bridging it', async () => {
    const fx = lifecycleFixture(NOW, 10);
    // The engine was down from 6 to 3 minutes before the end: no analysis was stored.
    const down = (t: number) => t > NOW - 6 * 60_000 && t < NOW - 3 * 60_000;
    await seed({ ...fx, batches: fx.batches.filter((b) => b.sourceKind !== 'analysis' || !down(b.time)) });
    const svg = (await render({ charts: ['memory'] })).memory!;
    // Used and free, each in two pieces.
    expect(svg.marks('mark-line')).toHaveLength(4);
    const scale = timeAxisScale(svg.axis('Time (UTC)'), DAY);
    const starts = svg.marks('mark-line').map((l) => Math.round(scale.timeAt(l.x + Number(/^M\s*([-\d.e]+)/.exec(l.d!)![1])) / 1000) * 1000);
    const resumed = fx.analyses.find((t) => t >= NOW - 3 * 60_000)!;
    expect(starts.filter((t) => Math.abs(t - resumed) < 2_000)).toHaveLength(2);
  });

  it('history: every measured container of the fixture once, kills marked at their times on their rows', async () => {
    // Two minutes: 20 containers measured (the spawn at the very end is not yet), all fit at 600 px high.
    const fx = lifecycleFixture(NOW, 2);
    await seed(fx);
    const measured = fx.containers.filter((c) => c.sampledAt.length > 0);
    expect(measured).toHaveLength(20);
    const svg = (await render({ charts: ['history'], height: 600 })).history!;
    const rows = svg.axes.find((a) => a.labels.some((l) => l.text.includes(' · ')))!;
    expectDistinct(rows);
    expect(rows.labels).toHaveLength(measured.length);
    for (const c of measured) expect(rows.labels.filter((l) => l.text === `${imageShort(c)} #${c.slot} · ${shortId(c)}`), shortId(c)).toHaveLength(1);

    const axis = svg.axis('Time (UTC)');
    expectDistinct(axis);
    const scale = timeAxisScale(axis, DAY);
    const lifeStart = Math.min(...measured.map((c) => c.spawnedAt));
    const lifeEnd = Math.max(...measured.flatMap((c) => c.sampledAt));
    expect(scale.first).toBeGreaterThanOrEqual(lifeStart);
    expect(scale.last).toBeLessThanOrEqual(lifeEnd);

    const marks = svg.marks('mark-symbol').filter((m) => m.ariaLabel?.includes(' killed at '));
    const killed = measured.filter((c) => c.killedAt !== null);
    expect(killed.length).toBeGreaterThan(5);
    expect(marks).toHaveLength(killed.length);
    const rowGap = Math.abs(rows.labels[1]!.y - rows.labels[0]!.y);
    for (const c of killed) {
      const mark = marks.filter((m) => m.ariaLabel!.includes(shortId(c)));
      expect(mark, shortId(c)).toHaveLength(1);
      // At the kill time (1 s is ~5 px here) and on the container's own row.
      expect(Math.abs(scale.timeAt(mark[0]!.x) - c.killedAt!), `${shortId(c)} kill time`).toBeLessThan(1_000);
      const row = rows.labels.find((l) => l.text.includes(shortId(c)))!;
      expect(Math.abs(mark[0]!.y - row.y), `${shortId(c)} row`).toBeLessThan(rowGap / 2);
    }
    // Both stripes drawn for every container: CPU (layer 1) and memory (layer 2) cells.
    expect(svg.marks('mark-rect', 'layer_1').length).toBeGreaterThanOrEqual(measured.length);
    expect(svg.marks('mark-rect', 'layer_2').length).toBeGreaterThanOrEqual(measured.length);
  });

  it('history: more containers than fit shows the most recently measured ones and says so', async () => {
    const fx = lifecycleFixture(NOW, 30);
    await seed(fx);
    const svg = (await render({ charts: ['history'] })).history!;
    const rows = svg.axes.find((a) => a.labels.some((l) => l.text.includes(' · ')))!;
    expectDistinct(rows);
    const lastAnalysis = fx.analyses[fx.analyses.length - 1]!;
    // The containers measured at the last analysis are all among them.
    for (const c of fx.containers.filter((x) => x.sampledAt.includes(lastAnalysis))) {
      expect(rows.labels.filter((l) => l.text.includes(shortId(c))), shortId(c)).toHaveLength(1);
    }
    expect(svg.texts().some((t) => /the \d+ most recently measured containers|\d+ of \d+ containers measured/.test(t))).toBe(true);
  });

  it('time zone: the chart config key shifts every time axis and names the zone', async () => {
    const fx = lifecycleFixture(NOW, 2);
    await seed(fx);
    const utc = await render({ charts: ['memory', 'history', 'containers'], height: 600 });
    const kolkata = await render({ charts: ['memory', 'history', 'containers'], height: 600, timeZone: 'Asia/Kolkata' });
    for (const name of ['memory', 'history', 'containers']) {
      const a = timeAxisScale(utc[name]!.axis('Time (UTC)'), DAY);
      const b = timeAxisScale(kolkata[name]!.axis('Time (Asia/Kolkata)'), DAY);
      // The same picture, labelled 5:30 later.
      expect(Math.abs(b.timeAt(100) - a.timeAt(100) - KOLKATA_MS), name).toBeLessThan(1_000);
      expect(kolkata[name]!.texts().some((t) => t.includes('Asia/Kolkata') && t.startsWith('last ')), `${name} subtitle`).toBe(true);
    }
    const c = fx.containers.find((x) => x.killedAt !== null)!;
    const mark = kolkata.history!.marks('mark-symbol').find((m) => m.ariaLabel?.includes(shortId(c)))!;
    const scale = timeAxisScale(kolkata.history!.axis('Time (Asia/Kolkata)'), DAY);
    expect(Math.abs(scale.timeAt(mark.x) - (c.killedAt! + KOLKATA_MS))).toBeLessThan(1_000);
    expect(mark.ariaLabel).toContain(`killed at ${new Date(c.killedAt! + KOLKATA_MS).toISOString().slice(11, 19)} Asia/Kolkata`);
  });

  it(`time zone: ${TIME_ZONE_ENV} applies when the config has none; the config wins; UTC by default`, async () => {
    await seed(lifecycleFixture(NOW, 2));
    expect((await plugin.renderAll({ charts: ['memory'] })).timeZone).toBe('UTC');
    process.env[TIME_ZONE_ENV] = 'America/New_York';
    const out = await plugin.renderAll({ charts: ['live', 'memory'] });
    expect(out.timeZone).toBe('America/New_York');
    const live = new ChartSvg(readFileSync(out.charts[0]!.svg, 'utf8'));
    // 12:00:25 UTC in November is 07:00:25 in New York.
    expect(live.texts().some((t) => t.startsWith('analysis at 07:00:25 America/New_York'))).toBe(true);
    expect(new ChartSvg(readFileSync(out.charts[1]!.svg, 'utf8')).axis('Time (America/New_York)').labels.length).toBeGreaterThan(1);
    expect((await plugin.renderAll({ charts: ['memory'], timeZone: 'Europe/Paris' })).timeZone).toBe('Europe/Paris');
  });

  it('time zone: a bad zone is a clear error, from the environment, a direct call or a workflow file', async () => {
    process.env[TIME_ZONE_ENV] = 'Mars/Olympus_Mons';
    const err = await plugin.renderAll({ charts: ['memory'] }).catch((e: unknown) => e);
    expect(isNonRetryable(err)).toBe(true);
    expect((err as Error).message).toMatch(/TIDEFLOW_TZ is "Mars\/Olympus_Mons", which is not an IANA time zone/);
    delete process.env[TIME_ZONE_ENV];
    await expect(plugin.renderAll({ timeZone: 'Nowhere/Land' })).rejects.toThrow(/invalid charts config at \/timeZone/);
    // What the engine does with a workflow file's job config.
    const registry = new PluginRegistry();
    const entry = registry.register(ChartsPluginClass, 'plugins/charts');
    const res = entry.validateConfig({ timeZone: 'Nowhere/Land' });
    expect(res.ok).toBe(false);
    expect(res.ok ? [] : res.issues.map((i) => i.pointer)).toEqual(['/timeZone']);
    expect(entry.validateConfig({ timeZone: 'Europe/Paris' }).ok).toBe(true);
  });
});
