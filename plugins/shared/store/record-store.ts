import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { AnalysisResultSchema, ContainerClassSchema, SpawnResultSchema, type ContainerClass } from '../records/container-records.js';

/**
 * The logger's and charts' shared store of spawn / kill / kept / memory
 * records. SQLite (one file per data dir, the default) and PostgreSQL
 * (TIDEFLOW_DATABASE_URL, one store shared by several hosts) implement it.
 *
 * Units everywhere: time in ms since epoch (UTC), memory in bytes, CPU in
 * percent of one core.
 *
 * The record shapes are TypeBox schemas with their `Static<>` types: the one
 * source the store, the logger's API (plugins/logger/logs-routes.ts) and the
 * charts derive theirs from.
 */

/** What one stored row describes. */
export const RecordKindSchema = Type.Union([Type.Literal('spawned'), Type.Literal('killed'), Type.Literal('kept'), Type.Literal('memory')]);
export type RecordKind = Static<typeof RecordKindSchema>;
export const RECORD_KINDS: readonly RecordKind[] = RecordKindSchema.anyOf.map((s) => s.const);

/** Where a batch came from: a spawner run, an analyzer run (their results' `kind`), or a course-format POST /logs. */
export const SourceKindSchema = Type.Union([SpawnResultSchema.properties.kind, AnalysisResultSchema.properties.kind, Type.Literal('course')]);
export type SourceKind = Static<typeof SourceKindSchema>;

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/**
 * What a record says besides its kind and time. Which fields are set depends
 * on the kind: container fields are null for `memory` rows and vice versa.
 * Descriptions are the API's (GET /api/logs documents them).
 */
export const RecordFieldsSchema = Type.Object({
  containerId: Nullable(Type.String()),
  name: Nullable(Type.String()),
  image: Nullable(Type.String()),
  class: Nullable(ContainerClassSchema),
  /** Host PID of the container's process (course format only). */
  pid: Nullable(Type.Integer()),
  cmdline: Nullable(Type.String()),
  /** Percent of one core. */
  cpuPct: Nullable(Type.Number({ description: 'percent of one core' })),
  memBytes: Nullable(Type.Number({ description: 'bytes' })),
  /** Percent of host RAM, when the source reported a percentage (course format). */
  memPct: Nullable(Type.Number({ description: 'percent of host RAM (course format)' })),
  /** Why the analyzer kept or killed it. */
  reason: Nullable(Type.String()),
  /** The kill was decided but failed. */
  killError: Nullable(Type.String()),
  totalBytes: Nullable(Type.Number({ description: 'bytes' })),
  freeBytes: Nullable(Type.Number({ description: 'bytes' })),
  availableBytes: Nullable(Type.Number({ description: 'bytes' })),
  usedBytes: Nullable(Type.Number({ description: 'bytes' })),
});
export type RecordFields = Static<typeof RecordFieldsSchema>;

/** One row to store: kind and time, and whichever fields its kind has (absent or null for the others). */
export const NewRecordSchema = Type.Composite([
  Type.Object({
    kind: RecordKindSchema,
    /** ms since epoch */
    time: Type.Number(),
  }),
  Type.Partial(RecordFieldsSchema),
]);
export type NewRecord = Static<typeof NewRecordSchema>;

/** A stored row: every field present, null when its kind has none. */
export const StoredRecordSchema = Type.Composite([
  Type.Object({
    id: Type.Integer(),
    /** The producing run (the idempotency key). */
    source: Type.String(),
    workflow: Nullable(Type.String()),
    /** The host whose run produced it. */
    host: Type.String(),
    kind: RecordKindSchema,
    time: Type.Number(),
  }),
  RecordFieldsSchema,
]);
export type StoredRecord = Static<typeof StoredRecordSchema>;

/** A `cursor` that is not the `nextCursor` of a previous page (every store implementation throws it). */
export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`invalid cursor "${cursor}": pass the nextCursor of a previous page`);
    this.name = 'InvalidCursorError';
  }
}

/**
 * Everything one producing run contributes. Stored all-or-nothing, at most
 * once per `source` (the producing run's id: the idempotency key).
 */
export interface RecordBatch {
  source: string;
  sourceKind: SourceKind;
  workflow: string | null;
  /** When the producing run observed this (ms). */
  time: number;
  records: readonly NewRecord[];
  /** The host whose run produced it; default: the store's own host (TIDEFLOW_HOST_NAME or os.hostname()). */
  host?: string;
}

export interface IngestOutcome {
  /** False when this source was stored before (a retry or a duplicate). */
  stored: boolean;
  /** Rows written by this call (0 on a duplicate). */
  count: number;
}

export interface LogFilter {
  /** Inclusive lower bound, ms. */
  from?: number;
  /** Inclusive upper bound, ms. */
  to?: number;
  kind?: RecordKind;
  class?: ContainerClass;
  /** Only rows with cpuPct >= minCpu (rows without a CPU figure are excluded). */
  minCpu?: number;
  /** Only rows produced on this host. */
  host?: string;
}

export interface LogQuery extends LogFilter {
  /** Page size; default 100, at most 1000. */
  limit?: number;
  /** Opaque keyset cursor from a previous page's `nextCursor` (preferred: stable under inserts). */
  cursor?: string;
  /** Rows to skip; ignored when `cursor` is given. */
  offset?: number;
}

export interface LogPage {
  /** Newest first (time, then id, descending). */
  items: StoredRecord[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface MemoryPoint {
  time: number;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  availableBytes: number | null;
}

export interface ContainerCountPoint {
  /** Start of the bucket, ms. */
  bucket: number;
  event: Extract<RecordKind, 'spawned' | 'killed'>;
  class: ContainerClass | null;
  count: number;
}

export interface KeptSnapshot {
  /** Time of the analysis the containers were kept at; null if there was none. */
  time: number | null;
  source: string | null;
  items: StoredRecord[];
}

export interface PurgeOutcome {
  records: number;
  sources: number;
  cutoff: number;
  at: number;
}

export interface StoreStats {
  sources: number;
  records: number;
  byKind: Record<RecordKind, number>;
}

export interface RecordStore {
  /** Where it lives (file path or URL), for logs. */
  readonly location: string;
  /**
   * Stores a batch atomically; a source seen before stores nothing. A
   * `killed` row (without killError) for a container that already has one is
   * skipped: a container is killed once, whoever reports it.
   */
  ingest(batch: RecordBatch): Promise<IngestOutcome>;
  hasSource(source: string): Promise<boolean>;
  /** One page of rows, newest first. */
  queryLogs(query: LogQuery): Promise<LogPage>;
  /** Every matching row, newest first, fetched in chunks (never holds the database between chunks). */
  exportLogs(filter: LogFilter): AsyncIterable<StoredRecord>;
  /** Host memory over [from, to], oldest first, averaged into at most `maxPoints` buckets; `host` limits it to one host. */
  memorySeries(from: number, to: number, maxPoints?: number, host?: string): Promise<MemoryPoint[]>;
  /** Spawned and killed containers per bucket (default one minute) and class; `host` limits it to one host. */
  containerCounts(from: number, to: number, bucketMs?: number, host?: string): Promise<ContainerCountPoint[]>;
  /** Killed containers in [from, to], newest first, at most `limit`, with the total count; `host` limits it to one host. */
  killedContainers(from: number, to: number, limit?: number, host?: string): Promise<{ items: StoredRecord[]; total: number }>;
  /** Containers kept at the last analysis at or before `at` (default: now); `host` picks that host's last analysis. */
  lastKept(at?: number, host?: string): Promise<KeptSnapshot>;
  /** Deletes sources and rows older than `cutoff` (every host's); records `now` as the last purge. */
  purgeOlderThan(cutoff: number, now: number): Promise<PurgeOutcome>;
  /**
   * Purges like purgeOlderThan unless a purge ran less than `minIntervalMs`
   * ago (by the time stored in the database, so every process agrees);
   * returns null when it was not due.
   */
  purgeIfDue(cutoff: number, now: number, minIntervalMs: number): Promise<PurgeOutcome | null>;
  lastPurgeAt(): Promise<number | null>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
