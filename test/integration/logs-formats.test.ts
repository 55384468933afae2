import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminErrorHandler } from '../../core/api/error-handler.js';
import { sharedSchemas } from '../../core/api/schemas.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { createContainer } from '../../core/di/container.js';
import { silentLogger } from '../../core/logging/logger.js';
import type { StoreStats } from '../../plugins/shared/store/record-store.js';
import { DB_FILE_NAME, openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import LoggerPluginClass from '../../plugins/logger/index.js';
import { CSV_HEADER } from '../../plugins/logger/logs-routes.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const TOKEN = 'logs-formats-token';
const auth = { authorization: `Bearer ${TOKEN}` };

async function loggerApp(dir: string, store: SqliteRecordStore): Promise<FastifyInstance> {
  const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
  const plugin = c.resolve(LoggerPluginClass);
  // As the admin app: strict ajv, its error handler and shared schemas, a requireAdmin decorator.
  const app = Fastify({ ajv: { customOptions: { removeAdditional: false } } });
  app.setErrorHandler(adminErrorHandler);
  for (const schema of sharedSchemas) app.addSchema(schema);
  app.decorate('requireAdmin', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (req.headers.authorization === `Bearer ${TOKEN}`) done();
    else void reply.status(401).send({ statusCode: 401, error: 'Unauthorized', message: 'token required' });
  });
  await app.register(plugin.routes!);
  await app.ready();
  return app;
}

function systemLog(time: string | number = '2026-11-21T08:00:00Z'): Record<string, any> {
  return {
    current_time: time,
    killed_containers: [{ pid: 51, container_id: 'abc123', name: 'hog', memory_usage: 5, cpu_usage: 95 }],
    high_consumption_containers: [{ PID: 52, Name: 'stress', Cmdline: null, MemoryUsage: 3, CPUUsage: 80 }],
    low_consumption_containers: [{ PID: 53, Name: 'sleep', MemoryUsage: 0.1, CPUUsage: 0 }],
    memory_info: { total_ram_kb: 8_000_000, free_ram_kb: 2_000_000, in_use_ram_kb: 6_000_000 },
  };
}

function ramKilled(): Record<string, any> {
  return {
    RAMmemory: [
      { totalram: 8_000_000, freeram: 3_000_000, usedram: 5_000_000, timestamp: '2026-11-21 09:00:00' },
      { totalram: 8_000_000, freeram: 2_500_000, usedram: 5_500_000, timestamp: '2026-11-21 09:00:05' },
    ],
    KilledProcesses: [
      { pid: 61, name: 'stress', container_id: 'def456', vsz: 20_000, rss: 12_000, memory_usage: 0.15, cpu_usage: 99.1, timestamp: '2026-11-21 09:00:04' },
    ],
  };
}

function processLog(): Record<string, any> {
  return {
    timestamp: '2026-11-21T09:30:00+01:00',
    process: { pid: 71, name: 'yes', cmd_line: 'yes', vsz: 5_000, rss: 1_000, memory_usage: 0.01, cpu_usage: 100 },
  };
}

describe('POST /logs: the three course daemon formats, detected by shape', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let app: FastifyInstance;
  let before: StoreStats;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-logs-formats-'));
    store = openRecordStore(dir);
    app = await loggerApp(dir, store);
  });
  beforeEach(async () => {
    before = await store.stats();
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (payload: unknown, url = '/logs') => app.inject({ method: 'POST', url, headers: auth, payload: payload as object });

  it('(a) SystemLog with "Cmdline": null (serde\'s empty Option) is stored once', async () => {
    const res = await post(systemLog());
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ stored: true, count: 4, format: 'system-log' });
    const kept = (await store.queryLogs({ kind: 'kept' })).items;
    expect(kept.find((r) => r.pid === 52)).toMatchObject({ cmdline: null, class: 'high', cpuPct: 80 });
    expect((await post(systemLog())).json()).toMatchObject({ stored: false, count: 0 });
    expect((await store.stats()).records).toBe(before.records + 4);
  });

  it('(b) RAMmemory + KilledProcesses: zone-less timestamps read as UTC, KiB to bytes, idempotent on resend', async () => {
    const res = await post(ramKilled());
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ stored: true, count: 3, format: 'ram-killed', source: expect.stringMatching(/^course:[0-9a-f]{32}$/) });
    const t = Date.parse('2026-11-21T09:00:00Z');
    expect(await store.memorySeries(t, t + 5000)).toEqual([
      { time: t, totalBytes: 8_000_000 * 1024, freeBytes: 3_000_000 * 1024, usedBytes: 5_000_000 * 1024, availableBytes: null },
      { time: t + 5000, totalBytes: 8_000_000 * 1024, freeBytes: 2_500_000 * 1024, usedBytes: 5_500_000 * 1024, availableBytes: null },
    ]);
    const killed = (await store.queryLogs({ kind: 'killed', from: t + 4000, to: t + 4000 })).items;
    expect(killed).toHaveLength(1);
    expect(killed[0]).toMatchObject({ pid: 61, containerId: 'def456', name: 'stress', memBytes: 12_000 * 1024, memPct: 0.15, cpuPct: 99.1 });
    const reordered = { KilledProcesses: ramKilled().KilledProcesses, RAMmemory: ramKilled().RAMmemory };
    const again = await post(reordered);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ stored: false, count: 0, source: res.json().source });
    expect((await store.stats()).records).toBe(before.records + 3);
  });

  it('(c) {timestamp, process} on POST /log (singular) and POST /logs, stored once', async () => {
    const res = await post(processLog(), '/log');
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ stored: true, count: 1, format: 'process' });
    const t = Date.parse('2026-11-21T08:30:00Z');
    expect((await store.queryLogs({ kind: 'killed', from: t, to: t })).items[0]).toMatchObject({ pid: 71, name: 'yes', cmdline: 'yes', memBytes: 1_024_000, cpuPct: 100 });
    const again = await post(processLog(), '/logs');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ stored: false, source: res.json().source });
    expect((await post(processLog(), '/log')).statusCode).toBe(200);
    expect((await store.stats()).records).toBe(before.records + 1);
    expect((await app.inject({ method: 'POST', url: '/log', payload: processLog() })).statusCode).toBe(401);
  });

  it('a body matching no format: 400 naming the accepted formats and the errors against the closest one; nothing stored', async () => {
    const b = ramKilled();
    b.KilledProcesses[0].rss = 'lots';
    const res = await post(b);
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.format).toBe('ram-killed');
    expect(body.acceptedFormats).toHaveLength(3);
    expect(body.acceptedFormats.join(' ')).toMatch(/SystemLog.*RAMmemory.*process/);
    expect(body.errors.map((e: { path: string }) => e.path)).toContain('/body/KilledProcesses/0/rss');
    expect(body.message).toContain('/body/KilledProcesses/0/rss');

    const proc = processLog();
    delete proc.process.pid;
    const p = await post(proc, '/log');
    expect(p.json()).toMatchObject({ format: 'process', path: '/body/process/pid' });

    const none = await post({ hello: 'world' });
    expect(none.statusCode).toBe(400);
    expect(none.json().acceptedFormats).toHaveLength(3);
    expect(await store.stats()).toEqual(before);
  });

  const now = Date.now();
  const outOfRange: Array<[string, () => unknown, string]> = [
    ['current_time 1e308', () => systemLog(1e308), '/body/current_time'],
    ['current_time 1e20', () => systemLog(1e20), '/body/current_time'],
    ['current_time 9e15', () => systemLog(9e15), '/body/current_time'],
    ['current_time two days ahead', () => systemLog(new Date(now + 2 * 86_400_000).toISOString()), '/body/current_time'],
    ['current_time in 1970', () => systemLog(0), '/body/current_time'],
    ['current_time year 9999', () => systemLog('9999-12-31T23:59:59Z'), '/body/current_time'],
    ['cpu_usage 1e308', () => { const b = systemLog(); b.killed_containers[0].cpu_usage = 1e308; return b; }, '/body/killed_containers/0/cpu_usage'],
    ['pid 1e20', () => { const b = systemLog(); b.killed_containers[0].pid = 1e20; return b; }, '/body/killed_containers/0/pid'],
    ['total_ram_kb 1e300', () => { const b = systemLog(); b.memory_info.total_ram_kb = 1e300; return b; }, '/body/memory_info/total_ram_kb'],
    ['(b) timestamp far ahead', () => { const b = ramKilled(); b.RAMmemory[1].timestamp = '2999-01-01 00:00:00'; return b; }, '/body/RAMmemory/1/timestamp'],
    ['(b) negative rss', () => { const b = ramKilled(); b.KilledProcesses[0].rss = -1; return b; }, '/body/KilledProcesses/0/rss'],
    ['(b) usedram above totalram', () => { const b = ramKilled(); b.RAMmemory[0].usedram = 9_000_000; return b; }, '/body/RAMmemory/0/usedram'],
    ['(c) timestamp 1e308', () => ({ ...processLog(), timestamp: 1e308 }), '/body/timestamp'],
    ['(c) memory_usage 101', () => { const b = processLog(); b.process.memory_usage = 101; return b; }, '/body/process/memory_usage'],
  ];

  it.each(outOfRange)('400 for %s; nothing stored', async (_what, make, expectedPath) => {
    const res = await post(make());
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(expectedPath);
    expect(await store.stats()).toEqual(before);
  });
});

describe('reads survive odd stored records', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-logs-odd-'));
    store = openRecordStore(dir);
    app = await loggerApp(dir, store);
    const t = Date.UTC(2026, 10, 21, 12);
    // Through the store's public API: a spreadsheet formula as a name (the store now refuses times outside a date's range).
    await store.ingest({
      source: 'odd-api', sourceKind: 'course', workflow: null, time: t,
      records: [{ kind: 'kept', time: t, containerId: 'c2', name: '+cmd|calc', cmdline: '@SUM(A1)', reason: '-2+3', class: 'high', cpuPct: 1, memBytes: 2 }],
    });
    // What an older tideflow accepted from POST /logs and stored: times and numbers far out of range.
    const older = new Database(path.join(dir, DB_FILE_NAME));
    older.prepare(`INSERT INTO sources (source, kind, workflow, time, ingested_at, record_count) VALUES ('odd-old', 'course', NULL, 0, 0, 2)`).run();
    older
      .prepare(
        `INSERT INTO records (source, kind, time, container_id, name, cpu_pct, mem_bytes, total_bytes, free_bytes, used_bytes) VALUES
         ('odd-old', 'memory', 1e308, NULL, NULL, NULL, NULL, 1e308, 0, 1e308),
         ('odd-old', 'killed', 9e15, 'c0', 'far future', 1, 1, NULL, NULL, NULL),
         ('odd-old', 'killed', ${t + 1000}, 'c1', '=HYPERLINK("http://x.invalid","click")', -5, 1, NULL, NULL, NULL)`,
      )
      .run();
    older.close();
    // Straight into the SQLite file, past every check the store makes: values of the wrong type.
    const raw = new Database(path.join(dir, DB_FILE_NAME));
    raw.prepare(`INSERT INTO sources (source, kind, workflow, time, ingested_at, record_count) VALUES ('odd-raw', 'course', NULL, 0, 0, 2)`).run();
    raw
      .prepare(
        `INSERT INTO records (source, kind, time, name, pid, cpu_pct, mem_bytes, total_bytes) VALUES
         ('odd-raw', 'killed', 'not a time', X'DEADBEEF', 'pid?', 'hot', 1.5e300, NULL),
         ('odd-raw', 'killed', ${t + 2000}, X'DEADBEEF', 'pid?', 'hot', 1.5e300, NULL),
         ('odd-raw', 'memory', -8.64e15 - 1, NULL, 2.5, NULL, NULL, 'lots')`,
      )
      .run();
    raw.close();
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/logs answers 200; rows whose time is no date are left out by the store, fields that do not fit are left out and named', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/logs?limit=1000' });
    expect(res.statusCode, res.body).toBe(200);
    const items = res.json().items as Array<Record<string, any>>;
    // 1e308, 9e15 (past a JS date), 'not a time' and -8.64e15-1 are skipped (and logged once by the store).
    expect(items.map((r) => r.source).sort()).toEqual(['odd-api', 'odd-old', 'odd-raw']);
    const text = items.find((r) => r.source === 'odd-raw')!;
    // Text in number columns is read as no value.
    expect(text).not.toHaveProperty('pid');
    expect(text).not.toHaveProperty('cpuPct');
    expect(text.at).toBe('2026-11-21T12:00:02.000Z');
    expect(items.find((r) => r.name === '+cmd|calc')).toMatchObject({ at: '2026-11-21T12:00:00.000Z' });
    for (const qs of ['kind=memory', 'kind=killed', 'limit=1', `from=${Date.UTC(2026, 0, 1)}`]) {
      expect((await app.inject({ method: 'GET', url: `/api/logs?${qs}` })).statusCode, qs).toBe(200);
    }
  });

  it('both exports answer with every row', async () => {
    const json = await app.inject({ method: 'GET', url: '/api/logs/export?format=json' });
    expect(json.statusCode).toBe(200);
    expect(JSON.parse(json.body)).toHaveLength(3);
    const csv = await app.inject({ method: 'GET', url: '/api/logs/export?format=csv' });
    expect(csv.statusCode).toBe(200);
    const lines = csv.body.trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines).toHaveLength(4);
  });

  it('CSV cells starting with = + - @ are neutralised (OWASP CSV injection); numbers stay numbers', async () => {
    const csv = (await app.inject({ method: 'GET', url: '/api/logs/export?format=csv' })).body;
    expect(csv).toContain(`"'=HYPERLINK(""http://x.invalid"",""click"")"`);
    expect(csv).toContain(`"'+cmd|calc"`);
    expect(csv).toContain(`"'@SUM(A1)"`);
    expect(csv).toContain(`"'-2+3"`);
    // No cell of the export starts with a formula character unless it is a number.
    const cells = csv.split('\n').slice(1).flatMap((l) => l.split(','));
    for (const cell of cells) {
      if (/^[=+\-@\t\r]/.test(cell)) expect(Number.isFinite(Number(cell)), cell).toBe(true);
    }
    expect(csv).toMatch(/,-5,/); // cpuPct -5 is a number, left as is
  });
});
