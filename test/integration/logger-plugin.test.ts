import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import type { PluginContext } from '../../core/plugin/plugin.js';
import type { AnalysisResult, SpawnResult } from '../../plugins/shared/records/container-records.js';
import { openRecordStore, type SqliteRecordStore } from '../../plugins/shared/store/sqlite-record-store.js';
import LoggerPluginDefault, { LoggerConfigSchema, type LoggerConfig } from '../../plugins/logger/index.js';
import type { LoggerPlugin } from '../../plugins/logger/logger-plugin.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);

function spawnResult(runId: string, time: number, n = 3): SpawnResult {
  return {
    kind: 'spawn', runId, workflow: 'container-lifecycle', time, skipped: null, durationMs: 1500,
    created: Array.from({ length: n }, (_, i) => ({ id: `${runId}-${i}`.padEnd(64, '0'), name: `tf-${runId}-${i}`, image: i % 2 ? 'tideflow/sleeper' : 'tideflow/cpu-hog', class: i % 2 ? 'low' : 'high' })),
  };
}

function analysisResult(runId: string, time: number, dryRun = false): AnalysisResult {
  return {
    kind: 'analysis', runId, workflow: 'container-lifecycle', time, dryRun, metricSource: 'cgroup', durationMs: 1000,
    hostMemory: { totalBytes: 16e9, freeBytes: 4e9, availableBytes: 8e9, usedBytes: 12e9 },
    containers: [
      { id: 'a', name: 'hog-1', image: 'tideflow/cpu-hog', class: 'high', classSource: 'label', cpuPct: 95, memBytes: 2e6, decision: 'kept', reason: 'top 2 high' },
      { id: 'b', name: 'hog-2', image: 'tideflow/cpu-hog', class: 'high', classSource: 'label', cpuPct: 40, memBytes: 3e6, decision: 'killed', reason: 'surplus high' },
      { id: 'c', name: 'sleep-1', image: 'tideflow/sleeper', class: 'low', classSource: 'label', cpuPct: null, memBytes: null, decision: 'killed', reason: 'surplus low', killError: 'no such container' },
      { id: 'd', name: 'keep-me', image: 'tideflow/sleeper', class: 'low', classSource: 'label', cpuPct: 0.1, memBytes: 1e6, decision: 'protected', reason: 'label tideflow.protected' },
    ],
  };
}

describe('logger plugin (resolved through the DI container, real SQLite)', () => {
  let dir: string;
  let store: SqliteRecordStore;
  let clock: { t: number; now(): number };
  let plugin: LoggerPlugin;
  let config: LoggerConfig;

  const ctx = (runId: string, attempt = 1): PluginContext<LoggerConfig> => ({
    config, runId, workflow: 'container-lifecycle', job: 'log', trigger: 'chain', attempt,
    signal: new AbortController().signal, log: silentLogger(),
  });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-logger-'));
    store = openRecordStore(dir);
    clock = { t: NOW, now() { return this.t; } };
    const c = createContainer({ config: loadEngineConfig({ dataDir: dir }), logger: silentLogger(), clock, extra: [[SharedTokens.RecordStore, store]] });
    plugin = c.resolve(LoggerPluginDefault);
    // The log job of the built-in workflow has no config: the schema's defaults must do.
    config = Value.Default(LoggerConfigSchema, {}) as LoggerConfig;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('declares its contract', () => {
    expect(LoggerPluginDefault.manifest.name).toBe('logger');
    expect(config).toEqual({ retention: '7d', purgeEvery: '1h' });
    expect(typeof plugin.routes).toBe('function');
  });

  it('stores a spawn result once, keyed by the producing run id', async () => {
    const input = spawnResult('spawn-run-1', NOW - 1000);
    const first = await plugin.run(input, ctx('log-run-1'));
    expect(first).toMatchObject({ source: 'spawn-run-1', inputKind: 'spawn', stored: true, records: 3 });
    // A retry of the log job, and a duplicate log job for the same spawn run, store nothing.
    expect(await plugin.run(input, ctx('log-run-1', 2))).toMatchObject({ stored: false, records: 0 });
    expect(await plugin.run(input, ctx('log-run-2'))).toMatchObject({ stored: false, records: 0 });
    const page = await store.queryLogs({ kind: 'spawned' });
    expect(page.items).toHaveLength(3);
    expect(page.items[0]).toMatchObject({ source: 'spawn-run-1', workflow: 'container-lifecycle', time: NOW - 1000 });
    expect(page.items.map((r) => r.class).sort()).toEqual(['high', 'high', 'low']);
  });

  it('stores host memory, killed and kept containers of an analysis', async () => {
    expect(await plugin.run(analysisResult('an-1', NOW), ctx('log-a'))).toMatchObject({ inputKind: 'analysis', stored: true, records: 5 });
    const stats = await store.stats();
    expect(stats.byKind).toEqual({ spawned: 0, killed: 2, kept: 2, memory: 1 });
    const killed = (await store.queryLogs({ kind: 'killed' })).items;
    expect(killed.find((r) => r.name === 'hog-2')).toMatchObject({ cpuPct: 40, memBytes: 3e6, reason: 'surplus high', class: 'high', containerId: 'b' });
    expect(killed.find((r) => r.name === 'sleep-1')).toMatchObject({ cpuPct: null, memBytes: null, killError: 'no such container' });
    const kept = await store.lastKept(NOW);
    expect(kept.items.map((r) => r.name).sort()).toEqual(['hog-1', 'keep-me']);
    expect(kept.items.find((r) => r.name === 'keep-me')!.reason).toMatch(/^protected/);
    const mem = await store.memorySeries(NOW - HOUR, NOW);
    expect(mem).toEqual([{ time: NOW, totalBytes: 16e9, freeBytes: 4e9, usedBytes: 12e9, availableBytes: 8e9 }]);
  });

  it('a dry-run analysis kills nobody, so nothing is stored as killed', async () => {
    await plugin.run(analysisResult('an-dry', NOW, true), ctx('log-dry'));
    const stats = await store.stats();
    expect(stats.byKind.killed).toBe(0);
    expect(stats.byKind.kept).toBe(4);
    expect((await store.queryLogs({ kind: 'kept', class: 'high' })).items.map((r) => r.reason)).toContain('dry run, would kill: surplus high');
  });

  it('rejects unknown or malformed input as non-retryable and stores nothing', async () => {
    const bad: unknown[] = [
      null,
      undefined,
      'spawned 3',
      [],
      { kind: 'run', runId: 'x' },
      { runId: 'x', created: [] },
      { ...spawnResult('s', NOW), runId: '' },
      { ...spawnResult('s', NOW), created: [{ id: 'a', name: 'n', image: 'i', class: 'medium' }] },
      { ...analysisResult('a', NOW), hostMemory: { totalBytes: 'lots' } },
    ];
    for (const input of bad) {
      const err = await plugin.run(input as SpawnResult, ctx('log-bad')).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(input)).toBeInstanceOf(Error);
      expect(isNonRetryable(err)).toBe(true);
      expect((err as Error).message).toMatch(/^logger (expects|input of kind)/);
    }
    const unknown = await plugin.run({ kind: 'run' } as never, ctx('l')).catch((e: Error) => e.message);
    expect(unknown).toContain('got an object of kind "run"');
    const malformed = await plugin.run({ ...spawnResult('s', NOW), created: [{ id: 'a' }] } as never, ctx('l')).catch((e: Error) => e.message);
    expect(malformed).toMatch(/malformed: \/created\/0\/name/);
    expect((await store.stats()).records).toBe(0);
  });

  it('applies retention on its runs, at most once per hour', async () => {
    await store.ingest({ source: 'ancient', sourceKind: 'spawn', workflow: 'w', time: NOW - 8 * DAY, records: [{ kind: 'spawned', time: NOW - 8 * DAY, name: 'old' }] });
    const r1 = await plugin.run(spawnResult('s1', NOW), ctx('l1'));
    expect(r1.purged).toMatchObject({ records: 1, sources: 1, cutoff: NOW - 7 * DAY, at: NOW });
    expect(await store.hasSource('ancient')).toBe(false);

    await store.ingest({ source: 'ancient-2', sourceKind: 'spawn', workflow: 'w', time: NOW - 9 * DAY, records: [{ kind: 'spawned', time: NOW - 9 * DAY }] });
    clock.t = NOW + 30 * 60_000;
    expect((await plugin.run(spawnResult('s2', clock.t), ctx('l2'))).purged).toBeNull();
    expect(await store.hasSource('ancient-2')).toBe(true);

    clock.t = NOW + HOUR;
    expect((await plugin.run(spawnResult('s3', clock.t), ctx('l3'))).purged).toMatchObject({ sources: 1 });
    expect(await store.hasSource('ancient-2')).toBe(false);
    // The records within retention survive.
    expect((await store.stats()).sources).toBe(3);

    // The method the engine or a person can call; `force` ignores the interval.
    expect(await plugin.applyRetention({ retention: '1m' })).toBeNull();
    expect(await plugin.applyRetention({ retention: '1m' }, { force: true })).toMatchObject({ sources: 2 });
    expect((await store.stats()).sources).toBe(1);
  });
});
