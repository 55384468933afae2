import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyRecordStore, type KyselyRecordStoreOptions } from './kysely-record-store.js';
import type { StoreDatabase } from './store-schema.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * bigint (times, byte counts, count(*)) and numeric (avg of bigints) arrive
 * as strings from pg; the store's values are JS numbers, and every one it
 * keeps is within 2^53 (times are date-range ms). Per pool, not pg's global
 * parsers, so other pg users in the process are unaffected.
 */
const numericTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** The URL without its password, for logs and health output. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export interface PostgresRecordStoreOptions extends KyselyRecordStoreOptions {
  /** Pool size per process; default 10. */
  maxConnections?: number;
}

/**
 * The record store in PostgreSQL (TIDEFLOW_DATABASE_URL=postgres://...):
 * one store that the engine and the workers of several hosts share.
 */
export class PostgresRecordStore extends KyselyRecordStore {
  constructor(databaseUrl: string, opts: PostgresRecordStoreOptions = {}) {
    // A bounded connect: an unreachable server is an error on the caller's call, not a hang.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.maxConnections ?? 10, connectionTimeoutMillis: 15_000, types: numericTypes });
    // An idle client losing its server (restart, network cut) must not crash
    // the process; the next query gets a fresh connection or a clear error.
    pool.on('error', (err) => (opts.log ?? { warn: (o: object, m: string) => console.warn(m, o) }).warn({ err: err.message }, 'record store: idle PostgreSQL connection failed'));
    super(new Kysely<StoreDatabase>({ dialect: new PostgresDialect({ pool }) }), 'postgres', redactDatabaseUrl(databaseUrl), opts);
  }
}
