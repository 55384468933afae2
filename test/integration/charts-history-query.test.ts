import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordStore, LogFilter, StoredRecord } from '../../plugins/shared/store/record-store.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import { ContainerHistoryQuery } from '../../plugins/charts/container-history.js';
import { lifecycleFixture } from '../support/chart-fixtures.js';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 30);

describe('container history composed from RecordStore.exportLogs (real SQLite)', () => {
  let dir: string;
  let store: SqliteRecordStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-history-'));
    store = openRecordStore(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives each chosen container its spawn, every sample and its kill, oldest first', async () => {
    const fx = lifecycleFixture(NOW, 2);
    for (const b of fx.batches) await store.ingest(b);
    const h = await new ContainerHistoryQuery(store).read(NOW - 3_600_000, NOW, 50);
    const measured = fx.containers.filter((c) => c.sampledAt.length > 0);
    expect(h.total).toBe(measured.length);
    expect(h.lives.map((l) => l.key).sort()).toEqual(measured.map((c) => c.id).sort());
    for (const c of measured) {
      const life = h.lives.find((l) => l.key === c.id)!;
      expect(life.spawnedAt).toBe(c.spawnedAt);
      expect(life.samples.map((s) => s.time)).toEqual(c.sampledAt);
      expect(life.killedAt).toBe(c.killedAt);
      expect(life.image).toBe(c.image);
    }
    // Oldest first by spawn.
    const starts = h.lives.map((l) => l.spawnedAt!);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it('keeps the most recently measured when more than `limit` lived, and stops reading once their lives are complete', async () => {
    const fx = lifecycleFixture(NOW, 60);
    for (const b of fx.batches) await store.ingest(b);
    let read = 0;
    // The same store, counting the rows it hands out.
    const counting: RecordStore = Object.create(store, {
      exportLogs: {
        value: async function* (filter: LogFilter): AsyncIterable<StoredRecord> {
          for await (const r of store.exportLogs(filter)) {
            read++;
            yield r;
          }
        },
      },
    });
    const h = await new ContainerHistoryQuery(counting).read(NOW - 3_600_000, NOW, 10);
    expect(h.lives).toHaveLength(10);
    expect(h.total).toBeNull(); // stopped early: the total is not known
    const last = fx.analyses[fx.analyses.length - 1]!;
    for (const c of fx.containers.filter((x) => x.sampledAt.includes(last))) expect(h.lives.some((l) => l.key === c.id)).toBe(true);
    // A container kept all along (spawned in the first minute) is followed back to its spawn.
    for (const l of h.lives) {
      const c = fx.containers.find((x) => x.id === l.key)!;
      expect(l.samples.map((s) => s.time), l.key).toEqual(c.sampledAt);
      expect(l.spawnedAt).toBe(c.spawnedAt);
    }
    const stats = await store.stats();
    // Only as far back as the chosen ones lived, not the whole hour.
    const oldestSpawn = Math.min(...h.lives.map((l) => l.spawnedAt!));
    const rowsAfter = fx.batches.filter((b) => b.time >= oldestSpawn - 20_000).reduce((a, b) => a + b.records.length, 0);
    expect(read).toBeLessThanOrEqual(rowsAfter);
    expect(read).toBeLessThan(stats.records);
  });
});
