import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { jobKey } from '../queues/run-ids.js';
import { SCRIPT_CALL_PRELUDE_LUA, ScriptCall } from '../redis/script-call.js';
import { ENDED_RUN_STATUSES, type RunQuery, type RunRecord } from './run-record.js';
import { attemptSummary, parseIoValue, runAttempts, storedIoValue, type RunAttempt, type RunIo } from './run-details.js';
import { RunLogStore } from './run-logs.js';
import { RUN_PROGRESS_LUA } from './run-progress.js';

/**
 * Lua that writes run records (fields of the records hash,
 * EngineKeys.runRecords) and indexes them, all or nothing (in one
 * command, so no crash leaves a record that is not indexed), as functions
 * that scripts writing one record, a batch, or more with them call
 * (RunLedger). Arguments come in ARGV (see ScriptCall: keys by their KEYS
 * index), read from position `i`; each function returns the next position.
 *
 * - `saveSetup(i)`: once per call: ttl seconds (of a run's details), the
 *   events channel, the KEYS indexes of the index, last-run and
 *   last-success hashes, and the records hash.
 * - `saveRun(s, i)`: per record: its json, then six values packed in one
 *   argument, space-separated: queuedAt, workflow/job (interned), finish
 *   time of a success or `-`, the write's progress (see run-progress.ts)
 *   when it counts run events, else `-`, flags, and last the run's id (any
 *   characters). Flags: `-` for none, else N (write only if the record is
 *   new) and/or D, which five more arguments follow (see RUN_DETAILS below):
 *   KEYS index of the details, attempt field or '', its summary, input or
 *   '', output or ''. Returns 0, writing nothing, when N is asked and the record exists,
 *   or when a counting write is behind the stored record (a late write of
 *   an earlier state: the record and its counts stay as they are), else 1;
 *   then the next position, and how far the run's events were counted
 *   before this write (countedUpTo of the record it replaced; -1 for a
 *   write that does not count).
 * - `saveEnd(s)`: once at the end: every saved record in the index (one
 *   ZADD) and, when an API process listens (ClusterEventHub subscribes only
 *   while a client does), on the events channel (GET /api/events; one
 *   message, a line per record: `{"type":"run","run":<record>}`; asked once
 *   per call, in the same atomic command, so no listener misses one), the last-run and
 *   last-success fields, one HSET per hash (a later record's value wins).
 *   Each goes through unpack, bounded by Lua's stack at ~8,000 values:
 *   RunLedger sends at most 500 records per call. A command a script calls
 *   costs Redis more than its data: one per batch, not per run, where it can.
 */
export const SAVE_RUN_LUA = `${RUN_PROGRESS_LUA}
local function hsetAll(key, fields)
  local args = {}
  for f, v in pairs(fields) do
    args[#args + 1] = f
    args[#args + 1] = v
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
end
local function saveSetup(i)
  local s = { ttl = ARGV[i], channel = ARGV[i + 1], index = KEYS[tonumber(ARGV[i + 2])], last = KEYS[tonumber(ARGV[i + 3])],
    lastOk = KEYS[tonumber(ARGV[i + 4])], records = KEYS[tonumber(ARGV[i + 5])], lastIds = {}, lastOks = {}, indexed = {} }
  if redis.call('PUBSUB', 'NUMSUB', s.channel)[2] > 0 then s.published = {} end
  return s, i + 6
end
local function saveRun(s, i)
  local json = ARGV[i]
  local queuedAt, jobAt, finish, progress, flags, id = string.match(ARGV[i + 1], '^(%S+) (%d+) (%S+) (%S+) (%S+) (.+)$')
  local job = ARGV[1 + tonumber(jobAt)]
  local d = i + 2
  local nextI = d
  local counted = -1
  if flags ~= '-' and string.find(flags, 'D', 1, true) then nextI = d + 5 end
  if flags ~= '-' and string.find(flags, 'N', 1, true) then
    if redis.call('HSETNX', s.records, id, json) == 0 then return 0, nextI, counted end
  elseif progress ~= '-' then
    -- A write that counts: the record it replaces says how far the run's events are counted.
    counted = countedUpTo(redis.call('HGET', s.records, id))
    if tonumber(progress) < counted then return 0, nextI, counted end
    redis.call('HSET', s.records, id, json)
  else
    redis.call('HSET', s.records, id, json)
  end
  local indexed = s.indexed
  indexed[#indexed + 1] = queuedAt
  indexed[#indexed + 1] = id
  s.lastIds[job] = id
  if finish ~= '-' then s.lastOks[job] = finish end
  -- RUN_DETAILS: a superseded attempt's summary and the capped input/output, beside the record (trimmed with it, and expiring).
  if nextI > d then
    local details = KEYS[tonumber(ARGV[d])]
    if ARGV[d + 1] ~= '' then redis.call('HSET', details, ARGV[d + 1], ARGV[d + 2]) end
    if ARGV[d + 3] ~= '' then redis.call('HSET', details, 'input', ARGV[d + 3]) end
    if ARGV[d + 4] ~= '' then redis.call('HSET', details, 'output', ARGV[d + 4]) end
    redis.call('EXPIRE', details, s.ttl)
  end
  -- end RUN_DETAILS
  local published = s.published
  if published then
    published[#published + 1] = #published > 0 and '\\n{"type":"run","run":' or '{"type":"run","run":'
    published[#published + 1] = json
    published[#published + 1] = '}'
  end
  return 1, nextI, counted
end
local function saveEnd(s)
  if #s.indexed > 0 then redis.call('ZADD', s.index, unpack(s.indexed)) end
  if s.published and #s.published > 0 then redis.call('PUBLISH', s.channel, table.concat(s.published)) end
  hsetAll(s.last, s.lastIds)
  hsetAll(s.lastOk, s.lastOks)
end`;

/** One record saved on its own (RunHistory.save). */
export const SAVE_RUN_SCRIPT = `${SCRIPT_CALL_PRELUDE_LUA}
${SAVE_RUN_LUA}
local s, i = saveSetup(argsStart)
local saved = saveRun(s, i)
saveEnd(s)
return saved`;

/** A stored record of a run that has ended: nothing of it is counted later. */
const ENDED_RECORD = new RegExp(`"status":"(?:${[...ENDED_RUN_STATUSES].join('|')})"`);

type SaveRunRedis = Redis & { tideflowSaveRun(args: Array<string | number>): Promise<number> };

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
  /**
   * For a write that counts run events (RunLedger): how far its run has got
   * (runProgress of its latest event). Not saved when the stored record is
   * further on; not with `onlyIfNew`.
   */
  progress?: number;
}

/** What a save may store beside the record: the run's input and what its plugin returned (each capped, see RUN_IO_MAX_BYTES). */
export interface RunIoToSave {
  input?: unknown;
  output?: unknown;
}

/**
 * Run records in Redis: one hash of JSON records by run id, a sorted-set
 * index by queue time, and the last run per job. The bounds (runs kept, age)
 * are applied by `trim` every so often.
 *
 * One hash, not a string key per run with its own expiry, as earlier
 * versions kept them: each such key grew Redis's keyspace and expiry table
 * by an entry per run, which made every command of the cluster dearer, BullMQ's
 * included (the runner's no-op throughput: +2.4% against a key per run, in
 * alternating rounds of bench/engine.bench.ts). Records of earlier versions are
 * moved in at start (`moveLegacyRecords`); until then they are read where
 * they are.
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
  /** Hash: run id -> record (JSON). */
  private readonly recordsKey: string;
  private writesSinceTrim = 0;
  /** What runs logged through `ctx.log`, dropped with their records (and expiring). */
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
    this.recordsKey = keys.runRecords;
    this.logs = new RunLogStore(redis, keys, Math.ceil(this.maxAgeMs / 1000), opts.maxLogLines);
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowSaveRun' in redis)) redis.defineCommand('tideflowSaveRun', { lua: SAVE_RUN_SCRIPT });
  }

  /**
   * Writes a record. With `onlyIfNew`, an existing record (a duplicate
   * enqueue) is left alone. A started attempt's summary, and `io` when
   * given, are stored beside it in the same command.
   */
  async save(run: RunRecord, opts: RunSaveOptions = {}): Promise<boolean> {
    const call = new ScriptCall();
    this.addSaveSetup(call);
    this.addSaveCall(call, run, opts);
    // One scripted command instead of several: atomic, and per-run bookkeeping is
    // most of what a no-op job costs beyond BullMQ itself (see bench/engine.bench.ts).
    const saved = await (this.redis as SaveRunRedis).tideflowSaveRun(call.commandArgs());
    if (saved !== 1) return false;
    await this.saved();
    return true;
  }

  /** Adds saveSetup's arguments (SAVE_RUN_LUA) to `call`: once per call, before its records. */
  addSaveSetup(call: ScriptCall): void {
    call.args.push(this.ttlSeconds, this.eventsChannel, call.key(this.indexKey), call.key(this.lastKey), call.key(this.lastSuccessKey), call.key(this.recordsKey));
  }

  /**
   * Adds saveRun's arguments (SAVE_RUN_LUA) for a record to `call`.
   * Only an attempt that another will follow (retrying) keeps a summary of its own in the details: the record itself
   * describes its latest attempt (runAttempts reads it from there), so a run that ends in its first attempt writes no details.
   */
  addSaveCall(call: ScriptCall, run: RunRecord, opts: RunSaveOptions = {}): void {
    const attempt = !opts.onlyIfNew && run.status === 'retrying' ? attemptSummary(run) : undefined;
    const input = storedIoValue(opts.io?.input) ?? '';
    const output = storedIoValue(opts.io?.output) ?? '';
    const details = attempt !== undefined || input !== '' || output !== '';
    const flags = `${opts.onlyIfNew ? 'N' : ''}${details ? 'D' : ''}` || '-';
    const finish = run.status === 'succeeded' ? (run.finishedAt ?? Date.now()) : '-';
    if (opts.onlyIfNew && opts.progress !== undefined) throw new Error(`history: a write of run ${run.id} that counts cannot be only-if-new`);
    const progress = opts.progress ?? '-';
    call.args.push(JSON.stringify(run), `${run.queuedAt} ${call.intern(jobKey(run.workflow, run.job))} ${finish} ${progress} ${flags} ${run.id}`);
    if (details) call.args.push(call.ownKey(this.keys.runDetails(run.id)), attempt?.field ?? '', attempt?.json ?? '', input, output);
  }

  /** Bookkeeping after `n` records were written (by save or a script made with addSaveCall): the bounds are applied every so often. */
  async saved(n = 1): Promise<void> {
    this.writesSinceTrim += n;
    if (this.writesSinceTrim >= 200) {
      this.writesSinceTrim = 0;
      await this.trim();
    }
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const [json] = await this.records([id]);
    return json ? (JSON.parse(json) as RunRecord) : undefined;
  }

  /** The stored records of these runs (null where none), from the hash or, for one an earlier version wrote and start has not moved yet, its own key. */
  private async records(ids: string[]): Promise<Array<string | null>> {
    if (!ids.length) return [];
    const values = await this.redis.hmget(this.recordsKey, ...ids);
    const missing = ids.flatMap((id, i) => (values[i] === null ? [i] : []));
    if (missing.length) {
      const legacy = await this.redis.mget(missing.map((i) => this.keys.legacyRun(ids[i]!)));
      missing.forEach((at, j) => (values[at] = legacy[j] ?? null));
    }
    return values;
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
    const values = await this.records(keys.map((k) => ids[k]!));
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
    const values = await this.records(ids);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as RunRecord);
  }

  /**
   * Applies the bounds: the runs over the count (the oldest first) that have
   * ended, and every run older than the age limit, are dropped with their
   * details and log. A run over the count that has not ended stays, indexed,
   * until it ends: its record says how far its run's events are counted
   * (run-progress.ts), and without it a late write would count them again.
   * One over the age limit goes unless it was written within it (queue time
   * is its index score; a long wait or run moves its start and finish).
   */
  async trim(now = Date.now()): Promise<void> {
    const cutoff = now - this.maxAgeMs;
    const [old, excess] = await Promise.all([
      this.redis.zrangebyscore(this.indexKey, '-inf', cutoff),
      this.redis.zrange(this.indexKey, 0, String(-(this.maxRuns + 1))),
    ]);
    const over = [...new Set([...old, ...excess])];
    if (!over.length) return;
    const records = await this.records(over);
    const aged = new Set(old);
    const drop = over.filter((id, i) => {
      const json = records[i];
      if (json == null || ENDED_RECORD.test(json)) return true;
      return aged.has(id) && lastWritten(json) < cutoff;
    });
    if (!drop.length) return;
    // A run's details and log go with its record (and a record an earlier version kept under its own key).
    await this.redis
      .multi()
      .zrem(this.indexKey, ...drop)
      .hdel(this.recordsKey, ...drop)
      .del(...drop.flatMap((id) => [this.keys.legacyRun(id), this.keys.runDetails(id), ...this.logs.keysOf(id)]))
      .exec();
  }

  /**
   * Moves the records an earlier version kept under a key each
   * (EngineKeys.legacyRun) into the records hash, where it has none of the
   * same run. Done at start; cheap when there is nothing to move (no more
   * runs indexed than recorded in the hash: a SCAN only then). Returns how
   * many it moved.
   */
  async moveLegacyRecords(): Promise<number> {
    const [indexed, recorded] = await Promise.all([this.redis.zcard(this.indexKey), this.redis.hlen(this.recordsKey)]);
    if (indexed <= recorded) return 0;
    const head = this.keys.legacyRun('');
    const pattern = `${head.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let moved = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (!keys.length) continue;
      const values = await this.redis.mget(keys);
      // Only what is a record of that run moves: a key of something else that happens to match stays where it is.
      const found = keys.map((key, i) => ({ key, id: key.slice(head.length), json: values[i] })).filter((f): f is { key: string; id: string; json: string } => isRecordOf(f.json, f.id));
      if (!found.length) continue;
      const multi = this.redis.multi();
      for (const { id, json } of found) multi.hsetnx(this.recordsKey, id, json);
      const results = await multi.unlink(...found.map((f) => f.key)).exec();
      moved += (results ?? []).slice(0, found.length).filter(([, r]) => r === 1).length;
    } while (cursor !== '0');
    return moved;
  }
}

function isRecordOf(json: string | null | undefined, id: string): boolean {
  if (!json) return false;
  try {
    return (JSON.parse(json) as { id?: unknown }).id === id;
  } catch {
    return false;
  }
}

/** When a stored record was last written, as far as it says (ms): its latest time. */
function lastWritten(json: string): number {
  try {
    const r = JSON.parse(json) as Partial<RunRecord>;
    return Math.max(r.queuedAt ?? 0, r.startedAt ?? 0, r.finishedAt ?? 0, r.waiting?.since ?? 0);
  } catch {
    return 0;
  }
}
