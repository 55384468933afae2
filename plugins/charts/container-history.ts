import type { ContainerClass } from '../shared/records/container-records.js';
import type { RecordStore, StoredRecord } from '../shared/store/record-store.js';

/** One analyzer measurement of a container: CPU over the interval that ends at `time`, memory at `time`. */
export interface ContainerSample {
  time: number;
  cpuPct: number | null;
  memBytes: number | null;
}

/** One container's life inside the window, as the store recorded it. */
export interface ContainerLife {
  /** Container id, else "pid <n>", else the name: what tells it apart. */
  key: string;
  containerId: string | null;
  name: string | null;
  image: string | null;
  pid: number | null;
  class: ContainerClass | null;
  /** When the spawner created it, if that is in the window. */
  spawnedAt: number | null;
  /** Oldest first; the last one is the kill's own measurement when it was killed. */
  samples: ContainerSample[];
  killedAt: number | null;
}

export interface ContainerHistory {
  /** The most recently measured containers, oldest first (by first sight). */
  lives: ContainerLife[];
  /** Containers measured in the window in all; null when the scan stopped before the window's start. */
  total: number | null;
}

function keyOf(r: StoredRecord): string | null {
  if (r.containerId) return r.containerId;
  if (r.pid !== null) return `pid ${r.pid}`;
  return r.name;
}

/** Analyses in a row a container must be absent from to count as not yet spawned (one may miss it). */
const MISSED_ANALYSES = 2;

/**
 * Each container's samples over a window, composed from RecordStore.exportLogs
 * (newest first) because the store has no per-container query. The first
 * `limit` containers measured (kept or killed rows) are followed back in time
 * until each has reached its spawn row or is missing from MISSED_ANALYSES
 * analyses in a row (memory rows mark analyses, and every analysis measures
 * every live container): before that it did not exist. The scan then stops,
 * so a long, busy window is read only as far back as the chosen ones lived.
 */
export class ContainerHistoryQuery {
  constructor(private readonly store: RecordStore) {}

  async read(from: number, to: number, limit: number): Promise<ContainerHistory> {
    const chosen = new Map<string, ContainerLife>();
    /** Chosen containers whose start is not reached yet, with the analyses in a row they were missing from. */
    const open = new Map<string, number>();
    const measured = new Set<string>();
    let lastAnalysis: number | null = null;
    let complete = true;
    for await (const r of this.store.exportLogs({ from, to })) {
      if (r.kind === 'memory') {
        if (r.time === lastAnalysis) continue;
        lastAnalysis = r.time;
        for (const [key, missed] of open) {
          const life = chosen.get(key)!;
          const oldest = life.samples[life.samples.length - 1]!.time;
          if (oldest <= r.time) continue;
          if (missed + 1 >= MISSED_ANALYSES) open.delete(key);
          else open.set(key, missed + 1);
        }
        if (chosen.size >= limit && open.size === 0) {
          complete = false;
          break;
        }
        continue;
      }
      const key = keyOf(r);
      if (key === null) continue;
      if (r.kind !== 'spawned') measured.add(key);
      let life = chosen.get(key);
      if (!life) {
        if (r.kind === 'spawned' || chosen.size >= limit) continue;
        life = {
          key, containerId: r.containerId, name: r.name, image: r.image, pid: r.pid, class: r.class,
          spawnedAt: null, samples: [], killedAt: null,
        };
        chosen.set(key, life);
        open.set(key, 0);
      }
      if (r.kind === 'spawned') {
        life.spawnedAt = r.time;
        life.image ??= r.image;
        open.delete(key);
        if (chosen.size >= limit && open.size === 0) {
          complete = false;
          break;
        }
        continue;
      }
      life.samples.push({ time: r.time, cpuPct: r.cpuPct, memBytes: r.memBytes });
      if (open.has(key)) open.set(key, 0);
      if (r.kind === 'killed' && life.killedAt === null) life.killedAt = r.time;
      life.image ??= r.image;
      life.class ??= r.class;
    }
    const lives = [...chosen.values()].map((l) => ({ ...l, samples: l.samples.reverse() }));
    lives.sort((a, b) => (a.spawnedAt ?? a.samples[0]!.time) - (b.spawnedAt ?? b.samples[0]!.time) || a.key.localeCompare(b.key));
    return { lives, total: complete ? measured.size : null };
  }
}
