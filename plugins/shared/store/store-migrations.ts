import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { StoreDialect } from './store-schema.js';

/**
 * The record store's schema, versioned: Kysely's Migrator runs the pending
 * entries in name order on open and records them in kysely_migration. Never
 * edit a released entry: append a new one.
 *
 * SQLite files made before these migrations existed (schema version 1 in
 * PRAGMA user_version) already hold the 0001 tables: 0001 creates only what is
 * missing, so they migrate in place without losing a row.
 */
export class StoreMigrations implements MigrationProvider {
  constructor(
    private readonly dialect: StoreDialect,
    /** Written into rows stored before records knew their host: they came from this host's own file. */
    private readonly host: string,
  ) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_records_and_sources': { up: (db) => this.initial(db) },
      '0002_host_and_kill_once': { up: (db) => this.hostAndKillOnce(db) },
    };
  }

  private async initial(db: Kysely<any>): Promise<void> {
    const pg = this.dialect === 'postgres';
    // PostgreSQL has real 64-bit integers and doubles; SQLite's INTEGER and REAL are 64-bit already.
    const int64 = pg ? 'bigint' : 'integer';
    const real = pg ? 'double precision' : 'real';

    let sources = db.schema
      .createTable('sources')
      .ifNotExists()
      .addColumn('source', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('spawn','analysis','course')`))
      .addColumn('workflow', 'text')
      .addColumn('time', int64, (c) => c.notNull())
      .addColumn('ingested_at', int64, (c) => c.notNull())
      .addColumn('record_count', 'integer', (c) => c.notNull());
    if (!pg) sources = sources.modifyEnd(sql`WITHOUT ROWID`);
    await sources.execute();
    await db.schema.createIndex('sources_kind_time').ifNotExists().on('sources').columns(['kind', 'time']).execute();
    await db.schema.createIndex('sources_time').ifNotExists().on('sources').column('time').execute();

    await db.schema
      .createTable('records')
      .ifNotExists()
      // SQLite: INTEGER PRIMARY KEY is the rowid. PostgreSQL: an identity column.
      .addColumn('id', int64, (c) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey()))
      .addColumn('source', 'text', (c) => c.notNull().references('sources.source').onDelete('cascade'))
      .addColumn('workflow', 'text')
      .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('spawned','killed','kept','memory')`))
      .addColumn('time', int64, (c) => c.notNull())
      .addColumn('container_id', 'text')
      .addColumn('name', 'text')
      .addColumn('image', 'text')
      .addColumn('class', 'text', (c) => c.check(sql`class IS NULL OR class IN ('high','low')`))
      .addColumn('pid', 'integer')
      .addColumn('cmdline', 'text')
      .addColumn('cpu_pct', real)
      .addColumn('mem_bytes', int64)
      .addColumn('mem_pct', real)
      .addColumn('reason', 'text')
      .addColumn('kill_error', 'text')
      .addColumn('total_bytes', int64)
      .addColumn('free_bytes', int64)
      .addColumn('available_bytes', int64)
      .addColumn('used_bytes', int64)
      .execute();
    // Pages are ordered by (time, id). SQLite indexes end with the rowid (= id)
    // already; PostgreSQL needs it spelled out to serve keyset pages from the index.
    const ordered = (cols: string[]): string[] => (pg ? [...cols, 'id'] : cols);
    await db.schema.createIndex('records_time').ifNotExists().on('records').columns(ordered(['time'])).execute();
    await db.schema.createIndex('records_kind_time').ifNotExists().on('records').columns(ordered(['kind', 'time'])).execute();
    await db.schema.createIndex('records_source').ifNotExists().on('records').column('source').execute();

    await db.schema
      .createTable('meta')
      .ifNotExists()
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .$call((t) => (pg ? t : t.modifyEnd(sql`WITHOUT ROWID`)))
      .execute();
  }

  private async hostAndKillOnce(db: Kysely<any>): Promise<void> {
    const pg = this.dialect === 'postgres';
    for (const table of ['sources', 'records']) {
      await db.schema.alterTable(table).addColumn('host', 'text', (c) => c.notNull().defaultTo('')).execute();
      await db.updateTable(table).set({ host: this.host }).where('host', '=', '').execute();
    }
    await db.schema.createIndex('records_host_time').on('records').columns(pg ? ['host', 'time', 'id'] : ['host', 'time']).execute();
    await db.schema.createIndex('sources_host_kind_time').on('sources').columns(['host', 'kind', 'time']).execute();

    // A container is killed once. Earlier versions could store a second
    // successful kill of the same container (two analyses racing); keep the
    // first, which is the kill that happened, so the unique index can exist.
    // Failed kill attempts (kill_error set) stay: each is its own event.
    await sql`
      DELETE FROM records
      WHERE kind = 'killed' AND kill_error IS NULL AND container_id IS NOT NULL
        AND id NOT IN (
          SELECT min(id) FROM records
          WHERE kind = 'killed' AND kill_error IS NULL AND container_id IS NOT NULL
          GROUP BY container_id)`.execute(db);
    await sql`CREATE UNIQUE INDEX records_killed_once ON records (container_id) WHERE kind = 'killed' AND kill_error IS NULL`.execute(db);
  }
}
