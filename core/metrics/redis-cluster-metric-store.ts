import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { SCRIPT_CALL_PRELUDE_LUA, ScriptCall } from '../redis/script-call.js';
import { labelSetKey, type ClusterMetricStore, type EventIncrements, type RunEventId, type SampleIncrement, type StoredSample } from './cluster-metric-store.js';

/**
 * Lua that records run events' increments, each event once: marks the
 * event in the run's marker hash (HSETNX) and, only if it was not there,
 * adds its increments, as functions that scripts recording for one run, a
 * batch, or more with them call (RunLedger). Arguments come in ARGV (see
 * ScriptCall), read from position `i`; each function returns the next position.
 *
 * - `recordSetup(i)`: once per call: the markers' TTL (s).
 * - `recordEvents(r, i, apply)`: per run, one argument packed (see
 *   `words`): KEYS index of the run's marker hash (0 when it has no
 *   events), the number of events, then per event: its marker field
 *   (`<attempt>:<event>`, interned), its plan (interned: a space-separated
 *   triple per increment: KEYS index of the sample hash, interned field
 *   (label set), amount or `*`), then the amount of each `*` in order. Runs
 *   of one job share their plans: a run sends only what varies (a
 *   duration). With `apply` false nothing is recorded. Returns how many of
 *   the events were recorded now (the others were before).
 * - `recordEnd(r)`: once at the end: the amounts recorded, summed per (hash,
 *   field), one HINCRBYFLOAT each: a batch of runs of one job costs a
 *   handful of increments, not five per run.
 */
export const RECORD_EVENTS_LUA = `
local function recordSetup(i)
  return { ttl = ARGV[i], sums = {}, plans = {} }, i + 1
end
local function recordPlan(r, index)
  local plan = r.plans[index]
  if plan then return plan end
  plan = { vars = 0 }
  for k, f, amount in string.gmatch(ARGV[1 + index], '(%d+) (%d+) (%S+)') do
    if amount == '*' then
      plan.vars = plan.vars + 1
      amount = nil
    end
    plan[#plan + 1] = { KEYS[tonumber(k)], ARGV[1 + tonumber(f)], amount }
  end
  r.plans[index] = plan
  return plan
end
local function recordEvents(r, i, apply)
  if not apply then return 0, i + 1 end
  local t = words(ARGV[i])
  local marker, recorded, k = KEYS[tonumber(t[1])], 0, 3
  for _ = 1, tonumber(t[2]) do
    local plan = recordPlan(r, tonumber(t[k + 1]))
    local v = k + 2
    if redis.call('HSETNX', marker, ARGV[1 + tonumber(t[k])], '1') == 1 then
      recorded = recorded + 1
      for _, inc in ipairs(plan) do
        local amount = inc[3]
        if not amount then
          amount = t[v]
          v = v + 1
        end
        local fields = r.sums[inc[1]] or {}
        r.sums[inc[1]] = fields
        local sum = fields[inc[2]]
        if sum then fields[inc[2]] = { sum[1] + tonumber(amount) } else fields[inc[2]] = { tonumber(amount), amount } end
      end
    end
    k = k + 2 + plan.vars
  end
  if recorded > 0 then redis.call('EXPIRE', marker, r.ttl) end
  return recorded, i + 1
end
local function recordEnd(r)
  for key, fields in pairs(r.sums) do
    for field, sum in pairs(fields) do
      -- One amount goes as it came; a sum in full precision (17 digits round-trip a double).
      redis.call('HINCRBYFLOAT', key, field, sum[2] or string.format('%.17g', sum[1]))
    end
  end
end`;

/** One run's events recorded on their own (RedisClusterMetricStore.record). */
export const RECORD_EVENTS_SCRIPT = `${SCRIPT_CALL_PRELUDE_LUA}
${RECORD_EVENTS_LUA}
local r, i = recordSetup(argsStart)
local recorded = recordEvents(r, i, true)
recordEnd(r)
return recorded`;

type RecordRedis = Redis & { tideflowRecordMetricEvents(args: Array<string | number>): Promise<number> };

/** The label set of a hash field written by labelSetKey; undefined for anything else. */
function parseLabelSetKey(field: string): Record<string, string> | undefined {
  try {
    const pairs: unknown = JSON.parse(field);
    if (!Array.isArray(pairs)) return undefined;
    const labels: Record<string, string> = {};
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return undefined;
      labels[pair[0]] = pair[1];
    }
    return labels;
  } catch {
    return undefined;
  }
}

export interface RedisClusterMetricStoreOptions {
  /** How long a run's marker outlives its last recorded event. Default 1 day. */
  markerTtlSeconds?: number;
}

/**
 * The cluster-wide metrics in Redis (see EngineKeys.metricSamples and
 * metricsRecorded): a hash per sample name, fields = label sets, values =
 * sums; a marker hash per run makes each (run, attempt, event) count once.
 */
export class RedisClusterMetricStore implements ClusterMetricStore {
  private readonly markerTtlSeconds: number;
  private readonly sampleKeys = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    opts: RedisClusterMetricStoreOptions = {},
  ) {
    this.markerTtlSeconds = opts.markerTtlSeconds ?? 86_400;
    // EVALSHA after the first call (ioredis caches the script).
    if (!('tideflowRecordMetricEvents' in redis)) redis.defineCommand('tideflowRecordMetricEvents', { lua: RECORD_EVENTS_SCRIPT });
  }

  async record(event: RunEventId, increments: readonly SampleIncrement[]): Promise<boolean> {
    const call = new ScriptCall();
    this.addRecordSetup(call);
    this.addRecordCall(call, event.runId, [{ event, increments }]);
    return (await (this.redis as RecordRedis).tideflowRecordMetricEvents(call.commandArgs())) === 1;
  }

  /** Adds recordSetup's arguments (RECORD_EVENTS_LUA) to `call`: once per call, before its runs. */
  addRecordSetup(call: ScriptCall): void {
    call.args.push(this.markerTtlSeconds);
  }

  /**
   * Adds recordEvents' arguments (RECORD_EVENTS_LUA) for events of one run
   * to `call` (no events: the run counts nothing). Throws, adding nothing,
   * on an amount that is not a finite number or an event of another run.
   */
  addRecordCall(call: ScriptCall, runId: string, events: readonly EventIncrements[]): void {
    for (const { event, increments } of events) {
      if (event.runId !== runId) throw new Error(`metrics: event of run ${event.runId} recorded with run ${runId}`);
      for (const { sample, by } of increments) if (!Number.isFinite(by)) throw new Error(`metrics: ${sample} cannot be increased by ${by}`);
    }
    if (!events.length) {
      call.args.push('0 0');
      return;
    }
    let packed = `${call.ownKey(this.keys.metricsRecorded(runId))} ${events.length}`;
    for (const { event, increments } of events) {
      let plan = '';
      let amounts = '';
      for (const { sample, labels, by } of increments) {
        plan += `${call.key(this.sampleKey(sample))} ${call.intern(labelSetKey(labels))} ${by === 1 ? '1' : '*'} `;
        if (by !== 1) amounts += ` ${by}`;
      }
      packed += ` ${call.intern(`${event.attempt}:${event.event}`)} ${call.intern(plan)}${amounts}`;
    }
    call.args.push(packed);
  }

  /** The hash of a sample name (a handful of names: built once each). */
  private sampleKey(sample: string): string {
    let key = this.sampleKeys.get(sample);
    if (key === undefined) this.sampleKeys.set(sample, (key = this.keys.metricSamples(sample)));
    return key;
  }

  async read(sample: string): Promise<StoredSample[]> {
    const all = await this.redis.hgetall(this.keys.metricSamples(sample));
    const out: StoredSample[] = [];
    for (const [field, raw] of Object.entries(all)) {
      const labels = parseLabelSetKey(field);
      const value = Number(raw);
      // A field not written by record() (by hand, another version): not ours to show.
      if (labels && Number.isFinite(value)) out.push({ labels, value });
    }
    return out;
  }
}
