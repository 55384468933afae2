import { createHash } from 'node:crypto';
import type { ContainerClass } from '../../plugins/shared/records/container-records.js';
import type { NewRecord, RecordBatch } from '../../plugins/shared/store/record-store.js';

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;

/** One container of the fixture, with what the charts must show of it. */
export interface FixtureContainer {
  id: string;
  name: string;
  image: string;
  class: ContainerClass;
  slot: number;
  spawnedAt: number;
  /** Analysis times it was measured at, oldest first. */
  sampledAt: number[];
  killedAt: number | null;
}

export interface LifecycleFixture {
  batches: RecordBatch[];
  containers: FixtureContainer[];
  /** Analysis (memory reading) times, oldest first. */
  analyses: number[];
}

const IMAGES = [
  { image: 'tideflow/cpu-hog', class: 'high', cpu: 19.5, mib: 1.2 },
  { image: 'tideflow/mem-hog', class: 'high', cpu: 8, mib: 64 },
  { image: 'tideflow/sleeper', class: 'low', cpu: 0.05, mib: 0.4 },
  { image: 'tideflow/ticker', class: 'low', cpu: 0.9, mib: 0.7 },
] as const;

const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * The built-in workflow's records, deterministic: `spawnEvery` 10 containers
 * (slots 0-9, a long workflow name), an analysis every 10 s that keeps the
 * 2 highest-CPU high and 3 low containers and kills the rest. Everything ends
 * at `end`; the first spawn is `minutes` before it.
 */
export function lifecycleFixture(end: number, minutes: number, workflow = 'container-lifecycle-with-a-rather-long-name'): LifecycleFixture {
  const start = end - minutes * 60_000;
  const batches: RecordBatch[] = [];
  const containers: FixtureContainer[] = [];
  const alive: FixtureContainer[] = [];
  const analyses: number[] = [];
  for (let t = start; t <= end; t += 10_000) {
    const i = (t - start) / 10_000;
    if (i % 6 === 0) {
      const run = `spawn-${i}`;
      const short = hex(run).slice(0, 8);
      const created = Array.from({ length: 10 }, (_, slot) => {
        const kind = IMAGES[Number.parseInt(hex(`${run}:${slot}`).slice(0, 8), 16) % IMAGES.length]!;
        const c: FixtureContainer = {
          id: hex(`${run}/${slot}`), name: `tf-${workflow}-${kind.class}-${short}-${slot}`, image: kind.image, class: kind.class, slot,
          spawnedAt: t + 500, sampledAt: [], killedAt: null,
        };
        return c;
      });
      containers.push(...created);
      batches.push({
        source: run, sourceKind: 'spawn', workflow, time: t + 500,
        records: created.map((c) => ({ kind: 'spawned', time: c.spawnedAt, containerId: c.id, name: c.name, image: c.image, class: c.class })),
      });
      alive.push(...created);
    }
    const at = t + 5_000;
    if (at > end) break;
    analyses.push(at);
    const measured = alive.filter((c) => c.spawnedAt < at && c.killedAt === null);
    const load = (c: FixtureContainer) => IMAGES.find((x) => x.image === c.image)!;
    const cpuOf = (c: FixtureContainer) => round(load(c).cpu * (1 + (c.slot % 3) * 0.1) + (i % 4) * 0.01, 2);
    const memOf = (c: FixtureContainer) => load(c).mib * MIB * (1 + Math.min(6, c.sampledAt.length) * 0.05);
    const keep = new Set<string>();
    for (const [cls, n] of [['high', 2], ['low', 3]] as const) {
      measured.filter((c) => c.class === cls).sort((a, b) => cpuOf(b) - cpuOf(a) || a.spawnedAt - b.spawnedAt).slice(0, n).forEach((c) => keep.add(c.id));
    }
    const used = 6 * GIB + measured.reduce((a, c) => a + memOf(c), 0) * 8;
    const records: NewRecord[] = [{ kind: 'memory', time: at, totalBytes: 16 * GIB, usedBytes: used, freeBytes: 16 * GIB - used, availableBytes: 16 * GIB - used }];
    for (const c of measured) {
      const killed = !keep.has(c.id);
      c.sampledAt.push(at);
      if (killed) c.killedAt = at;
      records.push({ kind: killed ? 'killed' : 'kept', time: at, containerId: c.id, name: c.name, image: c.image, class: c.class, cpuPct: cpuOf(c), memBytes: memOf(c), reason: killed ? 'over the keep count' : 'kept' });
    }
    batches.push({ source: `analysis-${i}`, sourceKind: 'analysis', workflow, time: at, records });
    for (let k = alive.length - 1; k >= 0; k--) if (alive[k]!.killedAt !== null) alive.splice(k, 1);
  }
  return { batches, containers, analyses };
}

function round(n: number, digits: number): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}
