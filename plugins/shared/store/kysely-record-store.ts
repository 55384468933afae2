import { defaultHostName } from '../../../core/config/engine-config.js';
import { Kysely, Migrator, sql, type Expression, type ExpressionBuilder, type SqlBool, type Transaction } from 'kysely';
import { isContainerClass, type ContainerClass } from '../records/container-records.js';
import {
  InvalidCursorError,
  RECORD_KINDS,
  type ContainerCountPoint,
  type IngestOutcome,
  type KeptSnapshot,
  type LogFilter,
  type LogPage,
  type LogQuery,
  type MemoryPoint,
  type NewRecord,
  type PurgeOutcome,
  type RecordBatch,
  type RecordKind,
  type RecordStore,
  type StoreStats,
  type StoredRecord,
} from './record-store.js';
import { StoreMigrations } from './store-migrations.js';
import type { RecordsTable, StoreDatabase, StoreDialect } from './store-schema.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const EXPORT_CHUNK = 1000;
/** Rows per INSERT: 21 columns x 500 stays under SQLite's and PostgreSQL's bound-parameter limits. */
const INSERT_CHUNK = 500;
/** The range of a JS Date (ms). Stored times outside it (e.g. 1e308 from old versions) are never returned. */
export const MIN_TIME = -8_640_000_000_000_000;
export const MAX_TIME = 8_640_000_000_000_000;

/** What the store logs through (a pino logger fits). */
export interface StoreLog {
  warn(obj: object, msg: string): void;
}

const consoleLog: StoreLog = { warn: (obj, msg) => console.warn(msg, obj) };

export interface KyselyRecordStoreOptions {
  /** Stamped on records of batches without their own host. */
  host?: string;
  log?: StoreLog;
}

type RecordRow = { [K in keyof RecordsTable]: RecordsTable[K] extends { __select__: infer S } ? S : RecordsTable[K] };

/** Numeric columns that may be null; a stored value that is not a finite number reads as null. */
const NULLABLE_NUMBERS = ['pid', 'cpu_pct', 'mem_bytes', 'mem_pct', 'total_bytes', 'free_bytes', 'available_bytes', 'used_bytes'] as const;
/** Columns holding whole numbers: rounded on the way in, since PostgreSQL's bigint refuses 1234.5 where SQLite would keep it. */
const INTEGER_FIELDS = ['pid', 'memBytes', 'totalBytes', 'freeBytes', 'availableBytes', 'usedBytes'] as const;

/** Cursor = base64url("<time>:<id>") of the last row of a page. */
function encodeCursor(time: number, id: number): string {
  return Buffer.from(`${time}:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { time: number; id: number } {
  const m = /^(-?\d+(?:\.\d+)?):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidCursorError(cursor);
  return { time: Number(m[1]), id: Number(m[2]) };
}

/** Rejects what no backend can store faithfully, with the record's position in the batch. */
function checkedTime(t: number, where: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < MIN_TIME || t > MAX_TIME) {
    throw new RangeError(`${where}: time ${String(t)} is not a ms timestamp within the range of a date`);
  }
  return Math.round(t);
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The RecordStore over Kysely, one implementation for SQLite and
 * PostgreSQL: the same queries, transactions and migrations, with the few
 * dialect differences (column types, index shapes) kept in the migrations.
 *
 * Opening is asynchronous (migrations); every method waits for it, so a
 * store can be constructed synchronously and used at once.
 */
export class KyselyRecordStore implements RecordStore {
  readonly location: string;
  readonly host: string;
  protected readonly db: Kysely<StoreDatabase>;
  private readonly log: StoreLog;
  private readonly ready: Promise<void>;
  private closed = false;
  /** Problems already logged (each once per store): out-of-range stored values. */
  private readonly warned = new Set<string>();

  constructor(db: Kysely<StoreDatabase>, readonly dialect: StoreDialect, location: string, opts: KyselyRecordStoreOptions = {}) {
    this.db = db;
    this.location = location;
    this.host = opts.host ?? defaultHostName();
    this.log = opts.log ?? consoleLog;
    this.ready = this.open();
    // Callers see the failure on their first call; this only keeps it from being "unhandled".
    this.ready.catch(() => {});
  }

  /** Resolves once the schema is at the latest version (rejects with the migration error). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  private async open(): Promise<void> {
    await this.migrate();
    // Logged once per open rather than per read: such rows are skipped by every query.
    const bad = await this.db
      .selectFrom('records')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => eb.not(this.validTime(eb)))
      .executeTakeFirstOrThrow();
    if (Number(bad.n) > 0) {
      this.warnOnce('time', { store: this.location, rows: Number(bad.n) }, `record store: ${bad.n} stored records have a time outside the range of a date; reads skip them`);
    }
  }

  private async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: new StoreMigrations(this.dialect, this.host) });
    // Several processes may open one store at once (engine and workers):
    // the loser of a race on the migration tables retries and then finds
    // nothing pending.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      // Reading first keeps an up-to-date store from taking any write lock on open.
      const known = await migrator.getMigrations().catch(() => null);
      if (known && known.every((m) => m.executedAt)) {
        await this.refuseNewerSchema(known.map((m) => m.name));
        return;
      }
      const { error } = await this.writeLock(() => migrator.migrateToLatest());
      if (!error) return;
      lastError = error;
      if (error instanceof Error && /corrupted migrations/i.test(error.message)) break;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError);
    throw new Error(
      `record store ${this.location}: schema migration failed: ${message}` +
        (/corrupted migrations/i.test(message) ? ' (the store was migrated by a newer tideflow; upgrade tideflow)' : ''),
      { cause: lastError },
    );
  }

  /** A store migrated by a newer tideflow has migrations this one does not know: refuse it rather than misread it. */
  private async refuseNewerSchema(known: string[]): Promise<void> {
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(this.db);
    const unknown = rows.map((r) => r.name).filter((n) => !known.includes(n));
    if (unknown.length > 0) {
      throw new Error(`record store ${this.location} has schema migrations this tideflow does not know (${unknown.join(', ')}): it was migrated by a newer tideflow; upgrade tideflow`);
    }
  }

  /**
   * Runs a write transaction. SQLite overrides it: see SqliteRecordStore.
   * PostgreSQL needs nothing here, its row locks wait without blocking the process.
   */
  protected writeLock<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  private warnOnce(key: string, obj: object, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(obj, msg);
  }

  private validTime(eb: ExpressionBuilder<StoreDatabase, 'records'>): Expression<SqlBool> {
    return eb.and([eb('records.time', '>=', MIN_TIME), eb('records.time', '<=', MAX_TIME)]);
  }

  /** A stored row as the API sees it; null (and logged once) when it cannot be shown at all. */
  private toStored(r: RecordRow): StoredRecord | null {
    const time = Number(r.time);
    if (!Number.isFinite(time)) {
      this.warnOnce('time', { store: this.location, id: r.id }, `record store: record ${r.id} has time ${String(r.time)}; reads skip such records`);
      return null;
    }
    const nums = {} as Record<(typeof NULLABLE_NUMBERS)[number], number | null>;
    for (const col of NULLABLE_NUMBERS) {
      const v = r[col];
      if (v === null || v === undefined) {
        nums[col] = null;
      } else if (typeof v === 'number' && Number.isFinite(v)) {
        nums[col] = v;
      } else {
        nums[col] = null;
        this.warnOnce(`num:${col}`, { store: this.location, id: r.id, column: col }, `record store: record ${r.id} has ${col} = ${String(v)}; read as null`);
      }
    }
    return {
      id: Number(r.id),
      source: r.source,
      workflow: r.workflow,
      host: r.host,
      kind: r.kind,
      time,
      containerId: r.container_id,
      name: r.name,
      image: r.image,
      class: isContainerClass(r.class) ? r.class : null,
      pid: nums.pid,
      cmdline: r.cmdline,
      cpuPct: nums.cpu_pct,
      memBytes: nums.mem_bytes,
      memPct: nums.mem_pct,
      reason: r.reason,
      killError: r.kill_error,
      totalBytes: nums.total_bytes,
      freeBytes: nums.free_bytes,
      availableBytes: nums.available_bytes,
      usedBytes: nums.used_bytes,
    };
  }

  private toRow(batch: RecordBatch, host: string, r: NewRecord, i: number) {
    const where = `batch ${batch.source} record ${i}`;
    const ints = {} as Record<(typeof INTEGER_FIELDS)[number], number | null>;
    for (const f of INTEGER_FIELDS) {
      const v = finiteOrNull(r[f]);
      ints[f] = v === null ? null : Math.round(v);
    }
    return {
      source: batch.source,
      workflow: batch.workflow,
      host,
      kind: r.kind,
      time: checkedTime(r.time, where),
      container_id: r.containerId ?? null,
      name: r.name ?? null,
      image: r.image ?? null,
      class: r.class ?? null,
      pid: ints.pid,
      cmdline: r.cmdline ?? null,
      cpu_pct: finiteOrNull(r.cpuPct),
      mem_bytes: ints.memBytes,
      mem_pct: finiteOrNull(r.memPct),
      reason: r.reason ?? null,
      kill_error: r.killError ?? null,
      total_bytes: ints.totalBytes,
      free_bytes: ints.freeBytes,
      available_bytes: ints.availableBytes,
      used_bytes: ints.usedBytes,
    };
  }

  async ingest(batch: RecordBatch): Promise<IngestOutcome> {
    if (!batch.source) throw new Error('a record batch needs a source (the producing run id)');
    await this.ready;
    const host = batch.host || this.host;
    const batchTime = checkedTime(batch.time, `batch ${batch.source}`);
    // The source row and all its records commit together or not at all; the
    // source insert doubles as the idempotency check and, being the first
    // statement, takes the write lock (SQLite) or the key's lock (PostgreSQL)
    // before anything is read, so concurrent duplicates wait and then store nothing.
    return this.writeLock(() => this.db.transaction().execute(async (trx) => {
      const src = await trx
        .insertInto('sources')
        .values({ source: batch.source, kind: batch.sourceKind, workflow: batch.workflow, host, time: batchTime, ingested_at: Date.now(), record_count: batch.records.length })
        .onConflict((oc) => oc.column('source').doNothing())
        .executeTakeFirst();
      if (Number(src.numInsertedOrUpdatedRows ?? 0n) === 0) return { stored: false, count: 0 };
      let count = 0;
      const n = batch.records.length;
      for (let start = 0; start < n; start += INSERT_CHUNK) {
        // Rows are built chunk by chunk inside the transaction, as they are written.
        const rows = [];
        for (let i = start; i < Math.min(n, start + INSERT_CHUNK); i++) rows.push(this.toRow(batch, host, batch.records[i]!, i));
        // DO NOTHING only ever skips a second successful kill of one container (records_killed_once).
        const res = await trx.insertInto('records').values(rows).onConflict((oc) => oc.doNothing()).executeTakeFirst();
        count += Number(res.numInsertedOrUpdatedRows ?? 0n);
      }
      if (count !== n) await trx.updateTable('sources').set({ record_count: count }).where('source', '=', batch.source).execute();
      return { stored: true, count };
    }));
  }

  async hasSource(source: string): Promise<boolean> {
    await this.ready;
    return (await this.db.selectFrom('sources').select('source').where('source', '=', source).executeTakeFirst()) !== undefined;
  }

  /** The filter as one condition; kind goes first so records_kind_time can serve it. */
  private where(eb: ExpressionBuilder<StoreDatabase, 'records'>, f: LogFilter): Expression<SqlBool> {
    const parts: Expression<SqlBool>[] = [];
    if (f.kind) parts.push(eb('kind', '=', f.kind));
    if (f.host !== undefined) parts.push(eb('host', '=', f.host));
    parts.push(eb('time', '>=', f.from !== undefined ? Math.max(MIN_TIME, f.from) : MIN_TIME));
    parts.push(eb('time', '<=', f.to !== undefined ? Math.min(MAX_TIME, f.to) : MAX_TIME));
    if (f.class) parts.push(eb('class', '=', f.class));
    if (f.minCpu !== undefined) parts.push(eb('cpu_pct', '>=', f.minCpu));
    return eb.and(parts);
  }

  private async page(filter: LogFilter, limit: number, after?: { time: number; id: number }, offset = 0): Promise<StoredRecord[]> {
    await this.ready;
    let q = this.db.selectFrom('records').selectAll().where((eb) => this.where(eb, filter));
    if (after) {
      q = q.where((eb) => eb.or([eb('time', '<', after.time), eb.and([eb('time', '=', after.time), eb('id', '<', after.id)])]));
    }
    const rows = (await q.orderBy('time', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute()) as RecordRow[];
    const out: StoredRecord[] = [];
    for (const r of rows) {
      const s = this.toStored(r);
      if (s) out.push(s);
    }
    return out;
  }

  async queryLogs(q: LogQuery): Promise<LogPage> {
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? DEFAULT_LIMIT)), MAX_LIMIT);
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    // One extra row tells whether another page exists without a COUNT.
    const rows = await this.page(q, limit + 1, after, after ? 0 : Math.max(0, Math.floor(q.offset ?? 0)));
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.time, last.id) : null };
  }

  async *exportLogs(filter: LogFilter): AsyncIterable<StoredRecord> {
    // Keyset chunks instead of one open cursor: a slow HTTP client must not
    // hold a connection (or SQLite's only one) while ingest waits.
    let after: { time: number; id: number } | undefined;
    for (;;) {
      const rows = await this.page(filter, EXPORT_CHUNK, after);
      for (const r of rows) yield r;
      if (rows.length < EXPORT_CHUNK) return;
      const last = rows[rows.length - 1]!;
      after = { time: last.time, id: last.id };
      // Let other work (ingest, requests) run between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async memorySeries(from: number, to: number, maxPoints = 500, host?: string): Promise<MemoryPoint[]> {
    await this.ready;
    const f: LogFilter = { kind: 'memory', from, to, host };
    const { n } = await this.db
      .selectFrom('records')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => this.where(eb, f))
      .executeTakeFirstOrThrow();
    if (Number(n) === 0) return [];
    const lo = Math.max(MIN_TIME, Math.floor(from));
    const bucket = Number(n) > maxPoints ? Math.max(1, Math.ceil((to - from + 1) / Math.max(1, maxPoints))) : 1;
    // Literals, not parameters: PostgreSQL matches GROUP BY expressions textually, and both are integers we computed.
    const slot = sql<number>`CAST((time - ${sql.lit(lo)}) / ${sql.lit(bucket)} AS BIGINT)`;
    const rows = await this.db
      .selectFrom('records')
      .select([
        sql<number>`min(time)`.as('time'),
        sql<number>`avg(total_bytes)`.as('t'),
        sql<number>`avg(free_bytes)`.as('f'),
        sql<number>`avg(used_bytes)`.as('u'),
        sql<number | null>`avg(available_bytes)`.as('a'),
      ])
      .where((eb) => this.where(eb, f))
      .groupBy(slot)
      .orderBy(sql`min(time)`)
      .execute();
    const out: MemoryPoint[] = [];
    for (const r of rows) {
      const [time, t, fr, u] = [Number(r.time), Number(r.t), Number(r.f), Number(r.u)];
      if (![time, t, fr, u].every(Number.isFinite)) {
        this.warnOnce('memory', { store: this.location, time: r.time }, `record store: a memory record near ${String(r.time)} has no usable byte counts; the chart skips it`);
        continue;
      }
      const a = r.a === null ? null : Number(r.a);
      out.push({ time, totalBytes: Math.round(t), freeBytes: Math.round(fr), usedBytes: Math.round(u), availableBytes: a !== null && Number.isFinite(a) ? Math.round(a) : null });
    }
    return out;
  }

  async containerCounts(from: number, to: number, bucketMs = 60_000, host?: string): Promise<ContainerCountPoint[]> {
    await this.ready;
    const b = Math.max(1, Math.floor(bucketMs));
    // Literals, not parameters: PostgreSQL matches the GROUP BY expression to the selected one textually.
    const bucket = sql<number>`CAST(time / ${sql.lit(b)} AS BIGINT) * ${sql.lit(b)}`;
    const rows = await this.db
      .selectFrom('records')
      .select([bucket.as('bucket'), 'kind as event', 'class', (eb) => eb.fn.countAll<number>().as('count')])
      .where((eb) => eb.and([eb('kind', 'in', ['spawned', 'killed']), this.where(eb, { from, to, host })]))
      .groupBy([bucket, 'kind', 'class'])
      .orderBy(bucket)
      .orderBy('kind')
      .orderBy('class')
      .execute();
    return rows.map((r) => ({ bucket: Number(r.bucket), event: r.event as ContainerCountPoint['event'], class: r.class as ContainerClass | null, count: Number(r.count) }));
  }

  async killedContainers(from: number, to: number, limit = 1000, host?: string): Promise<{ items: StoredRecord[]; total: number }> {
    await this.ready;
    const f: LogFilter = { kind: 'killed', from, to, host };
    const { n } = await this.db
      .selectFrom('records')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where((eb) => this.where(eb, f))
      .executeTakeFirstOrThrow();
    const items = await this.page(f, Math.max(0, limit));
    return { items, total: Number(n) };
  }

  async lastKept(at: number = Date.now(), host?: string): Promise<KeptSnapshot> {
    await this.ready;
    let q = this.db
      .selectFrom('sources')
      .select(['source', 'time'])
      .where('kind', 'in', ['analysis', 'course'])
      .where('time', '<=', Math.min(MAX_TIME, at))
      .where('time', '>=', MIN_TIME);
    if (host !== undefined) q = q.where('host', '=', host);
    const src = await q.orderBy('time', 'desc').limit(1).executeTakeFirst();
    if (!src) return { time: null, source: null, items: [] };
    const rows = (await this.db
      .selectFrom('records')
      .selectAll()
      .where('source', '=', src.source)
      .where('kind', '=', 'kept')
      .orderBy('class')
      .orderBy('cpu_pct', 'desc')
      .orderBy('id')
      .execute()) as RecordRow[];
    const items = rows.map((r) => this.toStored(r)).filter((r): r is StoredRecord => r !== null);
    return { time: Number(src.time), source: src.source, items };
  }

  private async purgeIn(trx: Transaction<StoreDatabase>, cutoff: number, now: number): Promise<PurgeOutcome> {
    // Rows first by their own time (a batch's rows may straddle the cutoff),
    // then sources whose time is past it (the cascade removes any leftovers).
    const records = await trx.deleteFrom('records').where('time', '<', cutoff).executeTakeFirst();
    const sources = await trx.deleteFrom('sources').where('time', '<', cutoff).executeTakeFirst();
    return { records: Number(records.numDeletedRows), sources: Number(sources.numDeletedRows), cutoff, at: now };
  }

  async purgeOlderThan(cutoff: number, now: number): Promise<PurgeOutcome> {
    await this.ready;
    return this.writeLock(() => this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('meta')
        .values({ key: 'lastPurgeAt', value: String(now) })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
        .execute();
      return this.purgeIn(trx, cutoff, now);
    }));
  }

  async purgeIfDue(cutoff: number, now: number, minIntervalMs: number): Promise<PurgeOutcome | null> {
    await this.ready;
    // Claim the purge first, in one conditional upsert: it is a write, so it
    // takes SQLite's write lock or the meta row's lock in PostgreSQL before
    // lastPurgeAt is compared, and of two processes only one sees it due.
    return this.writeLock(() => this.db.transaction().execute(async (trx) => {
      const last = sql<number>`CAST(meta.value AS BIGINT)`;
      const claim = await trx
        .insertInto('meta')
        .values({ key: 'lastPurgeAt', value: String(now) })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ value: (eb) => eb.ref('excluded.value') })
            .where(sql<SqlBool>`NOT (${last} <= CAST(${now} AS BIGINT) AND CAST(${now} AS BIGINT) - ${last} < CAST(${minIntervalMs} AS BIGINT))`),
        )
        .executeTakeFirst();
      if (Number(claim.numInsertedOrUpdatedRows ?? 0n) === 0) return null;
      return this.purgeIn(trx, cutoff, now);
    }));
  }

  async lastPurgeAt(): Promise<number | null> {
    await this.ready;
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', 'lastPurgeAt').executeTakeFirst();
    return row ? Number(row.value) : null;
  }

  async stats(): Promise<StoreStats> {
    await this.ready;
    const { n } = await this.db.selectFrom('sources').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const byKind = Object.fromEntries(RECORD_KINDS.map((k) => [k, 0])) as Record<RecordKind, number>;
    let records = 0;
    const rows = await this.db.selectFrom('records').select(['kind', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('kind').execute();
    for (const r of rows) {
      byKind[r.kind] = Number(r.n);
      records += Number(r.n);
    }
    return { sources: Number(n), records, byKind };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let an open still running finish before the connection goes away.
    await this.ready.catch(() => {});
    await this.db.destroy();
  }
}
