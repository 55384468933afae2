import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import ChartsPluginClass from '../../plugins/charts/index.js';
import type { ChartsPlugin } from '../../plugins/charts/charts-plugin.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

describe('charts routes (Fastify in-process)', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let plugin: ChartsPlugin;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-charts-routes-'));
    store = openRecordStore(dir);
    const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), extra: [[SharedTokens.RecordStore, store]] });
    plugin = c.resolve(ChartsPluginClass);
    app = Fastify();
    await app.register(plugin.routes!);
    await app.ready();
    // Files a traversal would be after: the database and a secret beside the charts folder.
    mkdirSync(path.join(dir, 'charts'), { recursive: true });
    writeFileSync(path.join(dir, 'secret.png'), 'top secret');
    writeFileSync(path.join(dir, 'charts', 'stray.png'), 'not a chart');
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists nothing before the first render, and 404s for charts not rendered yet', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/charts' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ charts: [] });
    expect((await app.inject({ method: 'GET', url: '/charts/memory.png' })).statusCode).toBe(404);
  });

  it('lists rendered charts with time and size, and serves PNG, SVG and the spec', async () => {
    const before = Date.now();
    const out = await plugin.renderAll({ charts: ['memory', 'live'] });
    const res = await app.inject({ method: 'GET', url: '/api/charts' });
    const { charts } = res.json() as { charts: Array<Record<string, any>> };
    expect(charts.map((c) => c.name)).toEqual(['memory', 'live']);
    const memory = charts[0]!;
    expect(memory).toMatchObject({
      title: 'Host memory: used and free',
      png: { url: '/charts/memory.png', bytes: out.charts[0]!.bytes },
      svg: { url: '/charts/memory.svg' },
      spec: { url: '/charts/memory.json' },
    });
    expect(memory.time).toBeGreaterThanOrEqual(before - 1000);
    expect(new Date(memory.at).getTime()).toBeCloseTo(memory.time, -3);

    const png = await app.inject({ method: 'GET', url: '/charts/memory.png' });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.equals(readFileSync(path.join(dir, 'charts', 'memory.png')))).toBe(true);

    const svg = await app.inject({ method: 'GET', url: '/charts/memory.svg' });
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['content-security-policy']).toContain("default-src 'none'");
    expect(svg.body).toContain('<svg');

    const spec = await app.inject({ method: 'GET', url: '/charts/live.json' });
    expect(spec.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(spec.body).$schema).toMatch(/vega-lite/);
  });

  it('404s for unknown names, other extensions and path tricks', async () => {
    const urls = [
      '/charts/unknown.png',
      '/charts/stray.png',
      '/charts/Memory.png',
      '/charts/memory.PNG',
      '/charts/memory.gif',
      '/charts/memory',
      '/charts/memory.png.bak',
      '/charts/memory.vl.json',
      '/charts/.memory.png',
      '/charts/..%2Fsecret.png',
      '/charts/..%2F..%2Fetc%2Fpasswd',
      '/charts/%2e%2e%2ftideflow.db',
      '/charts/..%5Csecret.png',
      '/charts/memory.png%00.txt',
      '/charts/memory.png%2F..%2F..%2Fsecret.png',
      '/charts/../secret.png',
      '/charts/./memory.png/../../secret.png',
      '/charts/',
      '/charts/%20memory.png',
      `/charts/${'a'.repeat(90)}.png`,
      `/charts/${'..%2F'.repeat(15)}etc%2Fpasswd`,
    ];
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).not.toContain('top secret');
      expect(res.body, url).not.toContain('not a chart');
    }
    // Past Fastify's maxParamLength (100) the server answers 414 before any handler runs.
    const long = await app.inject({ method: 'GET', url: `/charts/${'..%2F'.repeat(60)}secret.png` });
    expect([404, 414]).toContain(long.statusCode);
    expect(long.body).not.toContain('top secret');
  });
});
