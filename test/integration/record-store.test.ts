import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../plugins/shared/store/record-store.js';
import { openRecordStore, SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import { openConfiguredRecordStore } from '../../plugins/shared/store/open-record-store.js';
import { PostgresRecordStore } from '../../plugins/shared/store/postgres-record-store.js';
import type { KyselyRecordStore, StoreLog } from '../../plugins/shared/store/kysely-record-store.js';
import type { NewRecord, RecordBatch, StoredRecord } from '../../plugins/shared/store/record-store.js';
import { TestPostgres } from '../support/postgres.js';

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

/** Collects what a store logs, to prove a bad row is reported once. */
class CapturedLog implements StoreLog {
  readonly lines: Array<{ obj: object; msg: string }> = [];
  warn(obj: object, msg: string): void {
    this.lines.push({ obj, msg });
  }
}

/** One place (a data dir or a fresh database) that stores of a backend open. */
interface StoreLocation {
  open(opts?: { host?: string; log?: StoreLog }): KyselyRecordStore;
  /** Inserts a row behind the store's back, as an earlier version or another tool could have. */
  insertRaw(row: Record<string, unknown>): Promise<void>;
  /** The engine configuration that selects this store. */
  config: { dataDir: string; databaseUrl?: string };
  /** How a child process opens the same store (for the crash test). */
  childOpen: string;
  cleanup(): Promise<void>;
}

interface Backend {
  name: string;
  /** A time no date can have but this backend's column can hold. */
  impossibleTime: number;
  /** A non-finite double this backend's REAL column keeps (SQLite turns NaN into NULL, PostgreSQL keeps it). */
  badFloat: number;
  beforeAll(): Promise<void>;
  afterAll(): Promise<void>;
  location(): Promise<StoreLocation>;
}

const storeModule = (file: string) => JSON.stringify(pathToFileURL(path.resolve('plugins/shared/store', file)).href);

function rawInsertSql(row: Record<string, unknown>, placeholder: (i: number) => string): { text: string; values: unknown[] } {
  const cols = Object.keys(row);
  return { text: `INSERT INTO records (${cols.join(', ')}) VALUES (${cols.map((_, i) => placeholder(i)).join(', ')})`, values: Object.values(row) };
}

const sqliteBackend: Backend = {
  name: 'SQLite (file in the data dir)',
  impossibleTime: 1e308,
  badFloat: Number.POSITIVE_INFINITY,
  async beforeAll() {},
  async afterAll() {},
  async location() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-store-'));
    return {
      open: (opts) => openRecordStore(dir, opts),
      config: { dataDir: dir },
      async insertRaw(row) {
        const db = new Database(path.join(dir, 'tideflow.db'));
        const { text, values } = rawInsertSql(row, () => '?');
        db.prepare(text).run(...values);
        db.close();
      },
      childOpen: `(await import(${storeModule('sqlite-record-store.ts')})).openRecordStore(${JSON.stringify(dir)})`,
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

let server: TestPostgres | undefined;
const postgresBackend: Backend = {
  name: 'PostgreSQL (private server, fresh database per test)',
  // bigint holds it; it is far outside a date.
  impossibleTime: 9e18,
  badFloat: Number.NaN,
  async beforeAll() {
    server = await TestPostgres.start();
  },
  async afterAll() {
    await server?.stop();
  },
  async location() {
    const url = await server!.createDatabase();
    return {
      open: (opts) => new PostgresRecordStore(url, opts),
      config: { dataDir: os.tmpdir(), databaseUrl: url },
      async insertRaw(row) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        const { text, values } = rawInsertSql(row, (i) => `$${i + 1}`);
        await client.query(text, values.map((v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)));
        await client.end();
      },
      childOpen: `new (await import(${storeModule('postgres-record-store.ts')})).PostgresRecordStore(${JSON.stringify(url)})`,
      async cleanup() {},
    };
  },
};

describe.each([sqliteBackend, postgresBackend])('RecordStore contract: $name', (backend) => {
  let loc: StoreLocation;
  let store: KyselyRecordStore;
  const extra: KyselyRecordStore[] = [];

  beforeAll(() => backend.beforeAll());
  afterAll(() => backend.afterAll());
  beforeEach(async () => {
    loc = await backend.location();
    store = loc.open({ host: 'host-a' });
  });
  afterEach(async () => {
    await store.close();
    for (const s of extra.splice(0)) await s.close();
    await loc.cleanup();
  });

  it('is the store the engine configuration selects, stamping records with its host name', async () => {
    const configured = openConfiguredRecordStore({ ...loc.config, hostName: 'configured-host' });
    try {
      expect(configured).toBeInstanceOf(backend === postgresBackend ? PostgresRecordStore : SqliteRecordStore);
      await configured.ingest(spawnBatch('via-config', T0, 2));
      // The same data, whichever handle reads it.
      expect((await store.queryLogs({ host: 'configured-host' })).items.map((r) => r.source)).toEqual(['via-config', 'via-config']);
    } finally {
      await configured.close();
    }
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

  it('two stores (two processes) racing on one source store it once', async () => {
    const other = loc.open({ host: 'host-b' });
    extra.push(other);
    await other.whenReady();
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).ingest(spawnBatch('raced', T0, 200))),
    );
    expect(outcomes.filter((o) => o.stored)).toHaveLength(1);
    expect(outcomes.filter((o) => !o.stored).every((o) => o.count === 0)).toBe(true);
    expect(await store.stats()).toMatchObject({ sources: 1, records: 200 });
  });

  it('keeps data across close and reopen', async () => {
    await store.ingest(analysisBatch('a-1', T0, { killed: [['k1', 'high', 50]] }));
    await store.close();
    store = loc.open();
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
    expect(window.items[0]).toMatchObject({ totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9, availableBytes: 3e9, source: 'a-4', host: 'host-a' });

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
        // A write between chunks must not wait for (or fail on) the export.
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
    expect(down.length).toBeGreaterThan(0);

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

  it('stamps each record with its host and filters every query by host', async () => {
    // host-a is the store's own host; host-b's batches name theirs (a worker elsewhere).
    await store.ingest(analysisBatch('a-a', T0, { killed: [['ka', 'high', 60]], kept: [['keep-a', 'high', 50]] }));
    await store.ingest({ ...analysisBatch('a-b', T0 + 1000, { killed: [['kb', 'low', 3], ['kb2', 'low', 4]], kept: [['keep-b', 'low', 2]] }), host: 'host-b' });
    await store.ingest({ ...spawnBatch('s-b', T0 + 2000, 3, 'low'), host: 'host-b' });
    await store.ingest(spawnBatch('s-a', T0 + 3000, 2, 'high'));

    const all = await store.queryLogs({ limit: 1000 });
    expect(new Set(all.items.map((r) => r.host))).toEqual(new Set(['host-a', 'host-b']));
    const b = await store.queryLogs({ host: 'host-b', limit: 1000 });
    expect(b.items).toHaveLength(1 + 2 + 1 + 3);
    expect(b.items.every((r) => r.host === 'host-b')).toBe(true);
    expect((await store.queryLogs({ host: 'host-a', kind: 'killed' })).items.map((r) => r.name)).toEqual(['ka']);
    expect(await collect(store.exportLogs({ host: 'host-c' }))).toEqual([]);

    expect((await store.killedContainers(T0, T0 + MIN, 10, 'host-b')).total).toBe(2);
    expect((await store.killedContainers(T0, T0 + MIN, 10)).total).toBe(3);
    expect(await store.containerCounts(T0, T0 + MIN, 60_000, 'host-a')).toEqual([
      { bucket: T0, event: 'killed', class: 'high', count: 1 },
      { bucket: T0, event: 'spawned', class: 'high', count: 2 },
    ]);
    expect(await store.memorySeries(T0, T0 + MIN, 500, 'host-b')).toEqual([{ time: T0 + 1000, totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9, availableBytes: 3e9 }]);
    expect((await store.lastKept(T0 + MIN)).source).toBe('a-b');
    expect((await store.lastKept(T0 + MIN, 'host-a')).items.map((r) => r.name)).toEqual(['keep-a']);
  });

  it('stores a successful kill of a container once, whichever run reports it again', async () => {
    expect(await store.ingest(analysisBatch('a-1', T0, { killed: [['k1', 'high', 50], ['k2', 'low', 1]] }))).toEqual({ stored: true, count: 3 });
    // A second analysis (another process, or a retried claim) reports k1 killed again, plus a new one.
    expect(await store.ingest(analysisBatch('a-2', T0 + MIN, { killed: [['k1', 'high', 50], ['k3', 'high', 70]] }))).toEqual({ stored: true, count: 2 });
    // The same container twice in one batch: one row.
    expect(await store.ingest(analysisBatch('a-3', T0 + 2 * MIN, { killed: [['k4', 'low', 1], ['k4', 'low', 1]] }))).toEqual({ stored: true, count: 2 });
    const killed = await store.queryLogs({ kind: 'killed', limit: 1000 });
    expect(killed.items.map((r) => r.containerId).sort()).toEqual(['id-k1', 'id-k2', 'id-k3', 'id-k4']);
    expect(killed.items.find((r) => r.containerId === 'id-k1')!.source).toBe('a-1');
    // Failed kill attempts are events of their own: each is kept, and a later successful kill still counts.
    const failed = (source: string, time: number): RecordBatch => ({
      source, sourceKind: 'analysis', workflow: 'wf', time,
      records: [{ kind: 'killed', time, containerId: 'id-stubborn', name: 'stubborn', class: 'high', killError: 'permission denied' }],
    });
    await store.ingest(failed('f-1', T0 + 3 * MIN));
    await store.ingest(failed('f-2', T0 + 4 * MIN));
    await store.ingest(analysisBatch('a-4', T0 + 5 * MIN, { killed: [['stubborn', 'high', 90]] }));
    const stubborn = (await store.queryLogs({ kind: 'killed', limit: 1000 })).items.filter((r) => r.containerId === 'id-stubborn');
    expect(stubborn.map((r) => r.killError)).toEqual([null, 'permission denied', 'permission denied']);
    expect(await store.stats()).toMatchObject({ byKind: { killed: 4 + 3 } });
  });

  it('never fails a read on a stored row with out-of-range values: skips or clamps it and logs once', async () => {
    const log = new CapturedLog();
    await store.ingest(analysisBatch('a-1', T0, { killed: [['good', 'high', 50]], kept: [['kept', 'high', 40]] }));
    const base = { source: 'a-1', workflow: 'wf', host: 'host-a' };
    await loc.insertRaw({ ...base, kind: 'killed', time: backend.impossibleTime, container_id: 'id-far-future', name: 'far-future', class: 'high', cpu_pct: 10 });
    await loc.insertRaw({ ...base, kind: 'killed', time: T0 + 1, container_id: 'id-nan', name: 'nan-cpu', class: 'low', cpu_pct: backend.badFloat, mem_pct: Number.NEGATIVE_INFINITY });
    await loc.insertRaw({ ...base, kind: 'kept', time: T0, container_id: 'id-nan-kept', name: 'nan-kept', class: 'high', cpu_pct: backend.badFloat });
    await loc.insertRaw({ ...base, kind: 'memory', time: T0 + 2, total_bytes: 8e9, free_bytes: 1e9, used_bytes: 7e9 });
    await store.close();
    store = loc.open({ host: 'host-a', log });

    for (let round = 0; round < 2; round++) {
      const page = await store.queryLogs({ limit: 1000 });
      expect(page.items.map((r) => r.name)).not.toContain('far-future');
      const nan = page.items.find((r) => r.name === 'nan-cpu')!;
      expect(nan).toMatchObject({ cpuPct: null, memPct: null, time: T0 + 1 });
      // Paging from the top never meets the unreadable row either.
      const first = await store.queryLogs({ limit: 1 });
      expect((await store.queryLogs({ limit: 1, cursor: first.nextCursor! })).items).toHaveLength(1);
      expect((await collect(store.exportLogs({}))).map((r) => r.name)).toEqual(page.items.map((r) => r.name));
      expect((await store.killedContainers(T0 - MIN, T0 + MIN)).total).toBe(2);
      expect((await store.containerCounts(T0 - MIN, T0 + MIN)).reduce((n, p) => n + p.count, 0)).toBe(2);
      expect((await store.memorySeries(T0 - MIN, T0 + MIN)).every((p) => Number.isFinite(p.totalBytes))).toBe(true);
      // Sorted here: the backends order a non-finite cpu differently, and it reads as null either way.
      expect((await store.lastKept(T0 + MIN)).items.map((r) => [r.name, r.cpuPct]).sort()).toEqual([['kept', 40], ['nan-kept', null]]);
    }
    // Each kind of problem once, however often it is read.
    const msgs = log.lines.map((l) => l.msg);
    expect(msgs.filter((m) => /outside the range of a date/.test(m))).toHaveLength(1);
    expect(msgs.filter((m) => /cpu_pct/.test(m))).toHaveLength(1);
    expect(msgs.filter((m) => /mem_pct/.test(m))).toHaveLength(1);
  });

  it('refuses to store a time that is not a date, naming the batch and record', async () => {
    const bad = spawnBatch('bad-time', T0, 3);
    const records = [...bad.records] as NewRecord[];
    records[2] = { ...records[2]!, time: 1e308 };
    await expect(store.ingest({ ...bad, records })).rejects.toThrow(/batch bad-time record 2: time 1e\+308/);
    await expect(store.ingest({ ...spawnBatch('nan-time', T0, 1), time: Number.NaN })).rejects.toThrow(/batch nan-time: time NaN/);
    expect(await store.stats()).toMatchObject({ sources: 0, records: 0 });
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

    // Unconditional purge, and a clock that went backwards makes a purge due again.
    await store.ingest(spawnBatch('old-3', T0 - 30 * day, 1));
    expect(await store.purgeOlderThan(T0 - 7 * day, T0 + 61 * MIN)).toMatchObject({ records: 1, sources: 1, at: T0 + 61 * MIN });
    expect(await store.lastPurgeAt()).toBe(T0 + 61 * MIN);
    expect(await store.purgeIfDue(T0 - 7 * day, T0, 3_600_000)).toMatchObject({ at: T0 });
  });

  it('of two stores (two processes) asking at once, exactly one purges', async () => {
    const other = loc.open({ host: 'host-b' });
    extra.push(other);
    await other.whenReady();
    await store.ingest(spawnBatch('old', T0 - 10 * 86_400_000, 50));
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? other : store).purgeIfDue(T0 - 86_400_000, T0, 3_600_000)),
    );
    expect(outcomes.filter((o) => o !== null)).toHaveLength(1);
    expect(outcomes.find((o) => o !== null)).toMatchObject({ records: 50, sources: 1 });
  });

  it('a batch that fails halfway leaves no partial rows and no idempotency key', async () => {
    await store.ingest(spawnBatch('before', T0, 5));
    const bad = spawnBatch('half', T0 + 1, 1200);
    const records = [...bad.records] as NewRecord[];
    // The CHECK constraint rejects row 1100, after two chunks of rows were inserted in the transaction.
    records[1100] = { ...records[1100]!, kind: 'exploded' as never };
    await expect(store.ingest({ ...bad, records })).rejects.toThrow(/check constraint/i);
    expect(await store.hasSource('half')).toBe(false);
    expect((await store.stats()).records).toBe(5);
    // The retry with good data is then stored in full.
    expect(await store.ingest(spawnBatch('half', T0 + 1, 1200))).toEqual({ stored: true, count: 1200 });
  });

  it('a process killed (SIGKILL) mid-ingest leaves the store consistent', async () => {
    await store.close();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-crash-'));
    const script = path.join(dir, 'crash-child.mts');
    writeFileSync(
      script,
      `
      const store = ${loc.childOpen};
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
    rmSync(dir, { recursive: true, force: true });
    expect(out).toContain('dying');
    expect(out).not.toContain('should not get here');
    expect(signal).toBe('SIGKILL');

    store = loc.open();
    expect(await store.hasSource('complete')).toBe(true);
    // PostgreSQL notices the dead client's connection and rolls its transaction back.
    expect(await store.hasSource('doomed')).toBe(false);
    expect(await store.stats()).toMatchObject({ sources: 1, records: 100 });
    expect((await store.queryLogs({ limit: 1000 })).items.filter((r) => r.source === 'doomed')).toEqual([]);
    // The retried job then stores the whole batch once.
    expect(await store.ingest(spawnBatch('doomed', T0, 2000, 'low'))).toEqual({ stored: true, count: 2000 });
  });
});

describe('SqliteRecordStore specifics (real SQLite file)', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-store-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates <dataDir>/tideflow.db in WAL mode at the latest schema version', async () => {
    let store = openRecordStore(dir);
    expect(store.location).toBe(path.join(dir, 'tideflow.db'));
    expect(existsSync(store.location)).toBe(true);
    await store.whenReady();
    await store.close();
    const db = new Database(path.join(dir, 'tideflow.db'), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect((db.prepare('SELECT name FROM kysely_migration ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name)).toEqual([
      '0001_records_and_sources',
      '0002_host_and_kill_once',
    ]);
    const indexes = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'`).all() as Array<{ name: string }>).map((r) => r.name);
    expect(indexes).toEqual(expect.arrayContaining(['records_time', 'records_kind_time', 'records_host_time', 'records_killed_once']));
    db.close();
    store = openRecordStore(dir); // reopening runs no migration twice
    expect((await store.stats()).records).toBe(0);
    await store.close();
  });

  it('opens a file made by the schema before versioned migrations and migrates it without losing records', async () => {
    const file = path.join(dir, 'tideflow.db');
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(readFileSync('test/fixtures/sqlite-record-store-v1.sql', 'utf8'));
    old.pragma('user_version = 1');
    const src = old.prepare('INSERT INTO sources (source, kind, workflow, time, ingested_at, record_count) VALUES (?, ?, ?, ?, ?, ?)');
    const rec = old.prepare('INSERT INTO records (source, workflow, kind, time, container_id, name, class, cpu_pct, mem_bytes, kill_error, total_bytes, free_bytes, used_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    src.run('s-1', 'spawn', 'wf', T0, T0, 2);
    rec.run('s-1', 'wf', 'spawned', T0, 'c1', 'one', 'high', null, null, null, null, null, null);
    rec.run('s-1', 'wf', 'spawned', T0, 'c2', 'two', 'low', null, null, null, null, null, null);
    src.run('a-1', 'analysis', 'wf', T0 + MIN, T0 + MIN, 4);
    rec.run('a-1', 'wf', 'memory', T0 + MIN, null, null, null, null, null, null, 8e9, 2e9, 6e9);
    rec.run('a-1', 'wf', 'killed', T0 + MIN, 'c1', 'one', 'high', 90, 1e6, null, null, null, null);
    rec.run('a-1', 'wf', 'killed', T0 + MIN, 'c2', 'two', 'low', 5, 1e6, 'no such container', null, null, null);
    rec.run('a-1', 'wf', 'kept', T0 + MIN, 'c3', 'three', 'high', 70, 1e6, null, null, null, null);
    // Two analyses that raced before kills were claimed once both recorded c1's kill.
    src.run('a-2', 'analysis', 'wf', T0 + 2 * MIN, T0 + 2 * MIN, 1);
    rec.run('a-2', 'wf', 'killed', T0 + 2 * MIN, 'c1', 'one', 'high', 91, 1e6, null, null, null, null);
    old.prepare(`INSERT INTO meta (key, value) VALUES ('lastPurgeAt', ?)`).run(String(T0));
    old.close();

    const store = openRecordStore(dir, { host: 'old-host' });
    expect(await store.stats()).toMatchObject({ sources: 3, records: 6, byKind: { spawned: 2, killed: 2, kept: 1, memory: 1 } });
    const all = (await store.queryLogs({ limit: 1000 })).items;
    expect(all.every((r) => r.host === 'old-host')).toBe(true);
    // The duplicate successful kill collapsed onto the first; the failed attempt stayed.
    expect(all.filter((r) => r.kind === 'killed').map((r) => [r.source, r.containerId, r.killError])).toEqual([
      ['a-1', 'c2', 'no such container'],
      ['a-1', 'c1', null],
    ]);
    expect(all.find((r) => r.kind === 'memory')).toMatchObject({ totalBytes: 8e9, freeBytes: 2e9, usedBytes: 6e9 });
    expect((await store.lastKept(T0 + 3 * MIN)).source).toBe('a-2');
    expect(await store.lastPurgeAt()).toBe(T0);
    expect(await store.ingest(spawnBatch('s-1', T0, 2))).toEqual({ stored: false, count: 0 });
    expect(await store.ingest(analysisBatch('a-3', T0 + 3 * MIN, { killed: [['c3', 'high', 1]] }))).toEqual({ stored: true, count: 2 });
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT count(*) AS n FROM kysely_migration').get()).toEqual({ n: 2 });
    db.close();
  });

  it('refuses a file migrated by a newer tideflow, saying so', async () => {
    const store = openRecordStore(dir);
    await store.whenReady();
    await store.close();
    const db = new Database(path.join(dir, 'tideflow.db'));
    db.prepare(`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999_from_the_future', ?)`).run(new Date().toISOString());
    db.close();
    const again = openRecordStore(dir);
    await expect(again.stats()).rejects.toThrow(/upgrade tideflow/);
    await again.close();
  });
});
