import type { Redis } from 'ioredis';
import type { RunEvent } from '../control/engine-events.js';
import { SAVE_RUN_LUA, type RunHistory, type RunIoToSave } from '../history/run-history.js';
import type { RunRecord } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';
import type { EventIncrements } from '../metrics/cluster-metric-store.js';
import { NOTHING_COUNTED, RECORD_EVENTS_LUA, type RedisClusterMetricStore, type RunCountArgument } from '../metrics/redis-cluster-metric-store.js';
import { SCRIPT_CALL_PRELUDE_LUA, ScriptCall } from '../redis/script-call.js';
import type { CountingPlugin, RunIncrements } from '../metrics/run-metrics.js';
import { errorMessage } from '../util/error-message.js';

/**
 * The records of a batch of runs with the events each counts, in one atomic
 * command: per run the history's save (saveRun), then what it counts
 * (recordEvents: those of its events past what the record it replaced had
 * counted); the last-run hashes and the counter totals are written once at
 * the end. ARGV (after ScriptCall's interned strings): n runs, the save's
 * and the record's setup, per run its save's and its record's arguments,
 * then the record's end. Returns each run's save result.
 */
const WRITE_RUNS_SCRIPT = `${SCRIPT_CALL_PRELUDE_LUA}
${SAVE_RUN_LUA}
${RECORD_EVENTS_LUA}
local n = tonumber(ARGV[argsStart])
local s, i = saveSetup(argsStart + 1)
local r
r, i = recordSetup(i)
local saved = {}
for run = 1, n do
  local counted
  saved[run], i, counted = saveRun(s, i)
  i = recordEvents(r, i, saved[run] == 1 and counted)
end
saveEnd(s)
recordEnd(r, i)
return saved`;

/** Runs written by one command at most. */
const MAX_BATCH_RUNS = 500;

type WriteRunsRedis = Redis & { tideflowWriteRuns(args: Array<string | number>): Promise<number[]> };

/** The writes of one tick: one script call, answered for all of them at once. */
interface Batch {
  call: ScriptCall;
  /** Where the number of runs goes (known at the end). */
  countAt: number;
  runs: number;
  written: Promise<void>;
  answer(saved: Promise<number[]>): void;
}

/**
 * What the runner writes about an attempt: its run record and the run
 * events it counts in the cluster-wide metrics, in one command (all or
 * nothing), so a run the history shows in a state has that state's events
 * counted. Each event still counts once per (run, attempt, event), whoever
 * writes it and however often: the record a write replaces says how far its
 * run is counted (run-progress.ts), and a write behind it changes nothing.
 * A finished attempt's write carries its "started" too, counted then if the
 * run was too short to get a write of its own while it ran.
 *
 * Writes made in one tick leave together, as one command (group commit): a
 * worker finishes its runs in bursts (one reply from Redis starts many), and
 * a command per run cost more than the run's own data (node's and Redis's CPU
 * per command, see bench/engine.bench.ts). A runner awaits `sent()` before it
 * returns a run to BullMQ, so the write is on the connection before BullMQ's
 * completion of the job, which Redis then runs after it (one connection runs
 * its commands in order): a run BullMQ calls completed has its record.
 */
export class RunLedger {
  private batch?: Batch;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly history: RunHistory,
    private readonly store: RedisClusterMetricStore,
    private readonly metrics: RunIncrements,
    private readonly log: Logger,
  ) {
    // EVALSHA after the first call (ioredis caches the script, and sends it again after a restart emptied Redis's cache).
    if (!('tideflowWriteRuns' in redis)) redis.defineCommand('tideflowWriteRuns', { lua: WRITE_RUNS_SCRIPT });
  }

  /**
   * Saves the record (with `io` beside it) and counts the events (all of
   * this run; `from` counts the plugin's part of a success). Resolves once
   * written; the command leaves at the end of this tick (see `sent`).
   */
  write(run: RunRecord, events: readonly RunEvent[], opts: { io?: RunIoToSave; from?: CountingPlugin } = {}): Promise<void> {
    const counted: EventIncrements[] = [];
    try {
      for (const e of events) counted.push(this.metrics.eventIncrements(e, opts.from));
    } catch (err) {
      this.uncounted(run, err);
      counted.length = 0;
    }
    return this.queue(run, counted, opts.io);
  }

  /** Saves a record that no attempt made (a skipped fire, a run's first wait) with what it counts. */
  writeCounted(run: RunRecord, counted: EventIncrements): Promise<void> {
    return this.queue(run, [counted]);
  }

  /**
   * Resolves once every write made so far is on the connection (not yet
   * answered): a command sent after that runs after them in Redis.
   */
  sent(): Promise<void> {
    return this.sending;
  }

  private queue(run: RunRecord, counted: EventIncrements[], io?: RunIoToSave): Promise<void> {
    const batch = this.batch ?? this.startBatch();
    const { call } = batch;
    let count: RunCountArgument;
    try {
      count = this.store.runCount(call, run.id, counted);
    } catch (err) {
      this.uncounted(run, err);
      count = NOTHING_COUNTED;
    }
    this.history.addSaveCall(call, run, { io, progress: count.progress });
    call.args.push(count.arg);
    // A burst larger than this goes in several commands (still in order, all sent by the end of the tick): a script blocks Redis while it runs.
    if (++batch.runs >= MAX_BATCH_RUNS) this.batch = undefined;
    return batch.written;
  }

  /** A count that cannot be made never stops the record. */
  private uncounted(run: RunRecord, err: unknown): void {
    this.log.warn({ err: errorMessage(err), run: run.id }, 'metrics: could not record a run event');
  }

  /** A new batch, sent at the end of this tick: every write made until then goes in it. */
  private startBatch(): Batch {
    const call = new ScriptCall();
    const countAt = call.args.push(0) - 1;
    this.history.addSaveSetup(call);
    let answer!: (saved: Promise<number[]>) => void;
    const written = new Promise<number[]>((resolve) => (answer = resolve)).then((saved) => {
      // Written: the history's bounds are applied every so often (not these writes' failure if that fails).
      const n = saved.reduce((sum, s) => sum + (s === 1 ? 1 : 0), 0);
      if (n) this.history.saved(n).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'history: could not apply its bounds'));
    });
    // A batch nobody waits for (every writer gone) must not be an unhandled rejection; its writers see it through `written`.
    written.catch(() => undefined);
    const batch: Batch = (this.batch = { call, countAt, runs: 0, written, answer });
    this.sending = new Promise<void>((sentNow) =>
      process.nextTick(() => {
        if (this.batch === batch) this.batch = undefined;
        this.send(batch);
        sentNow();
      }),
    );
    return batch;
  }

  /** Sends a batch as one command; its writers' promise settles with the answer. */
  private send(batch: Batch): void {
    const { call } = batch;
    call.args[batch.countAt] = batch.runs;
    this.store.addRecordEnd(call);
    try {
      batch.answer((this.redis as WriteRunsRedis).tideflowWriteRuns(call.commandArgs()));
    } catch (err) {
      batch.answer(Promise.reject(err));
    }
  }
}
