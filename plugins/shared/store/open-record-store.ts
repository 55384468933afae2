import type { RecordStore } from './record-store.js';
import type { StoreLog } from './kysely-record-store.js';
import { PostgresRecordStore } from './postgres-record-store.js';
import { openRecordStore } from './sqlite-record-store.js';

export interface RecordStoreConfig {
  dataDir: string;
  /** TIDEFLOW_DATABASE_URL: a postgres:// URL selects PostgreSQL; unset means SQLite in dataDir. */
  databaseUrl?: string;
  /** TIDEFLOW_HOST_NAME (default os.hostname()): stamped on the records this process stores. */
  hostName?: string;
}

/** The store the configuration asks for: PostgreSQL when a database URL is set, else `<dataDir>/tideflow.db`. */
export function openConfiguredRecordStore(config: RecordStoreConfig, log?: StoreLog): RecordStore {
  const opts = { host: config.hostName, log };
  if (!config.databaseUrl) return openRecordStore(config.dataDir, opts);
  if (!/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new Error(`TIDEFLOW_DATABASE_URL must be a postgres:// or postgresql:// URL (or unset for SQLite in the data dir), got "${config.databaseUrl.split('@').pop()}"`);
  }
  return new PostgresRecordStore(config.databaseUrl, opts);
}
