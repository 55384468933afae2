import type { Generated } from 'kysely';
import type { ContainerClass } from '../records/container-records.js';
import type { RecordKind, SourceKind } from './record-store.js';

/** Which SQL database a Kysely record store talks to. */
export type StoreDialect = 'sqlite' | 'postgres';

/** One producing run (the idempotency key) per row. */
export interface SourcesTable {
  source: string;
  kind: SourceKind;
  workflow: string | null;
  host: string;
  time: number;
  ingested_at: number;
  record_count: number;
}

export interface RecordsTable {
  id: Generated<number>;
  source: string;
  workflow: string | null;
  host: string;
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

/** Small key/value facts every process must agree on (lastPurgeAt). */
export interface MetaTable {
  key: string;
  value: string;
}

/** The record store's tables, as Kysely sees them. */
export interface StoreDatabase {
  sources: SourcesTable;
  records: RecordsTable;
  meta: MetaTable;
}
