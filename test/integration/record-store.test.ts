import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRecordStore, SqliteRecordStore, InvalidCursorError } from '../../core/store/sqlite-record-store.js';
import type { NewRecord, RecordBatch, StoredRecord } from '../../core/store/record-store.js';

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const MIN = 60_000;

function spawnBatch(source: string, time: number, n: number, cls: 'high' | 'low' = 'high'): RecordBatch {
  return {
    source,
    sourceKind: 'spawn',
    workflow: 'wf',
    time,
    records: Array.from({ length: n }, (_, i) => ({ kind: 'spawned' as const, time, containerId: `${source}-c${i}`, name: `c${i}`, image: 'img', class: cls })),
  };
}

function analysisBatch(source: string, time: number, opts: { killed?: Array<[string, 'high' | 'low', number]>; kept?: Array<[string, 'high' | 'low', number]> } = {}): RecordBatch {
  const records: NewRecord[] = [
    { kind: 'memory', time, totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9, availableBytes: 3e9 },
    ...(opts.killed ?? []).map(([name, cls, cpu]) => ({ kind: 'killed' as const, time, containerId: `id-${name}`, name, image: 'img', class: cls, cpuPct: cpu, memBytes: 1e6 * cpu, reason: 'surplus' })),
    ...(opts.kept ?? []).map(([name, cls, cpu]) => ({ kind: 'kept' as const, time, containerId: `id-${name}`, name, image: 'img', class: cls, cpuPct: cpu, memBytes: 1e6, reason: 'top' })),
  ];
  return { source, sourceKind: 'analysis', workflow: 'wf', time, records };
}

async function collect(it: AsyncIterable<StoredRecord>): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

describe('SqliteRecordStore (real SQLite file)', () => {
  let dir: string;
  let store: SqliteRecordStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-store-'));
    store = openRecordStore(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates <dataDir>/tideflow.db in WAL mode at the latest schema version', async () => {
    expect(store.location).toBe(path.join(dir, 'tideflow.db'));
    expect(existsSync(store.location)).toBe(true);
    await store.close();
    const db = new Database(path.join(dir, 'tideflow.db'), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    const indexes = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'`).all() as Array<{ name: string }>).map((r) => r.name);
    expect(indexes).toEqual(expect.arrayContaining(['records_time', 'records_kind_time']));
    db.close();
    store = openRecordStore(dir); // reopening runs no migration twice
    expect((await store.stats()).records).toBe(0);
  });

  it('is idempotent per source: a duplicate batch stores nothing', async () => {
    expect(await store.ingest(spawnBatch('run-1', T0, 10))).toEqual({ stored: true, count: 10 });
    expect(await store.ingest(spawnBatch('run-1', T0, 10))).toEqual({ stored: false, count: 0 });
    // Even a different body under the same key is ignored: the key decides.
    expect(await store.ingest(spawnBatch('run-1', T0 + 5, 3))).toEqual({ stored: false, count: 0 });
    expect(await store.hasSource('run-1')).toBe(true);
    expect(await store.hasSource('run-2')).toBe(false);
    const s = await store.stats();
    expect(s).toMatchObject({ sources: 1, records: 10, byKind: { spawned: 10, killed: 0, kept: 0, memory: 0 } });
  });

  it('keeps data across close and reopen', async () => {
    await store.ingest(analysisBatch('a-1', T0, { killed: [['k1', 'high', 50]] }));
    await store.close();
    store = openRecordStore(dir);
    expect((await store.stats()).records).toBe(2);
    expect(await store.ingest(analysisBatch('a-1', T0))).toMatchObject({ stored: false });
  });

  it('filters by kind, class, minCpu and time, newest first, with cursor and offset pagination', async () => {
    for (let i = 0; i < 10; i++) {
      await store.ingest(analysisBatch(`a-${i}`, T0 + i * MIN, { killed: [[`h${i}`, 'high', 10 * i], [`l${i}`, 'low', i]], kept: [[`kh${i}`, 'high', 90]] }));
      await store.ingest(spawnBatch(`s-${i}`, T0 + i * MIN + 1, 2, i % 2 ? 'low' : 'high'));
    }
    const killed = await store.queryLogs({ kind: 'killed', limit: 1000 });
    expect(killed.items).toHaveLength(20);
    expect(killed.items.every((r) => r.kind === 'killed')).toBe(true);
    const times = killed.items.map((r) => r.time);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(killed.nextCursor).toBeNull();

    const highKilled = await store.queryLogs({ kind: 'killed', class: 'high' });
    expect(highKilled.items.map((r) => r.name)).toEqual(['h9', 'h8', 'h7', 'h6', 'h5', 'h4', 'h3', 'h2', 'h1', 'h0']);

    const hot = await store.queryLogs({ kind: 'killed', minCpu: 50 });
    expect(hot.items.map((r) => r.name)).toEqual(['h9', 'h8', 'h7', 'h6', 'h5']);

    const window = await store.queryLogs({ kind: 'memory', from: T0 + 2 * MIN, to: T0 + 4 * MIN });
    expect(window.items.map((r) => r.time)).toEqual([T0 + 4 * MIN, T0 + 3 * MIN, T0 + 2 * MIN]);
    expect(window.items[0]).toMatchObject({ totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9, availableBytes: 3e9, source: 'a-4' });

    // Cursor pages cover everything exactly once, in order.
    const all = await store.queryLogs({ limit: 1000 });
    expect(all.items).toHaveLength(10 * (1 + 2 + 1) + 10 * 2);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.queryLogs({ limit: 7, cursor });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(all.items.map((r) => r.id));

    const off = await store.queryLogs({ limit: 5, offset: 5 });
    expect(off.items.map((r) => r.id)).toEqual(all.items.slice(5, 10).map((r) => r.id));
    await expect(store.queryLogs({ cursor: 'garbage!' })).rejects.toBeInstanceOf(InvalidCursorError);
    // limit is clamped to 1..1000
    expect((await store.queryLogs({ limit: 0 })).items).toHaveLength(1);
  });

  it('exports every matching row in chunks, newest first, while ingest can still run', async () => {
    const batches = 25;
    for (let i = 0; i < batches; i++) await store.ingest(spawnBatch(`s-${i}`, T0 + i * 1000, 100));
    const rows: StoredRecord[] = [];
    let ingestedMidway = false;
    for await (const r of store.exportLogs({ kind: 'spawned' })) {
      rows.push(r);
      if (rows.length === 1500 && !ingestedMidway) {
        // A write between chunks must not fail with "connection is busy".
        await store.ingest(spawnBatch('late', T0 - 10 * MIN, 1));
        ingestedMidway = true;
      }
    }
    expect(rows.length).toBe(batches * 100 + 1);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1]!.time >= rows[i]!.time).toBe(true);
    const filtered = await collect(store.exportLogs({ from: T0 + 20_000 }));
    expect(filtered).toHaveLength(5 * 100);
  });

  it('answers the chart queries: memory series, counts per minute by class, killed, last kept', async () => {
    for (let i = 0; i < 6; i++) {
      await store.ingest(analysisBatch(`a-${i}`, T0 + i * 10_000, { killed: i % 2 ? [[`k${i}`, 'low', 5]] : [[`k${i}`, 'high', 80]], kept: [[`keep${i}`, 'high', 70], [`keepl${i}`, 'low', 1]] }));
    }
    await store.ingest(spawnBatch('s-0', T0, 6, 'high'));
    await store.ingest(spawnBatch('s-1', T0 + MIN + 5, 4, 'low'));

    const mem = await store.memorySeries(T0, T0 + 10 * MIN);
    expect(mem).toHaveLength(6);
    expect(mem[0]).toEqual({ time: T0, totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9, availableBytes: 3e9 });
    const down = await store.memorySeries(T0, T0 + 10 * MIN, 2);
    expect(down.length).toBeLessThanOrEqual(2);

    const counts = await store.containerCounts(T0, T0 + 10 * MIN);
    expect(counts).toEqual([
      { bucket: T0, event: 'killed', class: 'high', count: 3 },
      { bucket: T0, event: 'killed', class: 'low', count: 3 },
      { bucket: T0, event: 'spawned', class: 'high', count: 6 },
      { bucket: T0 + MIN, event: 'spawned', class: 'low', count: 4 },
    ]);

    const killed = await store.killedContainers(T0, T0 + 10 * MIN, 2);
    expect(killed.total).toBe(6);
    expect(killed.items.map((r) => r.name)).toEqual(['k5', 'k4']);

    const kept = await store.lastKept(T0 + 10 * MIN);
    expect(kept.source).toBe('a-5');
    expect(kept.items.map((r) => r.name)).toEqual(['keep5', 'keepl5']);
    expect((await store.lastKept(T0 + 15_000)).source).toBe('a-1');
    expect(await store.lastKept(T0 - 1)).toEqual({ time: null, source: null, items: [] });
  });

  it('purges by age and at most once per interval', async () => {
    const day = 86_400_000;
    await store.ingest(analysisBatch('old', T0 - 8 * day, { killed: [['k', 'high', 1]] }));
    await store.ingest(spawnBatch('old-spawn', T0 - 7 * day - 1, 3));
    await store.ingest(analysisBatch('new', T0 - day, { killed: [['k2', 'high', 1]] }));
    expect(await store.lastPurgeAt()).toBeNull();

    const out = await store.purgeIfDue(T0 - 7 * day, T0, 3_600_000);
    expect(out).toMatchObject({ records: 2 + 3, sources: 2, cutoff: T0 - 7 * day, at: T0 });
    expect(await store.lastPurgeAt()).toBe(T0);
    expect(await store.hasSource('old')).toBe(false);
    expect(await store.hasSource('new')).toBe(true);
    expect((await store.stats()).records).toBe(2);

    // Not due again within the hour, whatever is old by then.
    await store.ingest(spawnBatch('old-2', T0 - 30 * day, 1));
    expect(await store.purgeIfDue(T0 - 7 * day, T0 + 59 * MIN, 3_600_000)).toBeNull();
    expect(await store.hasSource('old-2')).toBe(true);
    expect(await store.purgeIfDue(T0 - 7 * day, T0 + 60 * MIN, 3_600_000)).toMatchObject({ sources: 1 });
    expect(await store.hasSource('old-2')).toBe(false);
  });

  it('a batch that fails halfway leaves no partial rows and no idempotency key', async () => {
    await store.ingest(spawnBatch('before', T0, 5));
    const bad = spawnBatch('half', T0 + 1, 10);
    const records = [...bad.records] as NewRecord[];
    // The CHECK constraint rejects the 6th row, after 5 rows were inserted in the transaction.
    records[5] = { ...records[5]!, kind: 'exploded' as never };
    await expect(store.ingest({ ...bad, records })).rejects.toThrow(/CHECK constraint/);
    expect(await store.hasSource('half')).toBe(false);
    expect((await store.stats()).records).toBe(5);
    // The retry with good data is then stored in full.
    expect(await store.ingest(spawnBatch('half', T0 + 1, 10))).toEqual({ stored: true, count: 10 });
  });

  it('a process killed (SIGKILL) mid-ingest leaves the database consistent', async () => {
    await store.close();
    const storeUrl = pathToFileURL(path.resolve('core/store/sqlite-record-store.ts')).href;
    const script = path.join(dir, 'crash-child.mts');
    writeFileSync(
      script,
      `
      import { openRecordStore } from ${JSON.stringify(storeUrl)};
      const store = openRecordStore(${JSON.stringify(dir)});
      const mk = (source: string, n: number) => ({ source, sourceKind: 'spawn' as const, workflow: 'wf', time: ${T0},
        records: Array.from({ length: n }, (_, i) => ({ kind: 'spawned' as const, time: ${T0}, containerId: source + i, name: 'c' + i, class: 'low' as const })) });
      await store.ingest(mk('complete', 100));
      const doomed = mk('doomed', 2000);
      // Row 1000 is read while the transaction has written 1000 rows: die right there.
      Object.defineProperty(doomed.records, 1000, { get() { process.stdout.write('dying\\n'); process.kill(process.pid, 'SIGKILL'); return undefined; } });
      await store.ingest(doomed);
      process.stdout.write('should not get here\\n');
      `,
    );
    const { signal, out } = await new Promise<{ signal: NodeJS.Signals | null; out: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (_code, signal) => resolve({ signal, out }));
    });
    expect(out).toContain('dying');
    expect(out).not.toContain('should not get here');
    expect(signal).toBe('SIGKILL');

    store = openRecordStore(dir);
    expect(await store.hasSource('complete')).toBe(true);
    expect(await store.hasSource('doomed')).toBe(false);
    expect(await store.stats()).toMatchObject({ sources: 1, records: 100 });
    const db = new Database(path.join(dir, 'tideflow.db'), { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare(`SELECT count(*) AS n FROM records WHERE source = 'doomed'`).get()).toEqual({ n: 0 });
    db.close();
    // The retried job then stores the whole batch once.
    expect(await store.ingest(spawnBatch('doomed', T0, 2000, 'low'))).toEqual({ stored: true, count: 2000 });
  });
});
