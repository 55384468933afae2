import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NewRecord, RecordStore } from '../plugins/shared/store/record-store.js';
import { PostgresRecordStore } from '../plugins/shared/store/postgres-record-store.js';
import { openRecordStore } from '../plugins/shared/store/sqlite-record-store.js';
import { TestPostgres } from '../test/support/postgres.js';
import { seedStore } from './logger-charts.bench.js';
import { record } from './report.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const HOUR = 3_600_000;
const STORED = 100_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** One analysis's records, as the logger stores them: 1 memory reading, 5 killed, 5 kept. */
function analysisRecords(i: number, t: number): NewRecord[] {
  return [
    { kind: 'memory', time: t, totalBytes: 16 * GIB, freeBytes: 4 * GIB, usedBytes: 12 * GIB, availableBytes: 6 * GIB },
    ...Array.from({ length: 10 }, (_, k): NewRecord => ({
      kind: k < 5 ? 'killed' : 'kept', time: t, containerId: `bench-${i}-${k}`, name: `tf-${i}-${k}`, image: 'tideflow/cpu-hog',
      class: k % 2 ? 'high' : 'low', cpuPct: (i * 7 + k) % 100, memBytes: (k + 1) * MIB, reason: 'bench',
    })),
  ];
}


/** µs per record of store.ingest of one analysis (11 records), median over `rounds`, with 100,000 stored. */
async function ingestPerRecord(store: RecordStore, now: number, rounds: number): Promise<number> {
  for (let i = 0; i < 20; i++) await store.ingest({ source: `warm-${i}`, sourceKind: 'analysis', workflow: 'bench', time: now, records: analysisRecords(1e6 + i, now) });
  const perRecord: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const records = analysisRecords(2e6 + i, now + i);
    const t0 = performance.now();
    const out = await store.ingest({ source: `measured-${i}`, sourceKind: 'analysis', workflow: 'bench', time: now + i, records });
    perRecord.push(((performance.now() - t0) * 1000) / out.count);
  }
  return median(perRecord);
}

/** ms of the four queries ChartsPlugin.renderAll makes (run together, as it does) over the last hour; median of `rounds`. */
async function allChartsQuery(store: RecordStore, now: number, rounds: number): Promise<number> {
  const from = now - HOUR;
  const once = () => Promise.all([store.memorySeries(from, now, 500), store.containerCounts(from, now, 60_000), store.killedContainers(from, now, 1000), store.lastKept(now)]);
  const [mem, counts, killed] = await once(); // warm-up, and a check that the queries see the data
  if (mem.length === 0 || counts.length === 0 || killed.total === 0) throw new Error(`bench store ${store.location} returned no chart data`);
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await once();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

async function measure(store: RecordStore): Promise<{ ingest: number; charts: number }> {
  const now = Date.now();
  // 100,000 records over the hour before `now`, in batches of 100 (not the measured path).
  await seedStore(store, STORED, now);
  const charts = await allChartsQuery(store, now, 15);
  const ingest = await ingestPerRecord(store, now + 1000, 300);
  return { ingest, charts };
}

/** Record store part of `npm run bench` (BENCH_ONLY=record-store): SQLite vs PostgreSQL at 100,000 records. */
export async function runRecordStoreBench(): Promise<void> {
  console.log('\nrecord store: SQLite vs PostgreSQL');
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-store-'));
  const sqliteStore = openRecordStore(dir);
  let sqlite: { ingest: number; charts: number };
  try {
    sqlite = await measure(sqliteStore);
  } finally {
    await sqliteStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // A private server with its defaults (fsync and synchronous_commit on), as Debian's package runs it.
  const server = await TestPostgres.start({ durable: true });
  let postgres: { ingest: number; charts: number };
  let postgresAsync: { ingest: number; charts: number };
  try {
    const onPostgres = async (url: string) => {
      const store = new PostgresRecordStore(url);
      try {
        return await measure(store);
      } finally {
        await store.close();
      }
    };
    postgres = await onPostgres(await server.createDatabase('tideflow_bench'));
    // synchronous_commit=off is SQLite's synchronous=NORMAL durability class: a
    // crash of the machine may lose the last commits, never corrupts.
    const asyncDb = await server.createDatabase('tideflow_bench_async');
    await server.admin(`ALTER DATABASE "${new URL(asyncDb).pathname.slice(1)}" SET synchronous_commit = off`);
    postgresAsync = await onPostgres(asyncDb);
  } finally {
    await server.stop();
  }
  const load = 'taken on a shared machine under load (7 helpers on 2 cores, one disk): compare the figures side by side, not with other runs';
  const ingestHow = 'median over 300 ingests of one analysis (11 records, one transaction) with RecordStore.ingest; baseline = SQLite file (WAL, synchronous=NORMAL); ratio = PostgreSQL / SQLite';
  record({
    name: 'record store ingest per record, 100,000 stored: PostgreSQL vs SQLite', value: postgres.ingest, unit: 'µs/record', baseline: sqlite.ingest, ratio: postgres.ingest / sqlite.ingest,
    note: `${ingestHow}; value = PostgreSQL 15 over loopback TCP with its defaults (fsync on, synchronous_commit on: each commit waits for a WAL flush to disk); ${load}`,
  });
  record({
    name: 'record store ingest per record, 100,000 stored: PostgreSQL (synchronous_commit=off) vs SQLite', value: postgresAsync.ingest, unit: 'µs/record', baseline: sqlite.ingest, ratio: postgresAsync.ingest / sqlite.ingest,
    note: `${ingestHow}; value = PostgreSQL with synchronous_commit=off, the same durability class as SQLite's synchronous=NORMAL (a power loss may drop the last commits, never corrupts); ${load}`,
  });
  record({
    name: 'all-charts query at 100,000 records: PostgreSQL vs SQLite', value: postgres.charts, unit: 'ms', baseline: sqlite.charts, ratio: postgres.charts / sqlite.charts,
    note: `median of 15 runs of the 4 queries ChartsPlugin.renderAll makes over the hour holding all 100,000 records (memory series, counts per minute, killed list, last kept), without rendering; value = PostgreSQL, baseline = SQLite; ratio = PostgreSQL / SQLite; ${load}`,
  });
}
