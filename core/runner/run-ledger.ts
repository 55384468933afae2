import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { RunEvent } from '../control/engine-events.js';
import { SAVE_RUN_SCRIPT, type RunHistory, type RunIoToSave } from '../history/run-history.js';
import type { RunRecord } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';
import type { EventIncrements } from '../metrics/cluster-metric-store.js';
import { RECORD_EVENTS_SCRIPT, type RedisClusterMetricStore } from '../metrics/redis-cluster-metric-store.js';
import type { ScriptCall } from '../redis/script-call.js';
import type { CountingPlugin, RunMetricsRecorder } from '../metrics/run-metrics.js';
import { errorMessage } from '../util/error-message.js';

/**
 * The history's save and the metrics' record in one atomic command: each
 * script's own text, its KEYS and ARGV rebound to its share of the call's.
 * ARGV[1], ARGV[2]: how many KEYS and ARGV the save takes (first); the
 * rest are the record's. Returns the save's result.
 */
const WRITE_RUN_SCRIPT = `
local function recordEvents(KEYS, ARGV)
${RECORD_EVENTS_SCRIPT}
end
local function saveRun(KEYS, ARGV)
${SAVE_RUN_SCRIPT}
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local sk, sa, rk, ra = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= nk then sk[i] = KEYS[i] else rk[i - nk] = KEYS[i] end
end
for i = 3, #ARGV do
  if i - 2 <= na then sa[i - 2] = ARGV[i] else ra[i - 2 - na] = ARGV[i] end
end
if #rk > 0 then recordEvents(rk, ra) end
return saveRun(sk, sa)`;

type WriteRunRedis = Redis & { tideflowWriteRun(numKeys: number, ...args: Array<string | number>): Promise<number> };

/**
 * What the runner writes about an attempt: its run record and the run
 * events it counts in the cluster-wide metrics, in one command (one round
 * trip, all or nothing), so a run the history shows in a state has that
 * state's events counted. Each event still counts once per (run, attempt,
 * event), whoever writes it and however often: a finished attempt's write
 * carries its "started" too, counted then if the run was too short to get
 * a write of its own while it ran.
 */
export class RunLedger {
  private holding = false;

  constructor(
    private readonly redis: Redis,
    private readonly history: RunHistory,
    private readonly store: RedisClusterMetricStore,
    private readonly metrics: RunMetricsRecorder,
    private readonly log: Logger,
  ) {
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowWriteRun' in redis)) redis.defineCommand('tideflowWriteRun', { lua: WRITE_RUN_SCRIPT });
  }

  /**
   * Holds the connection's socket writes until the current tick's promise
   * jobs are done: the write and BullMQ's completion of the job that comes
   * right after it (and those of every other run that ends in this tick)
   * leave in one socket write, not one system call each.
   */
  private holdWritesForThisTick(): void {
    const stream = (this.redis as unknown as { stream?: Writable }).stream;
    if (this.holding || this.redis.status !== 'ready' || !stream?.writable) return;
    this.holding = true;
    stream.cork();
    process.nextTick(() => {
      this.holding = false;
      stream.uncork();
    });
  }

  /**
   * Saves the record (with `io` beside it) and counts the events (all of
   * this run; `from` counts the plugin's part of a success).
   */
  async write(run: RunRecord, events: readonly RunEvent[], opts: { io?: RunIoToSave; from?: CountingPlugin } = {}): Promise<void> {
    const { from } = opts;
    const call = this.saveCall(run, opts.io);
    try {
      const counted: EventIncrements[] = [];
      for (const e of events) counted.push(this.metrics.eventIncrements(e, from));
      this.store.addRecordCall(call, run.id, counted);
    } catch (err) {
      // As RunMetricsRecorder.record: a count that cannot be made never stops the record.
      this.log.warn({ err: errorMessage(err), run: run.id }, 'metrics: could not record a run event');
    }
    await this.send(call);
  }

  /** Saves a record that no attempt made (a skipped fire, a run's first wait) with what it counts. */
  async writeCounted(run: RunRecord, counted: EventIncrements): Promise<void> {
    const call = this.saveCall(run);
    this.store.addRecordCall(call, run.id, [counted]);
    await this.send(call);
  }

  /** The script call with the record's save in it; ARGV[1], ARGV[2] say how many keys and arguments are the save's. */
  private saveCall(run: RunRecord, io?: RunIoToSave): ScriptCall {
    const call: ScriptCall = { keys: [], args: [0, 0] };
    this.history.addSaveCall(call, run, { io });
    call.args[0] = call.keys.length;
    call.args[1] = call.args.length - 2;
    return call;
  }

  private async send(call: ScriptCall): Promise<void> {
    this.holdWritesForThisTick();
    if ((await (this.redis as WriteRunRedis).tideflowWriteRun(call.keys.length, ...call.keys, ...call.args)) !== 1) return;
    // Written: the history's bounds are applied every so often (not this write's failure if that fails).
    await this.history.saved().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'history: could not apply its bounds'));
  }
}
