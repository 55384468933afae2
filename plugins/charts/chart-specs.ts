import type { TopLevelSpec } from 'vega-lite';
import type { ContainerCountPoint, KeptSnapshot, MemoryPoint, StoredRecord } from '../../core/store/record-store.js';
import { formatDuration } from '../../core/workflow/duration.js';
import type { ChartName } from './charts-config.js';

/**
 * Vega-Lite specs of the four charts. Data is embedded (`data.values`) so the
 * .vl.json written beside each PNG opens as-is in the Vega editor. Times are
 * shown in UTC, memory in GiB/MiB (binary), CPU in percent of one core.
 */

export const CHART_FONT = 'DejaVu Sans';
export const NO_DATA_TEXT = 'no data yet';
/** Killed containers drawn at most (newest first); the subtitle gives the total. */
export const MAX_KILLED_POINTS = 1000;
/** Containers shown in the live chart at most (highest CPU first). */
export const MAX_LIVE_BARS = 30;
/** Buckets of the containers chart at most; widens the bucket past one minute for long windows. */
const MAX_COUNT_BUCKETS = 120;

export const CHART_TITLES: Record<ChartName, string> = {
  memory: 'Host memory: used and free',
  containers: 'Containers spawned vs killed per minute',
  killed: 'Killed containers: CPU and memory',
  live: 'Live containers: kept at the last analysis',
};

export interface ChartWindow {
  from: number;
  to: number;
}

export interface ChartSize {
  width: number;
  height: number;
}

/** Everything the charts show, queried from the store once per render. */
export interface ChartData {
  window: ChartWindow;
  memory?: MemoryPoint[];
  counts?: { bucketMs: number; points: ContainerCountPoint[] };
  killed?: { items: StoredRecord[]; total: number };
  live?: KeptSnapshot;
}

export interface BuiltSpec {
  name: ChartName;
  title: string;
  spec: TopLevelSpec;
  /** Data rows drawn. */
  points: number;
  /** True when the chart says "no data yet". */
  empty: boolean;
}

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const CLASS_DOMAIN = ['high', 'low', 'unclassified'];
const CLASS_COLORS = ['#d62728', '#1f77b4', '#7f7f7f'];

const hhmm = (ms: number, seconds = false) => new Date(ms).toISOString().slice(11, seconds ? 19 : 16);
const count = (n: number) => n.toLocaleString('en-US');
const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function windowText(w: ChartWindow): string {
  return `last ${formatDuration(Math.round((w.to - w.from) / 1000) * 1000)}, ${hhmm(w.from)}–${hhmm(w.to)} UTC`;
}

/** What every chart shares: size (fit, so the PNG is exactly width x height), font, title style. */
function base(title: string, subtitle: string, size: ChartSize): Record<string, unknown> {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: size.width,
    height: size.height,
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    background: 'white',
    title: { text: title, subtitle, anchor: 'start', fontSize: 16, subtitleFontSize: 12, subtitleColor: '#444', offset: 12 },
    config: {
      font: CHART_FONT,
      axis: { labelFontSize: 11, titleFontSize: 12, titleColor: '#222', labelColor: '#222', gridColor: '#e8e8e8' },
      legend: { labelFontSize: 11, titleFontSize: 12, titleColor: '#222', labelColor: '#222' },
      view: { stroke: '#ccc' },
    },
  };
}

const timeAxis = {
  field: 'time',
  type: 'temporal',
  title: 'Time (UTC)',
  scale: { type: 'utc' },
  axis: { format: '%H:%M', labelOverlap: true },
};

export function noDataSpec(name: ChartName, subtitle: string, size: ChartSize): BuiltSpec {
  const spec = {
    ...base(CHART_TITLES[name], subtitle, size),
    data: { values: [{ message: NO_DATA_TEXT }] },
    mark: { type: 'text', fontSize: 24, color: '#555' },
    encoding: { text: { field: 'message', type: 'nominal' } },
  };
  return { name, title: CHART_TITLES[name], spec: spec as TopLevelSpec, points: 0, empty: true };
}

export function memorySpec(points: MemoryPoint[], w: ChartWindow, size: ChartSize): BuiltSpec {
  if (points.length === 0) return noDataSpec('memory', windowText(w), size);
  const values = points.flatMap((p) => [
    { time: p.time, series: 'Used', gib: round(p.usedBytes / GIB, 3) },
    { time: p.time, series: 'Free', gib: round(p.freeBytes / GIB, 3) },
  ]);
  const total = points[points.length - 1]!.totalBytes / GIB;
  const spec = {
    ...base(CHART_TITLES.memory, `${windowText(w)} · total RAM ${total.toFixed(1)} GiB · ${count(points.length)} readings`, size),
    data: { values },
    mark: { type: 'line', strokeWidth: 2, point: points.length <= 60 },
    encoding: {
      // Minutes alone repeat on a short span (the first minutes after start): show seconds then.
      x: { ...timeAxis, axis: { ...timeAxis.axis, format: points[points.length - 1]!.time - points[0]!.time < 15 * 60_000 ? '%H:%M:%S' : '%H:%M' } },
      y: { field: 'gib', type: 'quantitative', title: 'Memory (GiB)', scale: { zero: true } },
      color: { field: 'series', type: 'nominal', title: 'Host RAM', scale: { domain: ['Used', 'Free'], range: ['#d62728', '#2ca02c'] } },
    },
  };
  return { name: 'memory', title: CHART_TITLES.memory, spec: spec as TopLevelSpec, points: values.length, empty: false };
}

/** The bucket for a window: one minute, or wider so there are at most MAX_COUNT_BUCKETS. */
export function countBucketMs(w: ChartWindow): number {
  const minutes = Math.max(1, Math.ceil((w.to - w.from) / 60_000 / MAX_COUNT_BUCKETS));
  return minutes * 60_000;
}

export function containersSpec(counts: { bucketMs: number; points: ContainerCountPoint[] }, w: ChartWindow, size: ChartSize): BuiltSpec {
  const { bucketMs, points } = counts;
  const per = bucketMs === 60_000 ? 'minute' : `${formatDuration(bucketMs)}`;
  const title = bucketMs === 60_000 ? CHART_TITLES.containers : `Containers spawned vs killed per ${per}`;
  if (points.length === 0) return { ...noDataSpec('containers', windowText(w), size), title };
  const series = (p: { event: string; class: string | null }) => `${p.event} · ${p.class ?? 'unclassified'}`;
  const main = ['spawned · high', 'spawned · low', 'killed · high', 'killed · low'];
  const extra = [...new Set(points.map(series))].filter((s) => !main.includes(s)).sort();
  const domain = [...main, ...extra];
  const colors = ['#1f77b4', '#9ecae9', '#d62728', '#ff9896', '#7f7f7f', '#c7c7c7'];

  // Zero-fill the window's buckets so a quiet minute shows as 0, not as a gap;
  // the current, still incomplete bucket only if it already has data.
  const byKey = new Map(points.map((p) => [`${p.bucket}|${series(p)}`, p.count]));
  const first = Math.floor(w.from / bucketMs) * bucketMs;
  const lastWithData = Math.max(...points.map((p) => p.bucket));
  const values: Array<{ time: number; end: number; series: string; count: number }> = [];
  for (let b = first; b <= w.to; b += bucketMs) {
    if (b + bucketMs > w.to && b > lastWithData) break;
    for (const s of domain) {
      const n = byKey.get(`${b}|${s}`) ?? 0;
      // Killed go below the zero line: one bar up (spawned) and one down (killed) per bucket.
      if (n > 0) values.push({ time: b, end: b + bucketMs * 0.85, series: s, count: s.startsWith('killed') ? -n : n });
    }
  }
  const total = (event: string) => points.filter((p) => p.event === event).reduce((a, p) => a + p.count, 0);
  const spec = {
    ...base(title, `${windowText(w)} · ${count(total('spawned'))} spawned (bars up), ${count(total('killed'))} killed (bars down)`, size),
    data: { values },
    // x/x2 set the bucket's width; without orient vega-lite would draw them as horizontal ranges.
    mark: { type: 'bar', orient: 'vertical' },
    encoding: {
      x: { ...timeAxis, scale: { type: 'utc', domain: [first, Math.max(w.to, lastWithData + bucketMs)] } },
      x2: { field: 'end' },
      y: {
        field: 'count',
        type: 'quantitative',
        // Kept short: an axis title taller than the plot pushes the chart title off the canvas.
        title: `Containers per ${per}`,
        stack: 'zero',
        axis: { tickMinStep: 1, labelExpr: 'abs(datum.value)' },
      },
      color: { field: 'series', type: 'nominal', title: 'Event · class', scale: { domain, range: colors.slice(0, domain.length) } },
      order: { field: 'series', sort: 'ascending' },
    },
  };
  return { name: 'containers', title, spec: spec as TopLevelSpec, points: points.length, empty: false };
}

export function killedSpec(killed: { items: StoredRecord[]; total: number }, w: ChartWindow, size: ChartSize): BuiltSpec {
  const drawable = killed.items.filter((r) => r.cpuPct !== null && r.memBytes !== null);
  if (drawable.length === 0) return noDataSpec('killed', `${windowText(w)} · no killed containers with measurements`, size);
  const values = drawable.map((r) => ({
    cpu: round(r.cpuPct!, 2),
    mib: round(r.memBytes! / MIB, 2),
    class: r.class ?? 'unclassified',
    name: r.name ?? r.containerId ?? '',
  }));
  const shown = killed.total > killed.items.length ? ` · newest ${count(killed.items.length)} shown` : '';
  const spec = {
    ...base(CHART_TITLES.killed, `${windowText(w)} · ${count(killed.total)} killed${shown}`, size),
    data: { values },
    mark: { type: 'point', filled: true, size: 60, opacity: 0.75 },
    encoding: {
      x: { field: 'cpu', type: 'quantitative', title: 'CPU (% of one core)' },
      y: { field: 'mib', type: 'quantitative', title: 'Memory (MiB)' },
      color: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: CLASS_COLORS } },
      shape: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: ['circle', 'square', 'triangle-up'] } },
    },
  };
  return { name: 'killed', title: CHART_TITLES.killed, spec: spec as TopLevelSpec, points: values.length, empty: false };
}

export function liveSpec(kept: KeptSnapshot, w: ChartWindow, size: ChartSize): BuiltSpec {
  if (kept.time === null || kept.items.length === 0) return noDataSpec('live', 'no analysis has kept containers yet', size);
  const rows = [...kept.items].sort((a, b) => (b.cpuPct ?? -1) - (a.cpuPct ?? -1)).slice(0, MAX_LIVE_BARS);
  const values = rows.map((r) => {
    // Names can repeat (course data: many "sleep"): a short id or PID keeps the bars apart.
    const tag = r.containerId ? r.containerId.slice(0, 12) : r.pid !== null ? `pid ${r.pid}` : `#${r.id}`;
    const mib = r.memBytes === null ? null : round(r.memBytes / MIB, 1);
    return {
      container: `${r.name ?? 'unnamed'} (${tag})`,
      cpu: r.cpuPct === null ? 0 : round(r.cpuPct, 2),
      class: r.class ?? 'unclassified',
      label: `${r.cpuPct === null ? 'CPU n/a' : `${round(r.cpuPct, 1)} %`} · ${mib === null ? 'mem n/a' : `${mib} MiB`}`,
    };
  });
  const maxCpu = Math.max(1, ...values.map((v) => v.cpu));
  const age = kept.time < w.from ? ' (before this window)' : '';
  const more = kept.items.length > rows.length ? `, top ${rows.length} by CPU shown` : '';
  const spec = {
    ...base(CHART_TITLES.live, `analysis at ${hhmm(kept.time, true)} UTC${age} · ${kept.items.length} kept${more} · labels: CPU · memory`, size),
    data: { values },
    encoding: {
      // Rows are already in CPU order; a layered sort by field would be dropped by vega-lite.
      y: { field: 'container', type: 'nominal', title: 'Container', sort: null, axis: { labelLimit: 300 } },
      x: { field: 'cpu', type: 'quantitative', title: 'CPU (% of one core)', scale: { domain: [0, round(maxCpu * 1.35, 1)] } },
    },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 2 },
        encoding: { color: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: CLASS_COLORS } } },
      },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 11, color: '#222' }, encoding: { text: { field: 'label', type: 'nominal' } } },
    ],
  };
  return { name: 'live', title: CHART_TITLES.live, spec: spec as unknown as TopLevelSpec, points: values.length, empty: false };
}

/** The spec of one chart from the queried data (a missing part counts as empty). */
export function buildSpec(name: ChartName, data: ChartData, size: ChartSize): BuiltSpec {
  const w = data.window;
  switch (name) {
    case 'memory':
      return memorySpec(data.memory ?? [], w, size);
    case 'containers':
      return containersSpec(data.counts ?? { bucketMs: countBucketMs(w), points: [] }, w, size);
    case 'killed':
      return killedSpec(data.killed ?? { items: [], total: 0 }, w, size);
    case 'live':
      return liveSpec(data.live ?? { time: null, source: null, items: [] }, w, size);
  }
}
