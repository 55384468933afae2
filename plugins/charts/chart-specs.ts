import type { TopLevelSpec } from 'vega-lite';
import { CONTAINER_CLASSES } from '../shared/records/container-records.js';
import type { ContainerCountPoint, KeptSnapshot, MemoryPoint, StoredRecord } from '../shared/store/record-store.js';
import { formatDuration } from '../../core/workflow/duration.js';
import { ChartTimeZone } from './chart-time-zone.js';
import type { ChartName } from './charts-config.js';
import type { ContainerHistory, ContainerLife } from './container-history.js';

/**
 * Vega-Lite specs of the charts. Data is embedded (`data.values`) so the
 * .vl.json written beside each PNG opens as-is in the Vega editor. Times are
 * shown in the chosen time zone (shifted to its wall clock, formatted as UTC),
 * memory in GiB/MiB (binary), CPU in percent of one core. Every time axis
 * spans the data (within the window), never the bare window.
 */

export const CHART_FONT = 'DejaVu Sans';
export const NO_DATA_TEXT = 'no data yet';
/** Killed containers drawn at most (newest first); the subtitle gives the total. */
export const MAX_KILLED_POINTS = 1000;
/** Containers shown in the live chart at most (highest CPU first). */
export const MAX_LIVE_BARS = 30;
/** Buckets of the containers chart at most; widens the bucket past one minute for long windows. */
const MAX_COUNT_BUCKETS = 120;
/** A time axis spans at least this many buckets, so a fresh run's first minute is not one plot-wide bar. */
const MIN_AXIS_BUCKETS = 3;
/** Cells drawn per container in the history chart at most; longer lives are averaged into this many. */
const MAX_CELLS_PER_LIFE = 150;
/** Pixels per container row in the history chart: two stripes and a readable label. */
const HISTORY_ROW_PX = 16;
/** The shape of a kill mark: an x, drawn with a stroke. */
const KILL_SHAPE = 'M-1,-1L1,1M-1,1L1,-1';

export const CHART_TITLES: Record<ChartName, string> = {
  memory: 'Host memory: used and free',
  containers: 'Containers spawned vs killed per minute',
  killed: 'Killed containers: CPU and memory',
  live: 'Live containers: kept at the last analysis',
  history: 'Container lives: CPU and memory over time',
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
  history?: ContainerHistory;
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
const CLASS_DOMAIN = [...CONTAINER_CLASSES, 'unclassified'];
const CLASS_COLORS = ['#d62728', '#1f77b4', '#7f7f7f'];

const count = (n: number) => n.toLocaleString('en-US');
const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function windowText(w: ChartWindow, tz: ChartTimeZone): string {
  return `last ${formatDuration(Math.round((w.to - w.from) / 1000) * 1000)}, ${tz.clock(w.from)}–${tz.clock(w.to)} ${tz.name}`;
}

/** "per minute" or "per 2m". */
const perText = (bucketMs: number) => (bucketMs === 60_000 ? 'minute' : formatDuration(bucketMs));

/**
 * The short name of an image: "tideflow/cpu-hog:latest" -> "cpu-hog".
 * Workflow names can be long; the image, slot and id are what differ.
 */
function imageShort(image: string): string {
  return image.split('/').pop()!.replace(/:latest$/, '');
}

/**
 * What tells one container apart from its neighbours, short enough for an
 * axis: its image, the spawner's slot (the name's last number, tf-… names
 * only) and a 12-hex short id (or the PID of course-format rows). The
 * workflow name is left out: every container of a chart shares it.
 */
export function containerLabel(r: { containerId: string | null; name: string | null; image: string | null; pid: number | null }): string {
  const slot = r.name?.startsWith('tf-') ? /-(\d+)$/.exec(r.name)?.[1] : undefined;
  const what = r.image ? imageShort(r.image) : (r.name ?? 'unnamed');
  const tag = r.containerId ? r.containerId.slice(0, 12) : r.pid !== null ? `pid ${r.pid}` : undefined;
  return [slot === undefined ? what : `${what} #${slot}`, tag].filter(Boolean).join(' · ');
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
    title: { text: title, subtitle, anchor: 'start', fontSize: 17, subtitleFontSize: 13, subtitleColor: '#444', offset: 12 },
    config: {
      font: CHART_FONT,
      axis: { labelFontSize: 12, titleFontSize: 13, titleColor: '#222', labelColor: '#222', gridColor: '#e8e8e8' },
      legend: { labelFontSize: 12, titleFontSize: 13, titleColor: '#222', labelColor: '#222' },
      view: { stroke: '#ccc' },
    },
  };
}

/** Tick steps of a time axis, in minutes: round clock times, at most MAX_TIME_TICKS of them. */
const TICK_MINUTES = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
const MAX_TIME_TICKS = 8;

/**
 * The x encoding of a time chart over [from, to] (already shifted to the zone):
 * ticks on round minutes (seconds only on a span under 3 minutes), the day
 * too on a long span, so no two labels read alike.
 */
function timeX(tz: ChartTimeZone, domain: [number, number]): Record<string, unknown> {
  const span = domain[1] - domain[0];
  const step = TICK_MINUTES.find((m) => span / (m * 60_000) <= MAX_TIME_TICKS) ?? 1440;
  const short = span < 3 * 60_000;
  const format = short ? '%H:%M:%S' : span > 20 * 3_600_000 ? '%d %b %H:%M' : '%H:%M';
  const tickCount = short ? undefined : step < 60 ? { interval: 'minutes', step } : { interval: 'hours', step: step / 60 };
  return {
    field: 'time',
    type: 'temporal',
    title: `Time (${tz.name})`,
    scale: { type: 'utc', domain },
    axis: { format, labelOverlap: true, labelFlush: true, ...(tickCount ? { tickCount } : {}) },
  };
}

/** The x of a further layer: the first layer's scale carries the domain (no conflicting copies). */
const sameX = (x: Record<string, unknown>) => ({ ...x, scale: { type: 'utc' } });

/**
 * The span a time axis shows: the data's, at least MIN_AXIS_BUCKETS buckets
 * (grown to the left, not past the window's start), both ends shifted to the zone.
 */
function fitSpan(first: number, last: number, minMs: number, w: ChartWindow, tz: ChartTimeZone): [number, number] {
  const start = Math.max(Math.min(first, last - minMs), Math.min(first, w.from));
  return [tz.shift(start), tz.shift(last)];
}

export function noDataSpec(name: ChartName, subtitle: string, size: ChartSize): BuiltSpec {
  const spec = {
    ...base(CHART_TITLES[name], subtitle, size),
    data: { values: [{ message: NO_DATA_TEXT }] },
    mark: { type: 'text', fontSize: 24, color: '#555' },
    encoding: { text: { field: 'message', type: 'nominal' } },
  };
  return { name, title: CHART_TITLES[name], spec: spec as TopLevelSpec, points: 0, empty: true };
}

/** Killed containers per bucket, all classes together. */
function killsPerBucket(counts: { points: ContainerCountPoint[] } | undefined): Map<number, number> {
  const kills = new Map<number, number>();
  for (const p of counts?.points ?? []) if (p.event === 'killed') kills.set(p.bucket, (kills.get(p.bucket) ?? 0) + p.count);
  return kills;
}

/**
 * Host RAM used and free (lines, left axis, GiB) with the containers killed
 * per bucket as grey bars on a second axis (right), so a drop in used memory
 * can be matched with the kills that caused it.
 */
export function memorySpec(
  points: MemoryPoint[],
  w: ChartWindow,
  size: ChartSize,
  opts: { tz?: ChartTimeZone; counts?: { bucketMs: number; points: ContainerCountPoint[] } } = {},
): BuiltSpec {
  const tz = opts.tz ?? ChartTimeZone.UTC;
  if (points.length === 0) return noDataSpec('memory', windowText(w, tz), size);
  // A stretch without readings (engine stopped, analyses timing out) breaks the
  // lines instead of drawing a straight line across it as if it were measured.
  const gaps = points.slice(1).map((p, i) => p.time - points[i]!.time).sort((a, b) => a - b);
  const breakAfter = gaps.length > 0 ? 3 * gaps[Math.floor(gaps.length / 2)]! : Infinity;
  let segment = 0;
  const values = points.flatMap((p, i) => {
    if (i > 0 && p.time - points[i - 1]!.time > breakAfter) segment++;
    return [
      { time: tz.shift(p.time), series: 'Used', gib: round(p.usedBytes / GIB, 3), segment },
      { time: tz.shift(p.time), series: 'Free', gib: round(p.freeBytes / GIB, 3), segment },
    ];
  });
  const bucketMs = opts.counts?.bucketMs ?? countBucketMs(w);
  const kills = [...killsPerBucket(opts.counts)].map(([bucket, n]) => ({
    time: tz.shift(bucket), end: tz.shift(bucket + bucketMs * 0.85), series: 'Killed', kills: n,
  }));
  const killedTotal = kills.reduce((a, k) => a + k.kills, 0);
  const killBuckets = [...killsPerBucket(opts.counts).keys()];
  const first = Math.min(points[0]!.time, ...killBuckets);
  const last = Math.max(points[points.length - 1]!.time, ...killBuckets.map((b) => b + bucketMs * 0.85));
  const domain = fitSpan(first, last, 0, w, tz);
  const total = points[points.length - 1]!.totalBytes / GIB;
  const x = timeX(tz, domain);
  const killSeries = 'Killed';
  const spec = {
    ...base(
      CHART_TITLES.memory,
      `${windowText(w, tz)} · RAM ${total.toFixed(1)} GiB · ${count(points.length)} readings · ${count(killedTotal)} killed (grey bars, right axis)`,
      size,
    ),
    data: { values },
    layer: [
      {
        data: { values: kills },
        mark: { type: 'bar', orient: 'vertical', opacity: 0.45 },
        encoding: {
          x,
          x2: { field: 'end' },
          y: {
            field: 'kills', type: 'quantitative', title: `Killed per ${perText(bucketMs)}`,
            axis: { orient: 'right', tickMinStep: 1, grid: false, titleColor: '#555' },
            // The bars keep to the lower third, under the memory lines.
            scale: { domain: [0, Math.ceil((3 * Math.max(1, ...kills.map((k) => k.kills))) / 5) * 5], nice: false },
          },
          color: { field: 'series', type: 'nominal', title: 'Series', scale: { domain: ['Used', 'Free', killSeries], range: ['#d62728', '#2ca02c', '#9a9a9a'] } },
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2, point: points.length <= 60 },
        encoding: {
          x: sameX(x),
          y: { field: 'gib', type: 'quantitative', title: 'Memory (GiB)', scale: { zero: true } },
          color: { field: 'series', type: 'nominal', title: 'Series' },
          detail: { field: 'segment', type: 'nominal' },
        },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
  return { name: 'memory', title: CHART_TITLES.memory, spec: spec as unknown as TopLevelSpec, points: values.length, empty: false };
}

/** The bucket for a window: one minute, or wider so there are at most MAX_COUNT_BUCKETS. */
export function countBucketMs(w: ChartWindow): number {
  const minutes = Math.max(1, Math.ceil((w.to - w.from) / 60_000 / MAX_COUNT_BUCKETS));
  return minutes * 60_000;
}

export function containersSpec(
  counts: { bucketMs: number; points: ContainerCountPoint[] },
  w: ChartWindow,
  size: ChartSize,
  tz: ChartTimeZone = ChartTimeZone.UTC,
): BuiltSpec {
  const { bucketMs, points } = counts;
  const per = perText(bucketMs);
  const title = bucketMs === 60_000 ? CHART_TITLES.containers : `Containers spawned vs killed per ${per}`;
  if (points.length === 0) return { ...noDataSpec('containers', windowText(w, tz), size), title };
  const series = (p: { event: string; class: string | null }) => `${p.event} · ${p.class ?? 'unclassified'}`;
  const main = ['spawned · high', 'spawned · low', 'killed · high', 'killed · low'];
  const extra = [...new Set(points.map(series))].filter((s) => !main.includes(s)).sort();
  const domain = [...main, ...extra];
  const colors = ['#1f77b4', '#9ecae9', '#d62728', '#ff9896', '#7f7f7f', '#c7c7c7'];

  // Zero-fill the buckets from the first with data so a quiet minute shows as 0,
  // not as a gap; the current, still incomplete bucket only if it has data.
  const byKey = new Map(points.map((p) => [`${p.bucket}|${series(p)}`, p.count]));
  const firstWithData = Math.min(...points.map((p) => p.bucket));
  const lastWithData = Math.max(...points.map((p) => p.bucket));
  const values: Array<{ time: number; end: number; series: string; count: number }> = [];
  for (let b = firstWithData; b <= lastWithData; b += bucketMs) {
    for (const s of domain) {
      const n = byKey.get(`${b}|${s}`) ?? 0;
      // Killed go below the zero line: one bar up (spawned) and one down (killed) per bucket.
      if (n > 0) values.push({ time: tz.shift(b), end: tz.shift(b + bucketMs * 0.85), series: s, count: s.startsWith('killed') ? -n : n });
    }
  }
  const total = (event: string) => points.filter((p) => p.event === event).reduce((a, p) => a + p.count, 0);
  const spec = {
    ...base(title, `${windowText(w, tz)} · ${count(total('spawned'))} spawned (bars up), ${count(total('killed'))} killed (bars down)`, size),
    data: { values },
    // x/x2 set the bucket's width; without orient vega-lite would draw them as horizontal ranges.
    mark: { type: 'bar', orient: 'vertical' },
    encoding: {
      x: timeX(tz, fitSpan(firstWithData, lastWithData + bucketMs, MIN_AXIS_BUCKETS * bucketMs, w, tz)),
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

export function killedSpec(killed: { items: StoredRecord[]; total: number }, w: ChartWindow, size: ChartSize, tz: ChartTimeZone = ChartTimeZone.UTC): BuiltSpec {
  const drawable = killed.items.filter((r) => r.cpuPct !== null && r.memBytes !== null);
  if (drawable.length === 0) return noDataSpec('killed', `${windowText(w, tz)} · no killed containers with measurements`, size);
  const values = drawable.map((r) => ({
    cpu: round(r.cpuPct!, 2),
    mib: round(r.memBytes! / MIB, 2),
    class: r.class ?? 'unclassified',
    container: containerLabel(r),
    killed: tz.clock(r.time, true),
  }));
  const shown = killed.total > killed.items.length ? ` · newest ${count(killed.items.length)} shown` : '';
  const spec = {
    ...base(CHART_TITLES.killed, `${windowText(w, tz)} · ${count(killed.total)} killed${shown}`, size),
    data: { values },
    mark: { type: 'point', filled: true, size: 60, opacity: 0.75 },
    encoding: {
      x: { field: 'cpu', type: 'quantitative', title: 'CPU (% of one core)' },
      y: { field: 'mib', type: 'quantitative', title: 'Memory (MiB)' },
      color: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: CLASS_COLORS } },
      shape: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: ['circle', 'square', 'triangle-up'] } },
      tooltip: [{ field: 'container' }, { field: 'killed', title: `killed at (${tz.name})` }, { field: 'cpu' }, { field: 'mib' }],
    },
  };
  return { name: 'killed', title: CHART_TITLES.killed, spec: spec as TopLevelSpec, points: values.length, empty: false };
}

export function liveSpec(kept: KeptSnapshot, w: ChartWindow, size: ChartSize, tz: ChartTimeZone = ChartTimeZone.UTC): BuiltSpec {
  if (kept.time === null || kept.items.length === 0) return noDataSpec('live', 'no analysis has kept containers yet', size);
  const rows = [...kept.items].sort((a, b) => (b.cpuPct ?? -1) - (a.cpuPct ?? -1)).slice(0, MAX_LIVE_BARS);
  const values = rows.map((r) => {
    const mib = r.memBytes === null ? null : round(r.memBytes / MIB, 1);
    return {
      container: containerLabel(r),
      name: r.name ?? '',
      cpu: r.cpuPct === null ? 0 : round(r.cpuPct, 2),
      class: r.class ?? 'unclassified',
      label: `${r.cpuPct === null ? 'CPU n/a' : `${round(r.cpuPct, 1)} %`} · ${mib === null ? 'mem n/a' : `${mib} MiB`}`,
    };
  });
  const maxCpu = Math.max(1, ...values.map((v) => v.cpu));
  const age = kept.time < w.from ? ' (before this window)' : '';
  const more = kept.items.length > rows.length ? `, top ${rows.length} by CPU shown` : '';
  const spec = {
    ...base(CHART_TITLES.live, `analysis at ${tz.clock(kept.time, true)} ${tz.name}${age} · ${kept.items.length} kept${more} · labels: CPU · memory`, size),
    data: { values },
    encoding: {
      // Rows are already in CPU order; a layered sort by field would be dropped by vega-lite.
      y: { field: 'container', type: 'nominal', title: 'Container (image #slot · id)', sort: null, axis: { labelLimit: 300 } },
      x: { field: 'cpu', type: 'quantitative', title: 'CPU (% of one core)', scale: { domain: [0, round(maxCpu * 1.35, 1)] } },
      tooltip: [{ field: 'name', title: 'name' }, { field: 'label', title: 'CPU · memory' }],
    },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 2 },
        encoding: { color: { field: 'class', type: 'nominal', title: 'Class', scale: { domain: CLASS_DOMAIN, range: CLASS_COLORS } } },
      },
      { mark: { type: 'text', align: 'left', dx: 4, fontSize: 12, color: '#222' }, encoding: { text: { field: 'label', type: 'nominal' } } },
    ],
  };
  return { name: 'live', title: CHART_TITLES.live, spec: spec as unknown as TopLevelSpec, points: values.length, empty: false };
}

/** Containers the history chart has room for at this size. */
export function historyRows(size: ChartSize): number {
  return Math.max(4, Math.floor((size.height - 110) / HISTORY_ROW_PX));
}

interface HistoryCell {
  row: string;
  time: number;
  end: number;
  cpu: number | null;
  mib: number | null;
}

/** The median gap between a container's consecutive samples: the analysis interval, to size first cells. */
function typicalGap(lives: ContainerLife[]): number {
  const gaps: number[] = [];
  for (const l of lives) for (let i = 1; i < l.samples.length; i++) gaps.push(l.samples[i]!.time - l.samples[i - 1]!.time);
  if (gaps.length === 0) return 10_000;
  gaps.sort((a, b) => a - b);
  return Math.max(1000, gaps[Math.floor(gaps.length / 2)]!);
}

const avg = (xs: Array<number | null>) => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
};

/**
 * Cells of one life: a sample's CPU is measured over the interval since the
 * previous sample (or the spawn), so each cell ends at its sample. A life
 * longer than MAX_CELLS_PER_LIFE samples is averaged into that many cells.
 */
function lifeCells(l: ContainerLife, row: string, gap: number): HistoryCell[] {
  const cells: HistoryCell[] = [];
  const per = Math.ceil(l.samples.length / MAX_CELLS_PER_LIFE);
  for (let i = 0; i < l.samples.length; i += per) {
    const group = l.samples.slice(i, i + per);
    const end = group[group.length - 1]!.time;
    const before = i === 0 ? l.spawnedAt : l.samples[i - 1]!.time;
    const start = before !== null && before < group[0]!.time ? before : group[0]!.time - gap;
    const cpu = avg(group.map((s) => s.cpuPct));
    const mem = avg(group.map((s) => s.memBytes));
    cells.push({ row, time: start, end, cpu: cpu === null ? null : round(cpu, 2), mib: mem === null ? null : round(mem / MIB, 1) });
  }
  return cells;
}

/**
 * Each container's life as rows of a heatmap (time across): the upper stripe
 * is its CPU %, the lower its memory, a grey line runs from its spawn to its
 * last sample and an x marks its kill. The most recently measured containers
 * that fit, oldest at the top.
 */
export function historySpec(history: ContainerHistory, w: ChartWindow, size: ChartSize, tz: ChartTimeZone = ChartTimeZone.UTC): BuiltSpec {
  const lives = history.lives.filter((l) => l.samples.length > 0);
  if (lives.length === 0) return noDataSpec('history', `${windowText(w, tz)} · no container measured yet`, size);
  const gap = typicalGap(lives);
  const labels = lives.map((l) => containerLabel(l));
  const cells = lives.flatMap((l, i) => lifeCells(l, labels[i]!, gap));
  const lines = lives.map((l, i) => ({
    row: labels[i]!, time: Math.min(l.spawnedAt ?? Infinity, cells.find((c) => c.row === labels[i])!.time), end: l.samples[l.samples.length - 1]!.time,
  }));
  const kills = lives.flatMap((l, i) =>
    l.killedAt === null ? [] : [{ row: labels[i]!, time: l.killedAt, event: 'killed', what: `${labels[i]} killed at ${tz.clock(l.killedAt, true)} ${tz.name}` }],
  );
  const first = Math.min(...lines.map((l) => l.time));
  const last = Math.max(...lines.map((l) => l.end));
  const shift = <T extends { time: number; end?: number }>(v: T): T => ({ ...v, time: tz.shift(v.time), ...(v.end === undefined ? {} : { end: tz.shift(v.end) }) });
  const x = timeX(tz, fitSpan(first, last, 0, w, tz));
  const y = { field: 'row', type: 'nominal', title: null, sort: labels, axis: { labelLimit: 260, labelFontSize: 11 } };
  const cpuMax = Math.max(1, ...cells.map((c) => c.cpu ?? 0));
  const mibMax = Math.max(1, ...cells.map((c) => c.mib ?? 0));
  const shown = history.total === null ? `the ${lives.length} most recently measured containers` : `${lives.length} of ${count(history.total)} containers measured`;
  const spec = {
    ...base(
      CHART_TITLES.history,
      `${windowText(w, tz)} · ${shown} · upper stripe CPU, lower memory`,
      size,
    ),
    data: { values: cells.map(shift) },
    layer: [
      {
        data: { values: lines.map(shift) },
        mark: { type: 'rule', color: '#9a9a9a', strokeWidth: 1 },
        encoding: { x, x2: { field: 'end' }, y },
      },
      {
        transform: [{ filter: 'datum.cpu !== null' }, { calculate: "'CPU'", as: 'stripe' }],
        mark: { type: 'bar', orient: 'horizontal' },
        encoding: {
          x: sameX(x), x2: { field: 'end' }, y,
          yOffset: { field: 'stripe', type: 'nominal', scale: { domain: ['CPU', 'Memory'], paddingInner: 0.1 } },
          color: { field: 'cpu', type: 'quantitative', title: 'CPU %', scale: { scheme: 'oranges', domain: [0, round(cpuMax, 1)] }, legend: { gradientLength: 90, orient: 'right' } },
        },
      },
      {
        transform: [{ filter: 'datum.mib !== null' }, { calculate: "'Memory'", as: 'stripe' }],
        mark: { type: 'bar', orient: 'horizontal' },
        encoding: {
          x: sameX(x), x2: { field: 'end' }, y,
          yOffset: { field: 'stripe', type: 'nominal', scale: { domain: ['CPU', 'Memory'], paddingInner: 0.1 } },
          color: { field: 'mib', type: 'quantitative', title: 'Memory MiB', scale: { scheme: 'blues', domain: [0, round(mibMax, 1)] }, legend: { gradientLength: 90, orient: 'right' } },
        },
      },
      {
        data: { values: kills.map(shift) },
        mark: { type: 'point', filled: false, strokeWidth: 2.5, size: 90, color: '#111', opacity: 1 },
        encoding: {
          x: sameX(x), y,
          shape: { field: 'event', type: 'nominal', title: null, scale: { domain: ['killed'], range: [KILL_SHAPE] } },
          description: { field: 'what' },
        },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
  return { name: 'history', title: CHART_TITLES.history, spec: spec as unknown as TopLevelSpec, points: cells.length, empty: false };
}

/** The spec of one chart from the queried data (a missing part counts as empty). */
export function buildSpec(name: ChartName, data: ChartData, size: ChartSize, tz: ChartTimeZone = ChartTimeZone.UTC): BuiltSpec {
  const w = data.window;
  switch (name) {
    case 'memory':
      return memorySpec(data.memory ?? [], w, size, { tz, counts: data.counts });
    case 'containers':
      return containersSpec(data.counts ?? { bucketMs: countBucketMs(w), points: [] }, w, size, tz);
    case 'killed':
      return killedSpec(data.killed ?? { items: [], total: 0 }, w, size, tz);
    case 'live':
      return liveSpec(data.live ?? { time: null, source: null, items: [] }, w, size, tz);
    case 'history':
      return historySpec(data.history ?? { lives: [], total: 0 }, w, size, tz);
  }
}
