import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createContainer } from '../core/di/container.js';
import { loadEngineConfig } from '../core/config/engine-config.js';
import { silentLogger } from '../core/logging/logger.js';
import type { PluginContext } from '../core/plugin/plugin.js';
import type { AnalysisResult } from '../plugins/shared/records/container-records.js';
import type { NewRecord, RecordStore } from '../plugins/shared/store/record-store.js';
import { openRecordStore } from '../plugins/shared/store/sqlite-record-store.js';
import { LoggerPlugin } from '../plugins/logger/logger-plugin.js';
import type { LoggerConfig } from '../plugins/logger/logger-config.js';
import { ChartsPlugin } from '../plugins/charts/charts-plugin.js';
import { CHART_NAMES } from '../plugins/charts/charts-config.js';
import { ChartRenderer } from '../plugins/charts/chart-renderer.js';
import { memorySpec } from '../plugins/charts/chart-specs.js';
import { record } from './report.js';
import { SharedTokens } from '../plugins/shared/tokens.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** Records one analysis produces here: 1 memory reading, 5 killed, 5 kept (keep 2 high + 3 low of 10). */
const PER_ANALYSIS = 11;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function analysis(i: number, t: number): AnalysisResult {
  return {
    kind: 'analysis', runId: `an-${i}-${randomUUID()}`, workflow: 'bench', time: t, dryRun: false, metricSource: 'cgroup', durationMs: 5,
    hostMemory: { totalBytes: 16 * GIB, freeBytes: (4 + (i % 40) / 20) * GIB, availableBytes: 6 * GIB, usedBytes: (10 + (i % 40) / 20) * GIB },
    containers: Array.from({ length: 10 }, (_, k) => ({
      id: `${i}-${k}`.padEnd(64, 'a'), name: `tf-${i}-${k}`, image: k < 5 ? 'tideflow/cpu-hog' : 'tideflow/sleeper', class: k < 5 ? ('high' as const) : ('low' as const),
      classSource: 'label' as const, cpuPct: k < 5 ? 20 + ((i * 7 + k) % 80) : (k % 3) * 0.3, memBytes: (k < 5 ? 40 + k : 1) * MIB,
      decision: k === 0 || k === 1 || k >= 7 ? ('kept' as const) : ('killed' as const), reason: 'bench',
    })),
  };
}

/** The course project's log entry with the same content as `analysis(i, t)`. */
function courseEntry(i: number, t: number): Record<string, unknown> {
  const a = analysis(i, t);
  const pct = (b: number | null) => ((b ?? 0) / a.hostMemory.totalBytes) * 100;
  const proc = (c: AnalysisResult['containers'][number], k: number) => ({ PID: 1000 + k, Name: c.name, Cmdline: c.image, MemoryUsage: pct(c.memBytes), CPUUsage: c.cpuPct });
  return {
    current_time: new Date(t).toISOString(),
    killed_containers: a.containers.filter((c) => c.decision === 'killed').map((c, k) => ({ pid: 2000 + k, container_id: c.id, name: c.name, memory_usage: pct(c.memBytes), cpu_usage: c.cpuPct })),
    high_consumption_containers: a.containers.filter((c) => c.decision === 'kept' && c.class === 'high').map(proc),
    low_consumption_containers: a.containers.filter((c) => c.decision === 'kept' && c.class === 'low').map(proc),
    memory_info: { total_ram_kb: a.hostMemory.totalBytes / 1024, free_ram_kb: Math.round(a.hostMemory.freeBytes / 1024), in_use_ram_kb: Math.round(a.hostMemory.usedBytes / 1024) },
  };
}

/** Fills a store quickly (bulk batches, not the measured path) up to `total` records in the last hour before `now`. */
export async function seedStore(store: RecordStore, total: number, now: number, from = 0): Promise<void> {
  const perBatch = 100;
  for (let n = from; n < total; n += perBatch) {
    const t = now - 3_600_000 + Math.floor((n / total) * 3_600_000);
    const size = Math.min(perBatch, total - n);
    const records: NewRecord[] = Array.from({ length: size }, (_, k) => {
      const j = n + k;
      const m = j % 10;
      if (m === 0) return { kind: 'memory', time: t, totalBytes: 16 * GIB, freeBytes: (4 + (j % 50) / 25) * GIB, usedBytes: (10 + (j % 70) / 35) * GIB, availableBytes: 6 * GIB };
      if (m <= 4) return { kind: 'killed', time: t, containerId: `k${j}`, name: `k${j}`, class: m % 2 ? 'high' : 'low', cpuPct: (j * 7) % 100, memBytes: (j % 200) * MIB };
      if (m <= 6) return { kind: 'kept', time: t, containerId: `p${j}`, name: `kept-${m}`, class: m === 5 ? 'high' : 'low', cpuPct: m * 5, memBytes: m * MIB };
      return { kind: 'spawned', time: t, containerId: `s${j}`, name: `s${j}`, class: m % 2 ? 'high' : 'low' };
    });
    await store.ingest({ source: `seed-${n}`, sourceKind: 'analysis', workflow: 'bench', time: t, records });
  }
}

function logCtx(config: LoggerConfig): PluginContext<LoggerConfig> {
  return { config, runId: randomUUID(), workflow: 'bench', job: 'log', trigger: 'chain', attempt: 1, signal: new AbortController().signal, log: silentLogger() };
}

/** tideflow: µs per record of LoggerPlugin.run (validate, map, one transaction, retention check) with `stored` records already there. */
async function tideflowIngestPerRecord(stored: number, rounds: number): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-logger-'));
  const store = openRecordStore(dir);
  try {
    const now = Date.now();
    await seedStore(store, stored, now);
    const di = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
    const logger = di.resolve(LoggerPlugin);
    const config: LoggerConfig = { retention: '7d', purgeEvery: '1h' };
    for (let i = 0; i < 20; i++) await logger.run(analysis(i, now), logCtx(config)); // warm-up (JIT, statement cache)
    const perRecord: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const input = analysis(i, now + i);
      const t0 = performance.now();
      const out = await logger.run(input, logCtx(config));
      perRecord.push(((performance.now() - t0) * 1000) / out.records);
    }
    return median(perRecord);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The course project's way: one JSON file holding every log entry; each new
 * log reads the whole file, appends, writes it back, and redraws a chart.
 * The redraw is represented by re-rendering the memory chart (RAM over time,
 * every entry of the file) with the same vega -> resvg renderer tideflow uses.
 */
async function courseIngestPerRecord(stored: number, rounds: number, redraw: boolean): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-course-'));
  const file = path.join(dir, 'logs.json');
  const renderer = new ChartRenderer();
  try {
    const now = Date.now();
    const entries = Math.round(stored / PER_ANALYSIS);
    writeFileSync(file, JSON.stringify(Array.from({ length: entries }, (_, i) => courseEntry(i, now - (entries - i) * 10_000))));
    const once = async (i: number) => {
      const logs = JSON.parse(readFileSync(file, 'utf8')) as Array<ReturnType<typeof courseEntry>>;
      logs.push(courseEntry(entries + i, now + i));
      writeFileSync(file, JSON.stringify(logs));
      if (redraw) {
        const points = logs.map((l) => {
          const m = l.memory_info as { total_ram_kb: number; free_ram_kb: number; in_use_ram_kb: number };
          return { time: Date.parse(l.current_time as string), totalBytes: m.total_ram_kb * 1024, freeBytes: m.free_ram_kb * 1024, usedBytes: m.in_use_ram_kb * 1024, availableBytes: null };
        });
        const built = memorySpec(points, { from: points[0]!.time, to: points[points.length - 1]!.time }, { width: 800, height: 400 });
        const r = await renderer.render(built.spec);
        writeFileSync(path.join(dir, 'memory.png'), r.png);
      }
    };
    await once(-1); // warm-up
    const perRecord: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await once(i);
      perRecord.push(((performance.now() - t0) * 1000) / PER_ANALYSIS);
    }
    return median(perRecord);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function renderAllFrom(records: number): Promise<{ cold: number; warm: number; perChart: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-charts-'));
  const store = openRecordStore(dir);
  try {
    const now = Date.now();
    await seedStore(store, records, now);
    const di = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), clock: { now: () => now }, extra: [[SharedTokens.RecordStore, store]] });
    const charts = di.resolve(ChartsPlugin);
    let t0 = performance.now();
    await charts.renderAll();
    const cold = performance.now() - t0;
    const warm: number[] = [];
    let last = '';
    for (let i = 0; i < 3; i++) {
      t0 = performance.now();
      const out = await charts.renderAll();
      warm.push(performance.now() - t0);
      last = out.charts.map((c) => `${c.name} ${c.ms}`).join(', ');
    }
    return { cold, warm: median(warm), perChart: last };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Logger and charts part of `npm run bench`. */
export async function runLoggerChartsBench(): Promise<void> {
  console.log('\nlogger and charts');
  const small = 1_000;
  const large = 100_000;

  const tf1k = await tideflowIngestPerRecord(small, 300);
  const tf100k = await tideflowIngestPerRecord(large, 300);
  const course1k = await courseIngestPerRecord(small, 15, true);
  const course100k = await courseIngestPerRecord(large, 7, true);
  const courseNoDraw1k = await courseIngestPerRecord(small, 30, false);
  const courseNoDraw100k = await courseIngestPerRecord(large, 10, false);

  const how = 'median per-record cost of one analysis log (11 records: 1 memory, 5 killed, 5 kept)';
  record({
    name: 'logger ingest per record, 1,000 stored', value: tf1k, unit: 'µs/record', baseline: course1k, ratio: course1k / tf1k,
    note: `${how}; tideflow = LoggerPlugin.run into SQLite; baseline = course way: read whole JSON file, append, write back, redraw (memory chart re-rendered from the whole file); ratio = speed-up`,
  });
  record({
    name: 'logger ingest per record, 100,000 stored', value: tf100k, unit: 'µs/record', baseline: course100k, ratio: course100k / tf100k,
    note: `${how}; same as above with 100,000 records stored`,
  });
  record({
    name: 'logger ingest growth 1k -> 100k stored (tideflow)', value: tf100k / tf1k, unit: 'x', baseline: course100k / course1k, ratio: null,
    target: '<= 1.5x', note: 'cost per record at 100,000 stored / at 1,000 stored; baseline = the same growth for the course way (with redraw)',
  });
  record({
    name: 'course way without redraw, per record, 1k -> 100k stored', value: courseNoDraw100k, unit: 'µs/record', baseline: courseNoDraw1k, ratio: courseNoDraw100k / courseNoDraw1k,
    note: 'read whole JSON file, append, write back only; value at 100,000 stored, baseline at 1,000, ratio = growth',
  });

  const r = await renderAllFrom(large);
  record({
    name: 'render all charts from 100,000 records', value: r.warm, unit: 'ms', baseline: null, ratio: null, target: '<= 2000 ms',
    note: `${CHART_NAMES.length} charts, PNG at 2x; median of 3 renders after a first (cold, ${Math.round(r.cold)} ms, includes loading vega); per chart ms: ${r.perChart}`,
  });
}
