import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { jobKey } from '../queues/run-ids.js';
import type { ScriptCall } from '../redis/script-call.js';
import type { RunQuery, RunRecord } from './run-record.js';
import { attemptSummary, parseIoValue, runAttempts, storedIoValue, type RunAttempt, type RunIo } from './run-details.js';
import { RunLogStore } from './run-logs.js';

/**
 * Writes a run record and indexes it, all or nothing (one command, so no
 * crash leaves a record that is not indexed). Returns 0, writing nothing,
 * when ARGV[7] is 'NX' and the record exists; else 1.
 * KEYS: record, index, last-run, last-success, details.
 * ARGV: json, ttl seconds, queuedAt, id, workflow/job, finish time of a success or '', 'NX' or '',
 * then the run details (see RUN_DETAILS below): attempt field or '', its summary, input or '', output or '',
 * then the events channel: the saved record is published there (GET /api/events).
 * Reused, KEYS and ARGV rebound, by scripts that write more with it (RunLedger).
 */
export const SAVE_RUN_SCRIPT = `
if ARGV[7] == 'NX' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 0 end
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[4])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[5], ARGV[6]) end
-- RUN_DETAILS: the attempt's summary and the capped input/output, beside the record and expiring with it (no extra round trip).
if ARGV[8] ~= '' then redis.call('HSET', KEYS[5], ARGV[8], ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSET', KEYS[5], 'input', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[5], 'output', ARGV[11]) end
if ARGV[8] ~= '' or ARGV[10] ~= '' or ARGV[11] ~= '' then redis.call('EXPIRE', KEYS[5], ARGV[2]) end
-- end RUN_DETAILS
-- live: every saved record to GET /api/events of every API process (no extra round trip; ARGV[12] is EngineKeys.eventsChannel)
redis.call('PUBLISH', ARGV[12], '{"type":"run","run":' .. ARGV[1] .. '}')
return 1`;

type SaveRunRedis = Redis & { tideflowSaveRun(...args: Array<string | number>): Promise<number> };

export interface RunHistoryOptions {
  /** Runs kept at most (newest). Default 10,000. */
  maxRuns?: number;
  /** Runs older than this are dropped. Default 7 days. */
  maxAgeMs?: number;
  /** Log lines kept per run (the newest). Default RUN_LOG_MAX_LINES. */
  maxLogLines?: number;
}

/** How a record is saved: see RunHistory.save. */
export interface RunSaveOptions {
  onlyIfNew?: boolean;
  io?: RunIoToSave;
}

/** What a save may store beside the record: the run's input and what its plugin returned (each capped, see RUN_IO_MAX_BYTES). */
export interface RunIoToSave {
  input?: unknown;
  output?: unknown;
}

/**
 * Run records in Redis: one JSON string per run (expiring with the age
 * limit), a sorted-set index by queue time, and the last run per job.
 */
export class RunHistory {
  private readonly maxRuns: number;
  private readonly maxAgeMs: number;
  private readonly ttlSeconds: number;
  /** Sorted set: run ids by queue time. */
  private readonly indexKey: string;
  /** Hash: last run id per job. */
  private readonly lastKey: string;
  /** Finish time (ms) of the last succeeded run per job; kept apart from last-run, which any status overwrites. */
  private readonly lastSuccessKey: string;
  private readonly eventsChannel: string;
  private writesSinceTrim = 0;
  /** What runs logged through `ctx.log`, expiring with their records. */
  readonly logs: RunLogStore;

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    opts: RunHistoryOptions = {},
  ) {
    this.maxRuns = opts.maxRuns ?? 10_000;
    this.maxAgeMs = opts.maxAgeMs ?? 7 * 86_400_000;
    this.ttlSeconds = Math.ceil(this.maxAgeMs / 1000);
    this.indexKey = keys.runs;
    this.lastKey = keys.lastRun;
    this.lastSuccessKey = keys.lastSuccess;
    this.eventsChannel = keys.eventsChannel;
    this.logs = new RunLogStore(redis, keys, Math.ceil(this.maxAgeMs / 1000), opts.maxLogLines);
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowSaveRun' in redis)) redis.defineCommand('tideflowSaveRun', { numberOfKeys: 5, lua: SAVE_RUN_SCRIPT });
  }

  private runKey(id: string): string {
    return this.keys.run(id);
  }

  /**
   * Writes a record. With `onlyIfNew`, an existing record (a duplicate
   * enqueue) is left alone. A started attempt's summary, and `io` when
   * given, are stored beside it in the same command.
   */
  async save(run: RunRecord, opts: RunSaveOptions = {}): Promise<boolean> {
    const call: ScriptCall = { keys: [], args: [] };
    this.addSaveCall(call, run, opts);
    // One scripted command instead of three: atomic, and per-run bookkeeping is
    // most of what a no-op job costs beyond BullMQ itself (see bench/engine.bench.ts).
    const saved = await (this.redis as SaveRunRedis).tideflowSaveRun(...call.keys, ...call.args);
    if (saved !== 1) return false;
    await this.saved();
    return true;
  }

  /** Appends the KEYS and ARGV of SAVE_RUN_SCRIPT for a record to `call`'s (empty, or another script's share first). */
  addSaveCall(call: ScriptCall, run: RunRecord, opts: RunSaveOptions = {}): void {
    const attempt = opts.onlyIfNew ? undefined : attemptSummary(run);
    call.keys.push(this.runKey(run.id), this.indexKey, this.lastKey, this.lastSuccessKey, this.keys.runDetails(run.id));
    call.args.push(JSON.stringify(run), this.ttlSeconds, run.queuedAt, run.id, jobKey(run.workflow, run.job),
      run.status === 'succeeded' ? (run.finishedAt ?? Date.now()) : '', opts.onlyIfNew ? 'NX' : '',
      attempt?.field ?? '', attempt?.json ?? '', storedIoValue(opts.io?.input) ?? '', storedIoValue(opts.io?.output) ?? '', this.eventsChannel);
  }

  /** Bookkeeping after a record was written (by save or a script made with addSaveCall): the bounds are applied every so often. */
  async saved(): Promise<void> {
    if (++this.writesSinceTrim >= 200) {
      this.writesSinceTrim = 0;
      await this.trim();
    }
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const json = await this.redis.get(this.runKey(id));
    return json ? (JSON.parse(json) as RunRecord) : undefined;
  }

  /** A run's capped input and output (GET /api/runs/:id/io), and every attempt (GET /api/runs/:id/attempts); undefined for an unknown run. */
  async details(id: string): Promise<{ run: RunRecord; io: RunIo; attempts: RunAttempt[] } | undefined> {
    const [run, details] = await Promise.all([this.get(id), this.redis.hgetall(this.keys.runDetails(id))]);
    if (!run) return undefined;
    const input = parseIoValue(details.input);
    const output = parseIoValue(details.output);
    return { run, io: { runId: id, ...(input ? { input } : {}), ...(output ? { output } : {}) }, attempts: runAttempts(run, details) };
  }

  async lastRuns(): Promise<Map<string, RunRecord>> {
    const ids = await this.redis.hgetall(this.lastKey);
    const keys = Object.keys(ids);
    const out = new Map<string, RunRecord>();
    if (!keys.length) return out;
    const values = await this.redis.mget(keys.map((k) => this.runKey(ids[k]!)));
    keys.forEach((k, i) => values[i] && out.set(k, JSON.parse(values[i]!) as RunRecord));
    return out;
  }

  /** Finish time (ms) of the last succeeded run per `<workflow>/<job>`. */
  async lastSuccesses(): Promise<Map<string, number>> {
    const all = await this.redis.hgetall(this.lastSuccessKey);
    return new Map(Object.entries(all).map(([k, v]) => [k, Number(v)] as const).filter(([, v]) => Number.isFinite(v)));
  }

  /** Newest first, filtered, paginated. Scans the index in pages until enough match. */
  async query(q: RunQuery): Promise<{ runs: RunRecord[]; total: number }> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const offset = Math.max(q.offset ?? 0, 0);
    const filtered = q.workflow !== undefined || q.job !== undefined || q.status !== undefined || q.host !== undefined;
    if (!filtered) {
      const [ids, total] = await Promise.all([this.redis.zrevrange(this.indexKey, offset, offset + limit - 1), this.redis.zcard(this.indexKey)]);
      return { runs: await this.load(ids), total };
    }
    const matches: RunRecord[] = [];
    let total = 0;
    const page = 500;
    for (let start = 0; ; start += page) {
      const ids = await this.redis.zrevrange(this.indexKey, start, start + page - 1);
      if (!ids.length) break;
      for (const r of await this.load(ids)) {
        if (q.workflow !== undefined && r.workflow !== q.workflow) continue;
        if (q.job !== undefined && r.job !== q.job) continue;
        if (q.status !== undefined && r.status !== q.status) continue;
        if (q.host !== undefined && r.host !== q.host) continue;
        if (total >= offset && matches.length < limit) matches.push(r);
        total++;
      }
    }
    return { runs: matches, total };
  }

  private async load(ids: string[]): Promise<RunRecord[]> {
    if (!ids.length) return [];
    const values = await this.redis.mget(ids.map((id) => this.runKey(id)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as RunRecord);
  }

  /** Applies the count and age bounds to the index (records expire by themselves). */
  async trim(now = Date.now()): Promise<void> {
    const old = await this.redis.zrangebyscore(this.indexKey, '-inf', now - this.maxAgeMs);
    const excess = await this.redis.zrange(this.indexKey, 0, String(-(this.maxRuns + 1)));
    const drop = [...new Set([...old, ...excess])];
    if (!drop.length) return;
    const multi = this.redis.multi().zrem(this.indexKey, ...drop);
    // A run's details and log go with its record.
    multi.del(...drop.flatMap((id) => [this.runKey(id), this.keys.runDetails(id), ...this.logs.keysOf(id)]));
    await multi.exec();
  }
}
