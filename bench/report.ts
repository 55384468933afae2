import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** The comparison point (e.g. the course project's way, raw BullMQ); null if none. */
  baseline: number | null;
  /** value vs baseline as the figure defines it (speed-up, ratio of throughputs...). */
  ratio: number | null;
  /** What the figure should be, in words (e.g. ">= 5x"). */
  target?: string;
  note?: string;
  /**
   * The load per core the figure was taken under, when above LOAD_LIMIT_PER_CORE: not publishable as is.
   * The 1-minute load average, or (containers part) the runnable tasks per core sampled just before.
   */
  underLoad?: number;
}

/** Figures taken above this load (1-minute average per core) are marked as not publishable. */
export const LOAD_LIMIT_PER_CORE = 1.5;

/** The 1-minute load average per core now. */
export function loadPerCore(): number {
  return os.loadavg()[0]! / os.cpus().length;
}

/** Prints the machine's load; called at the start of each part. */
export function printLoad(what: string): void {
  const [l1, l5, l15] = os.loadavg();
  const per = loadPerCore();
  console.log(
    `${what}: load average ${l1!.toFixed(2)} ${l5!.toFixed(2)} ${l15!.toFixed(2)} on ${os.cpus().length} cores (${per.toFixed(2)} per core)` +
      (per > LOAD_LIMIT_PER_CORE ? ` > ${LOAD_LIMIT_PER_CORE}: figures taken now are marked UNDER LOAD, not publishable as is` : ''),
  );
}

/** Tasks running or ready to run now (procs_running of /proc/stat), this sampler's own thread not counted. */
function runnableNow(): number | undefined {
  try {
    const m = /^procs_running (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return m ? Math.max(0, Number(m[1]) - 1) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU demand per core over the next `windowMs`: runnable tasks sampled every
 * 20 ms, averaged, divided by the cores. Unlike the 1-minute load average it
 * forgets a burst within the window (the bench's own container teardown kept
 * the load average above the limit for minutes after Docker had gone quiet)
 * and counts no task asleep on disk. Falls back to the load average.
 */
export async function cpuDemandPerCore(windowMs = 1000): Promise<number> {
  const samples: number[] = [];
  const end = Date.now() + windowMs;
  while (Date.now() < end) {
    const n = runnableNow();
    if (n === undefined) return loadPerCore();
    samples.push(n);
    await new Promise((r) => setTimeout(r, 20));
  }
  return samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length) / os.cpus().length;
}

/** `underLoad` for a figure taken over [startLoad, now]: the worse of the two readings (`endLoad`, or the load average now), if above the limit. */
export function loadMark(startLoad: number, endLoad = loadPerCore()): { underLoad?: number } {
  const worst = Math.max(startLoad, endLoad);
  return worst > LOAD_LIMIT_PER_CORE ? { underLoad: Math.round(worst * 100) / 100 } : {};
}

const figures: BenchFigure[] = [];

export function record(f: BenchFigure): void {
  figures.push(f);
  const fmt = (n: number | null) => (n === null ? '-' : Number.isInteger(n) ? String(n) : n.toFixed(3));
  console.log(
    `  ${f.name}: ${fmt(f.value)} ${f.unit}  baseline ${fmt(f.baseline)}  ratio ${fmt(f.ratio)}${f.target ? `  (target ${f.target})` : ''}` +
      (f.underLoad ? `  [UNDER LOAD ${f.underLoad}/core]` : ''),
  );
}

export function printTable(): void {
  const rows = figures.map((f) => [f.underLoad ? `${f.name} [under load ${f.underLoad}/core]` : f.name, `${round(f.value)} ${f.unit}`, f.baseline === null ? '-' : String(round(f.baseline)), f.ratio === null ? '-' : `${round(f.ratio)}`, f.target ?? '']);
  const head = ['figure', 'value', 'baseline', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log('\n' + line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/**
 * Writes this run's figures into bench/results.json, each stamped with its
 * time; figures of parts not run this time (BENCH_ONLY) are kept as they were.
 */
export function writeResults(file = path.resolve('bench/results.json')): void {
  const at = new Date().toISOString();
  let previous: Array<BenchFigure & { at?: string }> = [];
  try {
    previous = (JSON.parse(readFileSync(file, 'utf8')) as { figures?: typeof previous }).figures ?? [];
  } catch {
    // first run, or an unreadable file: start afresh
  }
  const fresh = new Set(figures.map((f) => f.name));
  const merged = [...previous.filter((f) => !fresh.has(f.name)), ...figures.map((f) => ({ ...f, at }))];
  writeFileSync(file, JSON.stringify({ at, figures: merged }, null, 2) + '\n');
  console.log(`\nwrote ${figures.length} figures to ${file} (${merged.length} in all)`);
}

function round(n: number): number {
  return Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000;
}
