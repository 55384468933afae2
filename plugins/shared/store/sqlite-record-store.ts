import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { KyselyRecordStore, type KyselyRecordStoreOptions } from './kysely-record-store.js';
import type { StoreDatabase } from './store-schema.js';

export const DB_FILE_NAME = 'tideflow.db';

/**
 * One write transaction at a time per database file in this process.
 * better-sqlite3 waits for a lock synchronously (busy_timeout), and a Kysely
 * transaction awaits between statements: a second connection in the same
 * process waiting for the first's lock would block the event loop the first
 * needs to commit. Other processes just wait (busy_timeout), as before.
 */
const fileWriteQueues = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = fileWriteQueues.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => {});
  fileWriteQueues.set(key, tail);
  void tail.then(() => {
    if (fileWriteQueues.get(key) === tail) fileWriteQueues.delete(key);
  });
  return next;
}

/**
 * The embedded default: the record store in one SQLite file (better-sqlite3,
 * WAL) under the data dir. Each ingest is one transaction, so a crash
 * mid-way leaves nothing of it.
 */
export class SqliteRecordStore extends KyselyRecordStore {
  constructor(file: string, opts: KyselyRecordStoreOptions = {}) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    const database = new Database(file);
    database.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives process crashes (not power loss) and keeps ingest cheap.
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    // Other processes (engine, workers) write the same file: wait for their lock rather than fail.
    database.pragma('busy_timeout = 5000');
    super(new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }), 'sqlite', file, opts);
  }

  protected override writeLock<T>(fn: () => Promise<T>): Promise<T> {
    // Each :memory: database is private to its connection: nothing to share a lock with.
    return this.location === ':memory:' ? fn() : serialized(path.resolve(this.location), fn);
  }
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver prepares every query it runs; the store runs the
 * same few dozen SQL texts over and over, and preparing one costs more than
 * running it (a 2x slower ingest without this). Statements are only run with
 * all()/run() here, never left iterating, so one statement can serve every call.
 */
function withStatementCache(db: Database.Database): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (stmt) {
        // Map order = recency: move it to the end.
        cache.delete(sqlText);
      } else {
        stmt = db.prepare(sqlText);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sqlText, stmt);
      return stmt;
    },
  } as SqliteDatabase;
}

/** The default store: `<dataDir>/tideflow.db`. Register it as Tokens.RecordStore. */
export function openRecordStore(dataDir: string, opts: KyselyRecordStoreOptions = {}): SqliteRecordStore {
  return new SqliteRecordStore(path.join(dataDir, DB_FILE_NAME), opts);
}
