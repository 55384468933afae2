import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../core/control/engine-events.js';
import type { Engine } from '../../core/engine/engine.js';
import { RunHistory } from '../../core/history/run-history.js';
import type { RunRecord } from '../../core/history/run-record.js';
import { RUN_IO_MAX_BYTES, type RunAttempt, type RunIo } from '../../core/history/run-details.js';
import { RUN_LOG_MAX_LINE_BYTES, RUN_LOG_MAX_LINES, type RunLogs } from '../../core/history/run-logs.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { ChattyPlugin } from '../support/chatty-plugin.js';
import { deletePrefix, uniquePrefix } from '../support/redis.js';
import { NoopPlugin } from '../support/test-plugins.js';
import { testEngines, waitFor } from '../support/test-engine.js';

/**
 * Per-run logs (GET /api/runs/:id/logs), input and output (GET
 * /api/runs/:id/io) and attempts (GET /api/runs/:id/attempts) of real runs
 * of a real engine on the test Redis.
 */

const engines = testEngines();
const redis = engines.redis;
let engine: Engine;
let prefix: string;
let keys: EngineKeys;
const extraPrefixes: string[] = [];

beforeAll(async () => {
  ({ engine, prefix } = await engines.start({
    workflows: {
      'l.json': {
        name: 'logs',
        jobs: {
          many: { plugin: 'chatty', manual: true, config: { lines: 2000 } },
          retried: { plugin: 'chatty', manual: true, config: { lines: 3, failTimes: 2 }, retry: { attempts: 3, backoff: 'fixed', delay: '1s' } },
          long: { plugin: 'chatty', manual: true, config: { longLineBytes: 5000 } },
          quiet: { plugin: 'noop', manual: true },
          fails: { plugin: 'chatty', manual: true, config: { lines: 1, failTimes: 1 } },
          big: { plugin: 'chatty', manual: true, config: { outputBytes: 100_000 } },
        },
      },
    },
    options: { api: true, plugins: [ChattyPlugin, NoopPlugin] },
  }));
  keys = new EngineKeys(prefix);
});

afterAll(async () => {
  for (const p of extraPrefixes) await deletePrefix(redis, p);
});

const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${engine.url}${path}`);
  return { status: res.status, body: (await res.json()) as T };
};

async function runToEnd(job: string, input?: unknown): Promise<RunRecord> {
  const { runId } = await engine.engineControl.trigger('logs', job, input);
  return waitFor(async () => {
    const r = await engine.engineControl.getRun(runId);
    return r && ['succeeded', 'failed', 'cancelled'].includes(r.status) ? r : undefined;
  }, `run ${runId} to end`, 20_000);
}

describe('per-run logs (real engine)', () => {
  it(`a plugin logging 2,000 lines: exactly the newest ${RUN_LOG_MAX_LINES} are kept, in order, and the 1,500 earlier ones are counted as dropped`, async () => {
    const run = await runToEnd('many');
    expect(run.status).toBe('succeeded');
    const { status, body } = await get<RunLogs>(`/api/runs/${run.id}/logs`);
    expect(status).toBe(200);
    expect(body.runId).toBe(run.id);
    expect(body.total).toBe(2000);
    expect(body.dropped).toBe(1500);
    expect(body.lines).toHaveLength(RUN_LOG_MAX_LINES);
    expect(body.lines.map((l) => l.fields?.i)).toEqual(Array.from({ length: 500 }, (_, k) => 1501 + k));
    expect(body.lines[0]).toMatchObject({ level: 'info', attempt: 1, msg: 'line 1501 of attempt 1', fields: { i: 1501 } });
    // Times are real and never go backwards.
    const times = body.lines.map((l) => l.t);
    expect(times[0]).toBeGreaterThanOrEqual(run.startedAt!);
    expect(times.every((t, k) => k === 0 || t >= times[k - 1]!)).toBe(true);
    // The record and its log expire together.
    expect(await redis.ttl(keys.runLog(run.id))).toBeGreaterThan(6 * 86_400);
    expect(await redis.ttl(keys.runLogCount(run.id))).toBeGreaterThan(6 * 86_400);
  });

  it("keeps every attempt's lines of a retried run, in attempt order, with the runner's own failure lines", async () => {
    const run = await runToEnd('retried');
    expect(run).toMatchObject({ status: 'succeeded', attempts: 3 });
    const { body } = await get<RunLogs>(`/api/runs/${run.id}/logs`);
    expect(body.dropped).toBe(0);
    expect(body.lines.map((l) => [l.attempt, l.level, l.msg])).toEqual([
      [1, 'info', 'line 1 of attempt 1'], [1, 'info', 'line 2 of attempt 1'], [1, 'info', 'line 3 of attempt 1'],
      [1, 'warn', 'logs/retried failed: configured failure 1/2 (will retry)'],
      [2, 'info', 'line 1 of attempt 2'], [2, 'info', 'line 2 of attempt 2'], [2, 'info', 'line 3 of attempt 2'],
      [2, 'warn', 'logs/retried failed: configured failure 2/2 (will retry)'],
      [3, 'info', 'line 1 of attempt 3'], [3, 'info', 'line 2 of attempt 3'], [3, 'info', 'line 3 of attempt 3'],
    ]);
    expect(body.lines[3]!.fields).toEqual({ attempt: 1, of: 3 });

    // The attempts, oldest first, each with its times and end.
    const attempts = await get<{ attempts: RunAttempt[] }>(`/api/runs/${run.id}/attempts`);
    expect(attempts.status).toBe(200);
    expect(attempts.body.attempts.map((a) => [a.attempt, a.status, a.error])).toEqual([
      [1, 'retrying', 'configured failure 1/2'],
      [2, 'retrying', 'configured failure 2/2'],
      [3, 'succeeded', undefined],
    ]);
    for (const a of attempts.body.attempts) expect(a.finishedAt! - a.startedAt!).toBe(a.durationMs);
    expect(attempts.body.attempts[1]!.startedAt).toBeGreaterThan(attempts.body.attempts[0]!.finishedAt!);
  });

  it('a failed run: its log, with the runner\'s last line, is complete as soon as its record says it failed', async () => {
    // Read the moment the final record is saved (the runner emits its event right after the save).
    let atSave: Promise<RunLogs | undefined> | undefined;
    const onRun = (e: RunEvent) => {
      if (e.type === 'failed' && e.run.job === 'fails') atSave ??= engine.engineControl.getRunLogs(e.run.id);
    };
    engine.runner!.on('run', onRun);
    const run = await runToEnd('fails');
    engine.runner!.off('run', onRun);
    expect(run.status).toBe('failed');
    const body = (await atSave)!;
    expect(body.lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'line 1 of attempt 1'],
      ['warn', 'logs/fails failed: configured failure 1/1 (no attempts left)'],
    ]);
  });

  it(`cuts a line over ${RUN_LOG_MAX_LINE_BYTES} bytes, saying its original size`, async () => {
    const run = await runToEnd('long');
    const { body } = await get<RunLogs>(`/api/runs/${run.id}/logs`);
    expect(body.lines).toHaveLength(1);
    const [line] = body.lines;
    expect(line!.truncated).toBeGreaterThan(5000);
    expect(line!.fields).toBeUndefined();
    expect(line!.msg.startsWith('a long line {"blob":"xxxx')).toBe(true);
    expect(line!.msg.endsWith('…')).toBe(true);
    const stored = await redis.lrange(keys.runLog(run.id), 0, -1);
    expect(Buffer.byteLength(stored[0]!)).toBeLessThanOrEqual(RUN_LOG_MAX_LINE_BYTES);
    expect(Buffer.byteLength(stored[0]!)).toBeGreaterThan(RUN_LOG_MAX_LINE_BYTES - 64);
  });

  it('a run that logs nothing has no log keys at all, and an empty log', async () => {
    const run = await runToEnd('quiet', { hello: 'world' });
    expect(await redis.exists(keys.runLog(run.id), keys.runLogCount(run.id))).toBe(0);
    const { status, body } = await get<RunLogs>(`/api/runs/${run.id}/logs`);
    expect(status).toBe(200);
    expect(body).toEqual({ runId: run.id, lines: [], total: 0, dropped: 0 });
    // Its input and output are there even so.
    const io = await get<RunIo>(`/api/runs/${run.id}/io`);
    expect(io.body).toEqual({
      runId: run.id,
      input: { bytes: 17, truncated: false, value: { hello: 'world' } },
      output: { bytes: 17, truncated: false, value: { hello: 'world' } },
    });
  });

  it('404 for an unknown run on logs, io and attempts, naming it; 400 for a malformed id', async () => {
    for (const part of ['logs', 'io', 'attempts']) {
      const res = await get<{ statusCode: number; message: string }>(`/api/runs/logs.many.m-nope/${part}`);
      expect(res.status, part).toBe(404);
      expect(res.body.message, part).toBe('no run logs.many.m-nope (unknown, or older than the history keeps)');
    }
    const bad = await get<{ path: string }>(`/api/runs/${encodeURIComponent('a b')}/logs`);
    expect(bad.status).toBe(400);
    expect(bad.body.path).toBe('/params/id');
  });
});

describe('a run input and output (real engine)', () => {
  it(`keeps them whole up to ${RUN_IO_MAX_BYTES} bytes, larger ones cut with their original size`, async () => {
    const input = { note: 'é'.repeat(40_000) }; // 80,000 bytes of UTF-8
    const run = await runToEnd('big', input);
    const { status, body } = await get<RunIo>(`/api/runs/${run.id}/io`);
    expect(status).toBe(200);
    const inputJson = JSON.stringify(input);
    expect(body.input).toMatchObject({ bytes: Buffer.byteLength(inputJson), truncated: true });
    expect(body.input!.value).toBeUndefined();
    expect(Buffer.byteLength(body.input!.preview!)).toBeLessThanOrEqual(RUN_IO_MAX_BYTES);
    expect(Buffer.byteLength(body.input!.preview!)).toBeGreaterThan(RUN_IO_MAX_BYTES - 4);
    expect(inputJson.startsWith(body.input!.preview!)).toBe(true);
    const outputJson = JSON.stringify({ blob: 'y'.repeat(100_000) });
    expect(body.output).toEqual({ bytes: Buffer.byteLength(outputJson), truncated: true, preview: outputJson.slice(0, RUN_IO_MAX_BYTES) });
    expect(await redis.ttl(keys.runDetails(run.id))).toBeGreaterThan(6 * 86_400);
  });
});

describe('run history trim', () => {
  it("drops a run's details and log with its record", async () => {
    const p = uniquePrefix('run-trim');
    extraPrefixes.push(p);
    const k = new EngineKeys(p);
    const history = new RunHistory(redis, k, { maxRuns: 1 });
    const base: RunRecord = { id: 'w.j.1', workflow: 'w', job: 'j', plugin: 'p', trigger: 'manual', status: 'succeeded', attempts: 1, queuedAt: Date.now() - 10, startedAt: Date.now() - 9, finishedAt: Date.now() - 8, durationMs: 1 };
    await history.save(base, { io: { input: 1, output: 2 } });
    await history.logs.append('w.j.1', ['{"t":1,"level":"info","attempt":1,"msg":"x"}']);
    await history.save({ ...base, id: 'w.j.2', queuedAt: Date.now() }, { io: { input: 3 } });
    expect(await redis.hexists(k.runRecords, 'w.j.1')).toBe(1);
    expect(await redis.exists(k.runDetails('w.j.1'), k.runLog('w.j.1'), k.runLogCount('w.j.1'))).toBe(3);
    await history.trim();
    expect(await redis.hexists(k.runRecords, 'w.j.1')).toBe(0);
    expect(await redis.exists(k.runDetails('w.j.1'), k.runLog('w.j.1'), k.runLogCount('w.j.1'))).toBe(0);
    expect(await redis.hexists(k.runRecords, 'w.j.2')).toBe(1);
    expect(await redis.exists(k.runDetails('w.j.2'))).toBe(1);
  });
});
