import { Type, type Static } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';

/** Lines kept per run (the newest); older ones are dropped and counted. */
export const RUN_LOG_MAX_LINES = 500;
/** Bytes of one stored line (its JSON) at most; a longer one is cut and says its original size. */
export const RUN_LOG_MAX_LINE_BYTES = 2048;

export const RunLogLineSchema = Type.Object(
  {
    t: Type.Number({ description: 'ms since epoch' }),
    level: Type.String({ description: 'fatal, error, warn, info, debug or trace' }),
    attempt: Type.Integer({ description: 'The attempt that logged it (1 is the first)' }),
    msg: Type.String(),
    fields: Type.Optional(
      Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true, description: "The call's fields (errors as their message)" }),
    ),
    truncated: Type.Optional(
      Type.Integer({ description: `The line was longer than ${RUN_LOG_MAX_LINE_BYTES} bytes (this many): msg holds its message and fields' text, cut` }),
    ),
  },
  { additionalProperties: true },
);
export type RunLogLine = Static<typeof RunLogLineSchema>;

export const RunLogsSchema = Type.Object({
  runId: Type.String(),
  lines: Type.Array(RunLogLineSchema, { description: 'Oldest first: every attempt, in order' }),
  total: Type.Integer({ description: 'Lines the run has logged in all' }),
  dropped: Type.Integer({ description: `Earlier lines dropped: only the newest ${RUN_LOG_MAX_LINES} are kept` }),
});
export type RunLogs = Static<typeof RunLogsSchema>;

/**
 * Appends a batch of lines and keeps the newest, all in one command.
 * KEYS: log list, count of lines logged. ARGV: max lines, ttl seconds, lines
 * logged in this batch (with those the buffer already dropped), lines...
 */
const APPEND_SCRIPT = `
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
redis.call('INCRBY', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1`;

type AppendRedis = Redis & { tideflowAppendRunLog(...args: Array<string | number>): Promise<number> };

/**
 * What a run logged (through `ctx.log`), kept beside its record: a capped
 * Redis list of JSON lines and a count of every line logged, both expiring
 * with the record.
 */
export class RunLogStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    private readonly ttlSec: number,
    readonly maxLines = RUN_LOG_MAX_LINES,
  ) {
    if (!('tideflowAppendRunLog' in redis)) redis.defineCommand('tideflowAppendRunLog', { numberOfKeys: 2, lua: APPEND_SCRIPT });
  }

  /** Appends lines (JSON each, at most `maxLines`); `logged` counts them with any the caller dropped before sending. */
  async append(runId: string, lines: string[], logged = lines.length): Promise<void> {
    if (!lines.length && !logged) return;
    if (!lines.length) {
      await this.redis.multi().incrby(this.keys.runLogCount(runId), logged).expire(this.keys.runLogCount(runId), this.ttlSec).exec();
      return;
    }
    const batch = lines.length > this.maxLines ? lines.slice(-this.maxLines) : lines;
    await (this.redis as AppendRedis).tideflowAppendRunLog(this.keys.runLog(runId), this.keys.runLogCount(runId), this.maxLines, this.ttlSec, logged, ...batch);
  }

  /** The kept lines, oldest first, with the count of every line logged and of those dropped. */
  async read(runId: string): Promise<Omit<RunLogs, 'runId'>> {
    const [lines, count] = await Promise.all([this.redis.lrange(this.keys.runLog(runId), 0, -1), this.redis.get(this.keys.runLogCount(runId))]);
    const total = Math.max(Number(count ?? 0) || 0, lines.length);
    return { lines: lines.map(parseLine), total, dropped: total - lines.length };
  }

  /** The keys of a run's log, for whoever drops the run. */
  keysOf(runId: string): string[] {
    return [this.keys.runLog(runId), this.keys.runLogCount(runId)];
  }
}

/** A stored line; one that is not JSON (written by hand) is shown as its text. */
function parseLine(raw: string): RunLogLine {
  try {
    const line = JSON.parse(raw) as RunLogLine;
    if (line && typeof line === 'object' && typeof line.msg === 'string') return line;
  } catch {
    // fall through
  }
  return { t: 0, level: 'info', attempt: 0, msg: raw };
}
