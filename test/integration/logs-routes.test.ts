import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { adminErrorHandler } from '../../core/api/error-handler.js';
import { sharedSchemas } from '../../core/api/schemas.js';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import type { StoreStats } from '../../plugins/shared/store/record-store.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import LoggerPluginClass from '../../plugins/logger/index.js';
import { CSV_HEADER } from '../../plugins/logger/logs-routes.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const TOKEN = 'test-admin-token';
const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
const MIN = 60_000;
const auth = { authorization: `Bearer ${TOKEN}` };

/** A valid course-project body (2 killed, 2 high, 3 low). */
function courseBody(time: string | number = '2026-11-20T11:00:00Z'): Record<string, any> {
  return {
    current_time: time,
    killed_containers: [
      { pid: 4242, container_id: 'c0ffee000001', name: 'stress_high_3', memory_usage: 12.5, cpu_usage: 88.2 },
      { pid: 4243, container_id: 'c0ffee000002', name: 'sleep_low_9', memory_usage: 0.4, cpu_usage: 0.1 },
    ],
    high_consumption_containers: [
      { PID: 100, Name: 'stress', Cmdline: 'stress --cpu 1', MemoryUsage: 25, CPUUsage: 99.5 },
      { PID: 101, Name: 'stress', Cmdline: 'stress --vm 1', MemoryUsage: 10, CPUUsage: 50 },
    ],
    low_consumption_containers: [
      { PID: 200, Name: 'sleep', Cmdline: 'sleep 3600', MemoryUsage: 0.1, CPUUsage: 0 },
      { PID: 201, Name: 'sleep', Cmdline: 'sleep 3600', MemoryUsage: 0.1, CPUUsage: 0 },
      { PID: 202, Name: 'sleep', Cmdline: 'sleep 3600', MemoryUsage: 0.1, CPUUsage: 0.2 },
    ],
    memory_info: { total_ram_kb: 16_000_000, free_ram_kb: 4_000_000, in_use_ram_kb: 12_000_000 },
  };
}

describe('logger routes (Fastify in-process)', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-logs-routes-'));
    store = openRecordStore(dir);
    const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
    const plugin = c.resolve(LoggerPluginClass);

    // The same shape as the admin app: strict ajv, its error handler and shared schemas, a requireAdmin decorator, OpenAPI,
    // plugin routes encapsulated without prefix.
    app = Fastify({ ajv: { customOptions: { removeAdditional: false } } });
    app.setErrorHandler(adminErrorHandler);
    for (const schema of sharedSchemas) app.addSchema(schema);
    app.decorate('requireAdmin', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      if (req.headers.authorization === `Bearer ${TOKEN}`) done();
      else void reply.status(401).send({ statusCode: 401, error: 'Unauthorized', message: 'token required' });
    });
    await app.register(swagger, { openapi: { openapi: '3.0.3', info: { title: 't', version: '0' } } });
    await app.register(plugin.routes!);
    await app.ready();

    // Fixed data: per minute i, an analysis (memory, 1 high + 1 low killed, 1 kept) and a spawn of 2.
    for (let i = 0; i < 30; i++) {
      const t = T0 + i * MIN;
      await store.ingest({
        source: `an-${i}`, sourceKind: 'analysis', workflow: 'wf', time: t,
        records: [
          { kind: 'memory', time: t, totalBytes: 8e9, freeBytes: 2e9 + i, usedBytes: 6e9, availableBytes: 3e9 },
          { kind: 'killed', time: t, containerId: `h${i}`, name: `hog, "quoted" ${i}`, image: 'img', class: 'high', cpuPct: 3 * i, memBytes: 1e6, reason: 'surplus' },
          { kind: 'killed', time: t, containerId: `l${i}`, name: `low-${i}`, image: 'img', class: 'low', cpuPct: 0.5, memBytes: 2e5, reason: 'surplus' },
          { kind: 'kept', time: t, containerId: `k${i}`, name: `kept-${i}`, image: 'img', class: 'high', cpuPct: 90, memBytes: 1e7, reason: 'top' },
        ],
      });
      await store.ingest({
        source: `sp-${i}`, sourceKind: 'spawn', workflow: 'wf', time: t + 1,
        records: [0, 1].map((j) => ({ kind: 'spawned' as const, time: t + 1, containerId: `s${i}-${j}`, name: `s${i}-${j}`, image: 'img', class: j ? ('low' as const) : ('high' as const) })),
      });
    }
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('GET /api/logs', () => {
    it('returns JSON newest first with a default page of 100 and a next cursor', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/logs' });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.limit).toBe(100);
      expect(body.items).toHaveLength(100);
      const times = body.items.map((r: { time: number }) => r.time);
      expect(times).toEqual([...times].sort((a: number, b: number) => b - a));
      expect(body.items[0]).toMatchObject({ kind: 'spawned', time: T0 + 29 * MIN + 1, at: new Date(T0 + 29 * MIN + 1).toISOString(), source: 'sp-29' });
      expect(body.items[0]).not.toHaveProperty('cpuPct'); // absent fields are left out, not null
      expect(typeof body.nextCursor).toBe('string');
    });

    it('filters by kind, class, minCpu, from and to', async () => {
      const q = async (qs: string) => {
        const res = await app.inject({ method: 'GET', url: `/api/logs?${qs}` });
        expect(res.statusCode, res.body).toBe(200);
        return res.json().items as Array<Record<string, any>>;
      };
      const killedHigh = await q('kind=killed&class=high&limit=1000');
      expect(killedHigh).toHaveLength(30);
      expect(killedHigh.every((r) => r.kind === 'killed' && r.class === 'high')).toBe(true);

      const hot = await q('kind=killed&minCpu=75');
      expect(hot.map((r) => r.containerId)).toEqual(['h29', 'h28', 'h27', 'h26', 'h25']);

      const iso = await q(`kind=memory&from=${new Date(T0 + 10 * MIN).toISOString()}&to=${new Date(T0 + 12 * MIN).toISOString()}`);
      expect(iso.map((r) => r.time)).toEqual([T0 + 12 * MIN, T0 + 11 * MIN, T0 + 10 * MIN]);
      expect(iso[0]).toMatchObject({ totalBytes: 8e9, freeBytes: 2e9 + 12, usedBytes: 6e9, availableBytes: 3e9 });
      const ms = await q(`kind=memory&from=${T0 + 10 * MIN}&to=${T0 + 12 * MIN}`);
      expect(ms.map((r) => r.time)).toEqual(iso.map((r) => r.time));

      expect(await q('kind=spawned&class=low&limit=1000')).toHaveLength(30);
      expect(await q('kind=kept&limit=3')).toHaveLength(3);
    });

    it('pages with cursor and offset', async () => {
      const ids: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { json(): any } = await app.inject({ method: 'GET', url: `/api/logs?kind=killed&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
        const body: { items: Array<{ id: number }>; nextCursor: string | null } = res.json();
        ids.push(...body.items.map((r: { id: number }) => r.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(Math.ceil(60 / 7));
      expect(new Set(ids).size).toBe(60);
      const all = (await app.inject({ method: 'GET', url: '/api/logs?kind=killed&limit=1000' })).json().items.map((r: { id: number }) => r.id);
      expect(ids).toEqual(all);
      const off = (await app.inject({ method: 'GET', url: '/api/logs?kind=killed&limit=5&offset=10' })).json().items.map((r: { id: number }) => r.id);
      expect(off).toEqual(all.slice(10, 15));
    });

    it('rejects bad query parameters with 400', async () => {
      for (const qs of ['kind=zombie', 'class=medium', 'minCpu=-1', 'minCpu=lots', 'limit=0', 'limit=5000', 'offset=-3', 'colour=red']) {
        const res = await app.inject({ method: 'GET', url: `/api/logs?${qs}` });
        expect(res.statusCode, qs).toBe(400);
      }
      const from = await app.inject({ method: 'GET', url: '/api/logs?from=yesterday' });
      expect(from.statusCode).toBe(400);
      expect(from.json().path).toBe('/querystring/from');
      const cursor = await app.inject({ method: 'GET', url: '/api/logs?cursor=bm9wZQ' });
      expect(cursor.statusCode).toBe(400);
      expect(cursor.json().path).toBe('/querystring/cursor');
    });
  });

  describe('GET /api/logs/export', () => {
    it('streams CSV with a header and proper quoting', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/logs/export?format=csv&kind=killed&class=high' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.headers['content-disposition']).toMatch(/attachment; filename="tideflow-logs-.*\.csv"/);
      const lines = res.body.trimEnd().split('\n');
      expect(lines[0]).toBe(CSV_HEADER);
      expect(lines).toHaveLength(31);
      const header = lines[0]!.split(',');
      expect(lines[1]).toContain('"hog, ""quoted"" 29"');
      expect(lines[1]!.startsWith(`${lines[1]!.split(',')[0]},${T0 + 29 * MIN},`)).toBe(true);
      expect(header).toContain('cpu_pct');
    });

    it('streams JSON (default) as one array, newest first, with the filters applied', async () => {
      const res = await app.inject({ method: 'GET', url: `/api/logs/export?kind=memory&from=${T0 + 20 * MIN}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const rows = JSON.parse(res.body) as Array<{ kind: string; time: number }>;
      expect(rows).toHaveLength(10);
      expect(rows[0]!.time).toBe(T0 + 29 * MIN);
      expect(rows.every((r) => r.kind === 'memory')).toBe(true);
      const all = JSON.parse((await app.inject({ method: 'GET', url: '/api/logs/export?format=json' })).body) as unknown[];
      expect(all).toHaveLength(30 * 6);
      const none = await app.inject({ method: 'GET', url: '/api/logs/export?format=json&kind=memory&from=9999999999999' });
      expect(JSON.parse(none.body)).toEqual([]);
      expect((await app.inject({ method: 'GET', url: '/api/logs/export?format=xml' })).statusCode).toBe(400);
    });
  });

  describe('POST /logs (course project format)', () => {
    let before: StoreStats;
    beforeEach(async () => {
      before = await store.stats();
    });

    it('stores a valid body in the same tables, converting units, once', async () => {
      const body = courseBody();
      const res = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: body });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ stored: true, count: 1 + 2 + 5 });
      const source = res.json().source as string;
      expect(source).toMatch(/^course:[0-9a-f]{32}$/);
      const t = Date.parse('2026-11-20T11:00:00Z');
      const killed = (await store.queryLogs({ kind: 'killed', from: t, to: t })).items;
      expect(killed.find((r) => r.containerId === 'c0ffee000001')).toMatchObject({
        source, pid: 4242, name: 'stress_high_3', cpuPct: 88.2, memPct: 12.5, memBytes: Math.round(0.125 * 16_000_000 * 1024), class: null,
      });
      const kept = await store.lastKept(t);
      expect(kept.source).toBe(source);
      expect(kept.items.filter((r) => r.class === 'high')).toHaveLength(2);
      expect(kept.items.filter((r) => r.class === 'low')).toHaveLength(3);
      expect(kept.items.find((r) => r.pid === 100)).toMatchObject({ cmdline: 'stress --cpu 1', cpuPct: 99.5, memBytes: Math.round(0.25 * 16_000_000 * 1024) });
      expect((await store.memorySeries(t, t))[0]).toEqual({ time: t, totalBytes: 16_000_000 * 1024, freeBytes: 4_000_000 * 1024, usedBytes: 12_000_000 * 1024, availableBytes: null });

      // The daemon resending the same log (keys in another order) stores nothing twice.
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const again = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: reordered });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ stored: false, count: 0, source, format: 'system-log' });
      expect((await store.stats()).records).toBe(before.records + 8);

      // Epoch seconds and a zone-less "YYYY-MM-DD HH:MM:SS" (UTC) are times too.
      const epoch = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: courseBody(1_795_000_000) });
      expect(epoch.statusCode).toBe(201);
      expect((await store.memorySeries(1_795_000_000_000, 1_795_000_000_000))).toHaveLength(1);
      const spaced = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: courseBody('2026-11-20 11:30:00') });
      expect(spaced.statusCode).toBe(201);
      expect(await store.memorySeries(Date.parse('2026-11-20T11:30:00Z'), Date.parse('2026-11-20T11:30:00Z'))).toHaveLength(1);
    });

    const malformed: Array<[string, () => unknown, string]> = [
      ['empty object', () => ({}), '/body/current_time'],
      ['current_time not a time', () => ({ ...courseBody(), current_time: 'yesterday' }), '/body/current_time'],
      ['killed_containers not an array', () => ({ ...courseBody(), killed_containers: 'none' }), '/body/killed_containers'],
      ['pid is a string', () => { const b = courseBody(); b.killed_containers[0].pid = 'abc'; return b; }, '/body/killed_containers/0/pid'],
      ['negative cpu_usage', () => { const b = courseBody(); b.killed_containers[1].cpu_usage = -5; return b; }, '/body/killed_containers/1/cpu_usage'],
      ['memory_usage above 100%', () => { const b = courseBody(); b.killed_containers[0].memory_usage = 150; return b; }, '/body/killed_containers/0/memory_usage'],
      ['high entry without PID', () => { const b = courseBody(); delete b.high_consumption_containers[0].PID; return b; }, '/body/high_consumption_containers/0/PID'],
      ['low MemoryUsage as text', () => { const b = courseBody(); b.low_consumption_containers[2].MemoryUsage = '12%'; return b; }, '/body/low_consumption_containers/2/MemoryUsage'],
      ['memory_info without total', () => { const b = courseBody(); delete b.memory_info.total_ram_kb; return b; }, '/body/memory_info/total_ram_kb'],
      ['free RAM above total', () => { const b = courseBody(); b.memory_info.free_ram_kb = 99_000_000; return b; }, '/body/memory_info/free_ram_kb'],
      ['an array instead of an object', () => [courseBody()], '/body'],
    ];

    it.each(malformed)('400 for %s, naming %s... and stores nothing', async (_what, make, expectedPath) => {
      const res = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: make() as object });
      expect(res.statusCode, res.body).toBe(400);
      const body = res.json();
      expect(body.errors.map((e: { path: string }) => e.path)).toContain(expectedPath);
      expect(body.path).toBe(body.errors[0].path);
      expect(body.message).toContain(body.errors[0].path);
      expect(await store.stats()).toEqual(before);
    });

    it('lists every field at fault, not just the first', async () => {
      const b = courseBody();
      b.killed_containers[0].pid = -1;
      b.low_consumption_containers[0].CPUUsage = 'x';
      delete b.memory_info;
      const res = await app.inject({ method: 'POST', url: '/logs', headers: auth, payload: b });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(
        expect.arrayContaining(['/body/killed_containers/0/pid', '/body/low_consumption_containers/0/CPUUsage', '/body/memory_info']),
      );
      expect(await store.stats()).toEqual(before);
    });

    it('400 for a body that is not JSON, 401 without the admin token; nothing stored', async () => {
      const bad = await app.inject({ method: 'POST', url: '/logs', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"current_time": ' });
      expect(bad.statusCode).toBe(400);
      const anon = await app.inject({ method: 'POST', url: '/logs', payload: courseBody('2026-11-20T11:45:00Z') });
      expect(anon.statusCode).toBe(401);
      expect(await store.stats()).toEqual(before);
    });
  });

  it('with TIDEFLOW_OPEN_LOG_INGEST=1 an unmodified course daemon posts without a token', async () => {
    const openDir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-logs-open-'));
    const openStore = openRecordStore(openDir);
    const c = createContainer({ config: loadEngineConfig({ dataDir: openDir }, { TIDEFLOW_OPEN_LOG_INGEST: '1' }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, openStore]] });
    const plugin = c.resolve(LoggerPluginClass);
    const open = Fastify();
    open.setErrorHandler(adminErrorHandler);
    for (const schema of sharedSchemas) open.addSchema(schema);
    open.decorate('requireAdmin', (_req: FastifyRequest, reply: FastifyReply) => void reply.status(401).send({ message: 'token required' }));
    await open.register(plugin.routes!);
    const res = await open.inject({ method: 'POST', url: '/logs', payload: courseBody('2026-11-20T11:45:00Z') });
    expect(res.statusCode).toBeLessThan(300);
    expect((await openStore.stats()).records).toBeGreaterThan(0);
    await open.close();
    await openStore.close();
  });

  it('will not register without the host\'s requireAdmin decorator, even with open ingest (never fails open)', async () => {
    for (const openLogIngest of [false, true]) {
      const c = createContainer({ config: loadEngineConfig({ dataDir: dir }, openLogIngest ? { TIDEFLOW_OPEN_LOG_INGEST: '1' } : {}), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
      const plugin = c.resolve(LoggerPluginClass);
      const missing = "The decorator 'requireAdmin' required by 'tideflow-logger-routes' is not present in Fastify";
      // Called on a child context, as the admin app does, or registered as a Fastify plugin: both fail at ready().
      const called = Fastify();
      await expect(called.register(async (child) => plugin.routes!(child, {})).ready()).rejects.toThrow(missing);
      const registered = Fastify();
      await expect(registered.register(plugin.routes!).ready()).rejects.toThrow(missing);
      for (const bare of [called, registered]) await bare.close().catch(() => undefined);
    }
  });

  it('filters by the host that stored the records (several hosts, one store)', async () => {
    await store.ingest({
      source: 'other-host-1', sourceKind: 'spawn', workflow: 'wf-b', time: T0, host: 'host-b',
      records: [{ kind: 'spawned', time: T0, containerId: 'b-1', name: 'b-1', image: 'img', class: 'low' }],
    });
    const onB = await app.inject({ method: 'GET', url: '/api/logs?host=host-b' });
    expect(onB.statusCode, onB.body).toBe(200);
    expect(onB.json().items.map((r: { containerId: string; host: string }) => [r.containerId, r.host])).toEqual([['b-1', 'host-b']]);
    const elsewhere = await app.inject({ method: 'GET', url: '/api/logs?host=host-b&kind=killed' });
    expect(elsewhere.json().items).toEqual([]);
    expect((await app.inject({ method: 'GET', url: '/api/logs?host=bad%20host' })).statusCode).toBe(400);
  });

  it('documents its routes in OpenAPI under the logs tag', () => {
    const doc = app.swagger() as { paths: Record<string, Record<string, { tags?: string[] }>> };
    expect(doc.paths['/api/logs']!.get!.tags).toEqual(['logs']);
    expect(doc.paths['/api/logs/export']!.get!.tags).toEqual(['logs']);
    expect(doc.paths['/logs']!.post!.tags).toEqual(['logs']);
  });
});
