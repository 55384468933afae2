import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ContainerClass } from '../records/container-records.js';
import {
  RECORD_KINDS,
  type ContainerCountPoint,
  type IngestOutcome,
  type KeptSnapshot,
  type LogFilter,
  type LogPage,
  type LogQuery,
  type MemoryPoint,
  type PurgeOutcome,
  type RecordBatch,
  type RecordKind,
  type RecordStore,
  type StoreStats,
  type StoredRecord,
} from './record-store.js';

export const DB_FILE_NAME = 'tideflow.db';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const EXPORT_CHUNK = 1000;

/**
 * Schema migrations, applied in order; PRAGMA user_version holds how many
 * ran. Never edit a released entry: append a new one.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE sources (
    source      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('spawn','analysis','course')),
    workflow    TEXT,
    time        INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL,
    record_count INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sources_kind_time ON sources (kind, time);
  CREATE INDEX sources_time ON sources (time);

  CREATE TABLE records (
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL REFERENCES sources (source) ON DELETE CASCADE,
    workflow        TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('spawned','killed','kept','memory')),
    time            INTEGER NOT NULL,
    container_id    TEXT,
    name            TEXT,
    image           TEXT,
    class           TEXT CHECK (class IS NULL OR class IN ('high','low')),
    pid             INTEGER,
    cmdline         TEXT,
    cpu_pct         REAL,
    mem_bytes       INTEGER,
    mem_pct         REAL,
    reason          TEXT,
    kill_error      TEXT,
    total_bytes     INTEGER,
    free_bytes      INTEGER,
    available_bytes INTEGER,
    used_bytes      INTEGER
  );
  CREATE INDEX records_time ON records (time);
  CREATE INDEX records_kind_time ON records (kind, time);
  CREATE INDEX records_source ON records (source);

  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `,
];

interface Row {
  id: number;
  source: string;
  workflow: string | null;
  kind: RecordKind;
  time: number;
  container_id: string | null;
  name: string | null;
  image: string | null;
  class: ContainerClass | null;
  pid: number | null;
  cmdline: string | null;
  cpu_pct: number | null;
  mem_bytes: number | null;
  mem_pct: number | null;
  reason: string | null;
  kill_error: string | null;
  total_bytes: number | null;
  free_bytes: number | null;
  available_bytes: number | null;
  used_bytes: number | null;
}

function toStored(r: Row): StoredRecord {
  return {
    id: r.id,
    source: r.source,
    workflow: r.workflow,
    kind: r.kind,
    time: r.time,
    containerId: r.container_id,
    name: r.name,
    image: r.image,
    class: r.class,
    pid: r.pid,
    cmdline: r.cmdline,
    cpuPct: r.cpu_pct,
    memBytes: r.mem_bytes,
    memPct: r.mem_pct,
    reason: r.reason,
    killError: r.kill_error,
    totalBytes: r.total_bytes,
    freeBytes: r.free_bytes,
    availableBytes: r.available_bytes,
    usedBytes: r.used_bytes,
  };
}

/** Cursor = base64url("<time>:<id>") of the last row of a page. */
function encodeCursor(time: number, id: number): string {
  return Buffer.from(`${time}:${id}`).toString('base64url');
}

export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`invalid cursor "${cursor}": pass the nextCursor of a previous page`);
    this.name = 'InvalidCursorError';
  }
}

function decodeCursor(cursor: string): { time: number; id: number } {
  const m = /^(-?\d+):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidCursorError(cursor);
  return { time: Number(m[1]), id: Number(m[2]) };
}

const nil = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/**
 * RecordStore on one SQLite file (better-sqlite3, WAL). Calls are
 * synchronous underneath and wrapped in promises to fit the interface; each
 * ingest is one transaction so a crash mid-way leaves nothing of it.
 */
export class SqliteRecordStore implements RecordStore {
  readonly location: string;
  private readonly db: Database.Database;
  /** Prepared statements by SQL text: filters build a handful of variants. */
  private readonly stmts = new Map<string, Database.Statement>();
  private readonly insertBatch: Database.Transaction<(batch: RecordBatch, now: number) => IngestOutcome>;

  constructor(file: string) {
    this.location = file;
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives process crashes (not power loss) and keeps ingest cheap.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();

    const insertSource = this.db.prepare(
      `INSERT INTO sources (source, kind, workflow, time, ingested_at, record_count)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source) DO NOTHING`,
    );
    const insertRecord = this.db.prepare(
      `INSERT INTO records (source, workflow, kind, time, container_id, name, image, class, pid, cmdline,
         cpu_pct, mem_bytes, mem_pct, reason, kill_error, total_bytes, free_bytes, available_bytes, used_bytes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // The source row and all its records commit together or not at all;
    // the source insert doubles as the idempotency check.
    this.insertBatch = this.db.transaction((batch: RecordBatch, now: number): IngestOutcome => {
      const res = insertSource.run(batch.source, batch.sourceKind, batch.workflow, batch.time, now, batch.records.length);
      if (res.changes === 0) return { stored: false, count: 0 };
      let count = 0;
      for (const r of batch.records) {
        insertRecord.run(
          batch.source, batch.workflow, r.kind, r.time, nil(r.containerId), nil(r.name), nil(r.image), nil(r.class),
          nil(r.pid), nil(r.cmdline), nil(r.cpuPct), nil(r.memBytes), nil(r.memPct), nil(r.reason), nil(r.killError),
          nil(r.totalBytes), nil(r.freeBytes), nil(r.availableBytes), nil(r.usedBytes),
        );
        count++;
      }
      return { stored: true, count };
    });
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`${this.location} has schema version ${version}, newer than this tideflow (${MIGRATIONS.length}); upgrade tideflow`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  async ingest(batch: RecordBatch): Promise<IngestOutcome> {
    if (!batch.source) throw new Error('a record batch needs a source (the producing run id)');
    return this.insertBatch.immediate(batch, Date.now());
  }

  async hasSource(source: string): Promise<boolean> {
    return this.stmt('SELECT 1 FROM sources WHERE source = ?').get(source) !== undefined;
  }

  /** WHERE clause + params for a filter; kind goes first so records_kind_time can serve it. */
  private where(f: LogFilter): { sql: string; params: unknown[] } {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (f.kind) { parts.push('kind = ?'); params.push(f.kind); }
    if (f.from !== undefined) { parts.push('time >= ?'); params.push(f.from); }
    if (f.to !== undefined) { parts.push('time <= ?'); params.push(f.to); }
    if (f.class) { parts.push('class = ?'); params.push(f.class); }
    if (f.minCpu !== undefined) { parts.push('cpu_pct >= ?'); params.push(f.minCpu); }
    return { sql: parts.length ? parts.join(' AND ') : '1', params };
  }

  private page(filter: LogFilter, limit: number, after?: { time: number; id: number }, offset = 0): StoredRecord[] {
    const w = this.where(filter);
    let sql = `SELECT * FROM records WHERE ${w.sql}`;
    const params = [...w.params];
    if (after) {
      sql += ' AND (time < ? OR (time = ? AND id < ?))';
      params.push(after.time, after.time, after.id);
    }
    sql += ' ORDER BY time DESC, id DESC LIMIT ? OFFSET ?';
    params.push(limit, offset);
    return (this.stmt(sql).all(...params) as Row[]).map(toStored);
  }

  async queryLogs(q: LogQuery): Promise<LogPage> {
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? DEFAULT_LIMIT)), MAX_LIMIT);
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    // One extra row tells whether another page exists without a COUNT.
    const rows = this.page(q, limit + 1, after, after ? 0 : Math.max(0, Math.floor(q.offset ?? 0)));
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.time, last.id) : null };
  }

  async *exportLogs(filter: LogFilter): AsyncIterable<StoredRecord> {
    // Keyset chunks instead of one open iterator: better-sqlite3 refuses
    // other statements on the connection while an iterator is open, and a
    // slow HTTP client must not block ingest.
    let after: { time: number; id: number } | undefined;
    for (;;) {
      const rows = this.page(filter, EXPORT_CHUNK, after);
      for (const r of rows) yield r;
      if (rows.length < EXPORT_CHUNK) return;
      const last = rows[rows.length - 1]!;
      after = { time: last.time, id: last.id };
      // Let other work (ingest, requests) run between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async memorySeries(from: number, to: number, maxPoints = 500): Promise<MemoryPoint[]> {
    const n = (this.stmt(`SELECT count(*) AS n FROM records WHERE kind = 'memory' AND time >= ? AND time <= ?`).get(from, to) as { n: number }).n;
    if (n === 0) return [];
    const bucket = n > maxPoints ? Math.ceil((to - from + 1) / maxPoints) : 1;
    const rows = this.stmt(
      `SELECT min(time) AS time, avg(total_bytes) AS t, avg(free_bytes) AS f, avg(used_bytes) AS u, avg(available_bytes) AS a
       FROM records WHERE kind = 'memory' AND time >= ? AND time <= ?
       GROUP BY CAST((time - ?) / ? AS INTEGER) ORDER BY 1`,
    ).all(from, to, from, bucket) as Array<{ time: number; t: number; f: number; u: number; a: number | null }>;
    return rows.map((r) => ({
      time: r.time,
      totalBytes: Math.round(r.t),
      freeBytes: Math.round(r.f),
      usedBytes: Math.round(r.u),
      availableBytes: r.a === null ? null : Math.round(r.a),
    }));
  }

  async containerCounts(from: number, to: number, bucketMs = 60_000): Promise<ContainerCountPoint[]> {
    const rows = this.stmt(
      `SELECT CAST(time / ? AS INTEGER) * ? AS bucket, kind AS event, class, count(*) AS count
       FROM records WHERE kind IN ('spawned','killed') AND time >= ? AND time <= ?
       GROUP BY bucket, kind, class ORDER BY bucket, kind, class`,
    ).all(bucketMs, bucketMs, from, to) as ContainerCountPoint[];
    return rows;
  }

  async killedContainers(from: number, to: number, limit = 1000): Promise<{ items: StoredRecord[]; total: number }> {
    const total = (this.stmt(`SELECT count(*) AS n FROM records WHERE kind = 'killed' AND time >= ? AND time <= ?`).get(from, to) as { n: number }).n;
    const items = this.page({ kind: 'killed', from, to }, Math.max(0, limit));
    return { items, total };
  }

  async lastKept(at: number = Date.now()): Promise<KeptSnapshot> {
    const src = this.stmt(
      `SELECT source, time FROM sources WHERE kind IN ('analysis','course') AND time <= ? ORDER BY time DESC LIMIT 1`,
    ).get(at) as { source: string; time: number } | undefined;
    if (!src) return { time: null, source: null, items: [] };
    const rows = this.stmt(`SELECT * FROM records WHERE source = ? AND kind = 'kept' ORDER BY class, cpu_pct DESC, id`).all(src.source) as Row[];
    return { time: src.time, source: src.source, items: rows.map(toStored) };
  }

  private purgeNow(cutoff: number, now: number): PurgeOutcome {
    // Rows first by their own time (a batch's rows may straddle the cutoff),
    // then sources whose time is past it (the cascade removes any leftovers).
    const records = this.stmt('DELETE FROM records WHERE time < ?').run(cutoff).changes;
    const sources = this.stmt('DELETE FROM sources WHERE time < ?').run(cutoff).changes;
    this.stmt(`INSERT INTO meta (key, value) VALUES ('lastPurgeAt', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(now));
    return { records, sources, cutoff, at: now };
  }

  async purgeOlderThan(cutoff: number, now: number): Promise<PurgeOutcome> {
    return this.db.transaction(() => this.purgeNow(cutoff, now)).immediate();
  }

  async purgeIfDue(cutoff: number, now: number, minIntervalMs: number): Promise<PurgeOutcome | null> {
    // IMMEDIATE takes the write lock before reading lastPurgeAt, so two
    // processes cannot both decide a purge is due.
    return this.db.transaction(() => {
      const last = this.readLastPurge();
      if (last !== null && now - last < minIntervalMs && now >= last) return null;
      return this.purgeNow(cutoff, now);
    }).immediate();
  }

  private readLastPurge(): number | null {
    const row = this.stmt(`SELECT value FROM meta WHERE key = 'lastPurgeAt'`).get() as { value: string } | undefined;
    return row ? Number(row.value) : null;
  }

  async lastPurgeAt(): Promise<number | null> {
    return this.readLastPurge();
  }

  async stats(): Promise<StoreStats> {
    const sources = (this.stmt('SELECT count(*) AS n FROM sources').get() as { n: number }).n;
    const byKind = Object.fromEntries(RECORD_KINDS.map((k) => [k, 0])) as Record<RecordKind, number>;
    let records = 0;
    for (const r of this.stmt('SELECT kind, count(*) AS n FROM records GROUP BY kind').all() as Array<{ kind: RecordKind; n: number }>) {
      byKind[r.kind] = r.n;
      records += r.n;
    }
    return { sources, records, byKind };
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** The default store: `<dataDir>/tideflow.db`. Register it as Tokens.RecordStore. */
export function openRecordStore(dataDir: string): SqliteRecordStore {
  return new SqliteRecordStore(path.join(dataDir, DB_FILE_NAME));
}

