import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import type { NewRecord } from '../../plugins/shared/store/record-store.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import ChartsPluginClass, { CHART_NAMES } from '../../plugins/charts/index.js';
import type { ChartsPlugin } from '../../plugins/charts/charts-plugin.js';
import { ChartRenderer, MissingFontError } from '../../plugins/charts/chart-renderer.js';
import { CHART_TITLES, NO_DATA_TEXT } from '../../plugins/charts/chart-specs.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 30);
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel. */
  rgba: Buffer;
}

/**
 * A minimal PNG decoder (8-bit RGB/RGBA, not interlaced: what resvg writes),
 * so the test reads back the file on disk rather than trusting the renderer.
 * Checks the signature and each chunk's layout on the way.
 */
function decodePng(buf: Buffer): DecodedPng {
  expect(buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  let off = 8;
  let width = 0, height = 0, colorType = 0;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (off === 8) expect(type).toBe('IHDR');
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8); // bit depth
      colorType = data[9]!;
      expect([2, 6]).toContain(colorType);
      expect(data[12]).toBe(0); // not interlaced
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') sawEnd = true;
    off += 12 + len;
  }
  expect(sawEnd).toBe(true);
  const bpp = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  expect(raw.length).toBe(height * (stride + 1));
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? line[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let add = 0;
      if (filter === 1) add = a;
      else if (filter === 2) add = b;
      else if (filter === 3) add = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = line[x * bpp]!;
      out[o + 1] = line[x * bpp + 1]!;
      out[o + 2] = line[x * bpp + 2]!;
      out[o + 3] = bpp === 4 ? line[x * bpp + 3]! : 255;
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

/** Pixel statistics of a region: non-white share, distinct colours, near-black (text) pixels. */
function pixelStats(img: DecodedPng, region = { x0: 0, y0: 0, x1: img.width, y1: img.height }) {
  let nonWhite = 0, dark = 0, total = 0;
  const colours = new Set<number>();
  for (let y = region.y0; y < region.y1; y++) {
    for (let x = region.x0; x < region.x1; x++) {
      const o = (y * img.width + x) * 4;
      const [r, g, b] = [img.rgba[o]!, img.rgba[o + 1]!, img.rgba[o + 2]!];
      total++;
      if (r < 245 || g < 245 || b < 245) nonWhite++;
      // Text is drawn in black/near-black; the data colours never are.
      if (r < 90 && g < 90 && b < 90) dark++;
      colours.add((r << 16) | (g << 8) | b);
    }
  }
  return { nonWhiteShare: nonWhite / total, dark, colours: colours.size };
}

/** A fixed hour: analysis every 10 s (memory, kept 2+3), 5 kills and 10 spawns every minute. */
async function seedFixedHour(store: SqliteRecordStore): Promise<void> {
  for (let i = 0; i < 360; i++) {
    const t = NOW - 3_600_000 + i * 10_000;
    const records: NewRecord[] = [
      { kind: 'memory', time: t, totalBytes: 16 * GIB, freeBytes: (4 + Math.sin(i / 30)) * GIB, usedBytes: (11 - Math.sin(i / 30)) * GIB, availableBytes: 6 * GIB },
    ];
    if (i % 6 === 0) {
      for (let k = 0; k < 5; k++) {
        const high = (i + k) % 2 === 0;
        records.push({ kind: 'killed', time: t, containerId: `k${i}-${k}`.padEnd(64, 'f'), name: `tf-${high ? 'cpu-hog' : 'sleeper'}-${i}-${k}`, class: high ? 'high' : 'low', cpuPct: high ? 20 + ((i * 7 + k * 13) % 80) : (k % 3) * 0.5, memBytes: (high ? 32 + ((i * 3 + k) % 64) : 1 + k * 0.2) * MIB });
      }
    }
    for (const [n, c, cpu, mem] of [['tf-cpu-hog-a', 'high', 97, 3], ['tf-mem-hog-b', 'high', 45, 70], ['tf-sleeper-c', 'low', 0.1, 0.4], ['tf-ticker-d', 'low', 0.8, 0.6], ['tf-sleeper-e', 'low', 0, 0.3]] as const) {
      records.push({ kind: 'kept', time: t, containerId: `${n}`.padEnd(64, '0'), name: n, class: c, cpuPct: cpu, memBytes: mem * MIB });
    }
    await store.ingest({ source: `an-${i}`, sourceKind: 'analysis', workflow: 'wf', time: t, records });
    if (i % 6 === 0) {
      await store.ingest({ source: `sp-${i}`, sourceKind: 'spawn', workflow: 'wf', time: t + 1, records: Array.from({ length: 10 }, (_, k) => ({ kind: 'spawned' as const, time: t + 1, containerId: `s${i}-${k}`, name: `s${i}-${k}`, image: 'img', class: k < 4 ? ('high' as const) : ('low' as const) })) });
    }
  }
}

describe('charts plugin (real SQLite, vega -> SVG -> resvg PNG)', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let plugin: ChartsPlugin;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-charts-'));
    store = openRecordStore(dir);
    const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), clock: { now: () => NOW }, extra: [[SharedTokens.RecordStore, store]] });
    plugin = c.resolve(ChartsPluginClass);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders every chart from a fixed data set: valid PNG of the configured size at 2x, not blank, titled; SVG and spec beside it', async () => {
    await seedFixedHour(store);
    const out = await plugin.renderAll(); // the chart job has no config: defaults (1h, all charts, 800x400 at pixel ratio 2)
    expect(out.charts.map((c) => c.name)).toEqual([...CHART_NAMES]);
    expect(out.window).toEqual({ from: NOW - 3_600_000, to: NOW });
    for (const chart of out.charts) {
      expect(chart.empty, chart.name).toBe(false);
      expect(chart.png).toBe(path.join(dir, 'charts', `${chart.name}.png`));
      const png = readFileSync(chart.png);
      expect(png.length).toBe(chart.bytes);
      const img = decodePng(png);
      // High-DPI: twice the configured size in pixels; the SVG keeps the CSS size.
      expect([img.width, img.height], chart.name).toEqual([1600, 800]);
      expect([chart.width, chart.height], chart.name).toEqual([1600, 800]);
      const all = pixelStats(img);
      expect(all.nonWhiteShare, chart.name).toBeGreaterThan(0.03);
      expect(all.colours, chart.name).toBeGreaterThan(20);
      // The title is drawn, on the canvas, where it belongs (fonts loaded, not pushed off the top).
      expect(pixelStats(img, { x0: 0, y0: 0, x1: 1600, y1: 60 }).dark, `${chart.name} title`).toBeGreaterThan(4 * 150);
      const svg = readFileSync(chart.svg, 'utf8');
      expect(svg).toMatch(/^<svg [^>]*width="800" height="400"/);
      expect(svg).toContain(`>${CHART_TITLES[chart.name]}</text>`);
      expect(svg).toContain('font-family="DejaVu Sans"');
      const spec = JSON.parse(readFileSync(chart.spec, 'utf8'));
      expect(chart.spec.endsWith(`${chart.name}.vl.json`)).toBe(true);
      expect(spec.$schema).toMatch(/vega-lite/);
      expect(spec.data.values.length).toBeGreaterThan(0);
    }
    const byName = Object.fromEntries(out.charts.map((c) => [c.name, c]));
    expect(byName.memory!.points).toBe(720); // 360 readings x used/free
    expect(byName.live!.points).toBe(5);
    expect(byName.killed!.points).toBe(300);
    const svgOf = (n: string) => readFileSync(path.join(dir, 'charts', `${n}.svg`), 'utf8');
    expect(svgOf('memory')).toContain('Memory (GiB)');
    expect(svgOf('memory')).toContain('Time (UTC)');
    expect(svgOf('killed')).toContain('CPU (% of one core)');
    expect(svgOf('killed')).toContain('Memory (MiB)');
    expect(svgOf('containers')).toContain('spawned · high');
    // Live bars are labelled by what tells them apart (course-style names here: name and short id).
    expect(svgOf('live')).toContain('tf-cpu-hog-a · tf-cpu-hog-a');
    expect(byName.history!.points).toBeGreaterThan(0);
    // Atomic writes leave no temp files behind.
    expect(readdirSync(path.join(dir, 'charts')).sort()).toEqual(CHART_NAMES.flatMap((n) => [`${n}.png`, `${n}.svg`, `${n}.vl.json`]).sort());
  });

  it('honours the config: window, which charts, size', async () => {
    await seedFixedHour(store);
    const out = await plugin.renderAll({ window: '10m', charts: ['memory', 'killed'], width: 640, height: 320, pixelRatio: 1 });
    expect(out.charts.map((c) => c.name)).toEqual(['memory', 'killed']);
    expect(out.window.from).toBe(NOW - 600_000);
    expect(out.charts.find((c) => c.name === 'memory')!.points).toBe(2 * 60);
    for (const c of out.charts) {
      const img = decodePng(readFileSync(c.png));
      expect([img.width, img.height]).toEqual([640, 320]);
    }
    const sharp = await plugin.renderAll({ charts: ['killed'], width: 640, height: 320, pixelRatio: 3 });
    const img = decodePng(readFileSync(sharp.charts[0]!.png));
    expect([img.width, img.height]).toEqual([1920, 960]);
    expect(existsSync(path.join(dir, 'charts', 'live.png'))).toBe(false);
  });

  it('an empty store gives charts that say "no data yet", never a crash', async () => {
    const out = await plugin.renderAll({ pixelRatio: 1 });
    expect(out.charts).toHaveLength(CHART_NAMES.length);
    for (const chart of out.charts) {
      expect(chart.empty).toBe(true);
      const svg = readFileSync(chart.svg, 'utf8');
      expect(svg).toContain(NO_DATA_TEXT);
      expect(svg).toContain(CHART_TITLES[chart.name]);
      const img = decodePng(readFileSync(chart.png));
      expect([img.width, img.height]).toEqual([800, 400]);
      // The message is drawn in the middle of the canvas.
      expect(pixelStats(img, { x0: 250, y0: 150, x1: 550, y1: 260 }).dark, chart.name).toBeGreaterThan(100);
    }
  });

  it('renders every chart from 100,000 records', async () => {
    // 1,000 analysis+spawn pairs over the hour: 1 memory, 40 killed, 19 kept, 40 spawned each.
    for (let i = 0; i < 1000; i++) {
      const t = NOW - 3_600_000 + i * 3_600;
      const records: NewRecord[] = [{ kind: 'memory', time: t, totalBytes: 16 * GIB, freeBytes: (4 + (i % 50) / 25) * GIB, usedBytes: (10 + (i % 70) / 35) * GIB, availableBytes: 6 * GIB }];
      for (let k = 0; k < 40; k++) records.push({ kind: 'killed', time: t, containerId: `k${i}-${k}`, name: `k${i}-${k}`, class: k % 2 ? 'low' : 'high', cpuPct: (i * k) % 100, memBytes: ((i + k) % 200) * MIB });
      for (let k = 0; k < 19; k++) records.push({ kind: 'kept', time: t, containerId: `p${i}-${k}`, name: `kept-${k}`, class: k < 9 ? 'high' : 'low', cpuPct: k * 5, memBytes: k * MIB });
      await store.ingest({ source: `a${i}`, sourceKind: 'analysis', workflow: 'wf', time: t, records });
      await store.ingest({ source: `s${i}`, sourceKind: 'spawn', workflow: 'wf', time: t, records: Array.from({ length: 40 }, (_, k) => ({ kind: 'spawned' as const, time: t, class: k % 2 ? ('low' as const) : ('high' as const) })) });
    }
    expect((await store.stats()).records).toBe(100_000);
    const t0 = performance.now();
    const out = await plugin.renderAll();
    const ms = performance.now() - t0;
    console.log(`[charts] 100,000 records -> ${out.charts.length} charts in ${Math.round(ms)} ms (${out.charts.map((c) => `${c.name} ${c.ms} ms`).join(', ')})`);
    for (const c of out.charts) {
      expect(c.empty).toBe(false);
      const img = decodePng(readFileSync(c.png));
      expect([img.width, img.height]).toEqual([1600, 800]);
      expect(pixelStats(img).nonWhiteShare).toBeGreaterThan(0.03);
    }
    const byName = Object.fromEntries(out.charts.map((c) => [c.name, c]));
    expect(byName.killed!.points).toBe(1000); // newest 1,000 of 40,000 drawn; the subtitle says so
    expect(readFileSync(byName.killed!.svg, 'utf8')).toContain('40,000 killed · newest 1,000 shown');
    expect(byName.memory!.points).toBeLessThanOrEqual(2 * 500); // averaged into at most 500 readings
    // No time limit here: the 2 s target is measured by the benchmark (BENCH_ONLY=logger-charts npm run bench) on a quiet machine.
  });

  it('renders once more on shutdown, with each chart job config', async () => {
    await seedFixedHour(store);
    await plugin.shutdown({ jobs: [{ workflow: 'wf', job: 'chart', config: { window: '1h', charts: ['live'], width: 800, height: 400, pixelRatio: 2 } }], log: silentLogger() });
    expect(readdirSync(path.join(dir, 'charts')).sort()).toEqual(['live.png', 'live.svg', 'live.vl.json']);
    await plugin.shutdown({ jobs: [], log: silentLogger() });
    expect(readdirSync(path.join(dir, 'charts'))).toHaveLength(3 * CHART_NAMES.length);
  });

  it('run() returns what it rendered', async () => {
    const out = await plugin.run(undefined, {
      config: { window: '1h', charts: ['memory'], width: 800, height: 400, pixelRatio: 1 }, runId: 'r1', workflow: 'wf', job: 'chart', trigger: 'schedule', attempt: 1,
      signal: new AbortController().signal, log: silentLogger(),
    });
    expect(out.charts).toEqual([expect.objectContaining({ name: 'memory', empty: true, width: 800, height: 400 })]);
  });

  it('missing fonts give a clear, non-retryable error naming the apt package', async () => {
    expect(() => new ChartRenderer('/nonexistent/fonts').checkFonts()).toThrow(MissingFontError);
    expect(() => new ChartRenderer('/nonexistent/fonts').checkFonts()).toThrow(/apt-get install fonts-dejavu-core/);
    const saved = process.env.TIDEFLOW_FONT_DIR;
    process.env.TIDEFLOW_FONT_DIR = '/nonexistent/fonts';
    try {
      const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
      const err = await c.resolve(ChartsPluginClass).renderAll().catch((e: unknown) => e);
      expect(isNonRetryable(err)).toBe(true);
      expect((err as Error).message).toContain('fonts-dejavu-core');
    } finally {
      if (saved === undefined) delete process.env.TIDEFLOW_FONT_DIR;
      else process.env.TIDEFLOW_FONT_DIR = saved;
    }
  });
});
