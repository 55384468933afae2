import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { SCRIPT_CALL_PRELUDE_LUA, ScriptCall } from '../redis/script-call.js';
import { labelSetKey, type ClusterMetricStore, type EventIncrements, type RunEventId, type SampleIncrement, type StoredSample } from './cluster-metric-store.js';

/**
 * Lua that records run events' increments, each event once: the events of
 * a run's attempt are marked in one field of the marker hash of the run's
 * slice of queue time (EngineKeys.metricsCounted: field `<run id>
 * <attempt>`, value the events counted, space-separated) and an event's
 * increments are added only if it was not marked before. Written as
 * functions that scripts recording for one run, a batch, or more with them
 * call (RunLedger). Arguments come in ARGV (see ScriptCall), read from
 * position `i`; each function returns the next position.
 *
 * - `recordSetup(i)`: once per call: the markers' TTL (s).
 * - `recordEvents(r, i, runId)`: per run, one argument packed
 *   (space-separated): `0` when the run has no events, else the KEYS index
 *   of the marker hash, its events' shape (interned: the attempt, then per
 *   event its name and its plan, interned: a space-separated triple per
 *   increment: KEYS index of the sample hash, interned field (label set),
 *   amount or `*`), then the amount of each `*` in order. The runs of a job
 *   share their shapes and plans: a run sends only what varies (a
 *   duration). `runId` is the run's id (the caller has it), or false to
 *   record nothing. The runs are only gathered here.
 * - `recordEnd(r)`: once at the end: per marker hash, the gathered runs'
 *   fields looked up in one HMGET and the new events marked in one HSET
 *   (the hash's TTL renewed); their plans' increments summed per (hash,
 *   field), one HINCRBYFLOAT each. An event twice in one call counts once.
 *   A batch of runs of one job costs a handful of commands, and per run one
 *   field and a few table entries. Returns how many events were recorded
 *   now (the others were before).
 */
export const RECORD_EVENTS_LUA = `
local function recordSetup(i)
  return { ttl = ARGV[i], plans = {}, shapes = {}, marks = {} }, i + 1
end
local function recordPlan(r, index)
  local plan = r.plans[index]
  if plan then return plan end
  plan = { vars = 0, count = 0, sums = {}, asSent = {} }
  for k, f, amount in string.gmatch(ARGV[1 + index], '(%d+) (%d+) (%S+)') do
    if amount == '*' then
      plan.vars = plan.vars + 1
      amount = plan.vars
    end
    plan[#plan + 1] = { KEYS[tonumber(k)], ARGV[1 + tonumber(f)], amount }
  end
  for v = 1, plan.vars do plan.sums[v] = 0 end
  r.plans[index] = plan
  return plan
end
local function recordShape(r, index)
  local shape = r.shapes[index]
  if shape then return shape end
  local nextWord = string.gmatch(ARGV[1 + index], '%S+')
  shape = { attempt = nextWord(), names = {}, plans = {}, vars = 0 }
  for name in nextWord do
    local plan = recordPlan(r, tonumber(nextWord()))
    shape.names[#shape.names + 1] = name
    shape.plans[#shape.plans + 1] = plan
    shape.vars = shape.vars + plan.vars
  end
  shape.value = table.concat(shape.names, ' ')
  r.shapes[index] = shape
  return shape
end
local function recordEvents(r, i, runId)
  if not runId then return i + 1 end
  local markerAt, shapeAt, amounts = string.match(ARGV[i], '^(%d+) (%d+) ?(.*)$')
  if not markerAt then return i + 1 end
  local marks = r.marks[markerAt]
  if not marks then
    marks = { fields = {}, shapes = {}, amounts = {}, seen = {} }
    r.marks[markerAt] = marks
  end
  local shape = recordShape(r, tonumber(shapeAt))
  local field = runId .. ' ' .. shape.attempt
  local m = #marks.fields + 1
  marks.fields[m], marks.shapes[m], marks.amounts[m] = field, shape, amounts
  if marks.seen[field] then marks.again = true else marks.seen[field] = true end
  return i + 1
end
-- A run's events not in \`marked\` (its field's value, or false): their plans counted, their amounts summed. Returns the field's new value and how many were new.
local function recordRun(shape, amounts, marked)
  local nextAmount
  if shape.vars > 1 then nextAmount = string.gmatch(amounts, '%S+') end
  local value, added = marked, 0
  for e = 1, #shape.names do
    local plan, name = shape.plans[e], shape.names[e]
    local new = not marked or not string.find(' ' .. marked .. ' ', ' ' .. name .. ' ', 1, true)
    if new then
      plan.count = plan.count + 1
      added = added + 1
      value = value and (value .. ' ' .. name) or name
    end
    for v = 1, plan.vars do
      local amount = nextAmount and nextAmount() or amounts
      if new then
        plan.sums[v] = plan.sums[v] + tonumber(amount)
        plan.asSent[v] = amount
      end
    end
  end
  return value, added
end
local function recordEnd(r)
  local recorded = 0
  for markerAt, marks in pairs(r.marks) do
    local key, fields, marked = KEYS[tonumber(markerAt)], marks.fields, false
    -- A field twice in this call: the later run sees what the earlier one marked.
    local now = marks.again and {} or nil
    -- In slices: unpack is bounded by Lua's stack (~8,000 values).
    for first = 1, #fields, 1000 do
      local last = math.min(first + 999, #fields)
      local known = redis.call('HMGET', key, unpack(fields, first, last))
      local new = {}
      for m = first, last do
        local field, shape = fields[m], marks.shapes[m]
        local before = known[m - first + 1]
        if now and now[field] ~= nil then before = now[field] end
        local value, added = recordRun(shape, marks.amounts[m], before)
        if added > 0 then
          if now then now[field] = value end
          new[#new + 1] = field
          new[#new + 1] = value
          recorded = recorded + added
        end
      end
      if #new > 0 then
        redis.call('HSET', key, unpack(new))
        marked = true
      end
    end
    if marked then redis.call('EXPIRE', key, r.ttl) end
  end
  -- The plans' increments, summed per (hash, field): a fixed amount times the events counted, a varying one as summed.
  local sums, asSent = {}, {}
  for _, plan in pairs(r.plans) do
    if plan.count > 0 then
      for _, inc in ipairs(plan) do
        local key, field, amount = inc[1], inc[2], inc[3]
        local value, sent
        if type(amount) == 'number' then
          value = plan.sums[amount]
          if plan.count == 1 then sent = plan.asSent[amount] end
        else
          value = tonumber(amount) * plan.count
          if plan.count == 1 then sent = amount end
        end
        sums[key] = sums[key] or {}
        asSent[key] = asSent[key] or {}
        local sum = sums[key][field]
        if sum then
          sums[key][field] = sum + value
          asSent[key][field] = false
        else
          sums[key][field] = value
          asSent[key][field] = sent or false
        end
      end
    end
  end
  for key, fields in pairs(sums) do
    for field, sum in pairs(fields) do
      -- One amount goes as it came; a sum in full precision (17 digits round-trip a double).
      redis.call('HINCRBYFLOAT', key, field, asSent[key][field] or string.format('%.17g', sum))
    end
  end
  return recorded
end`;

/** One run's events recorded on their own (RedisClusterMetricStore.record). */
export const RECORD_EVENTS_SCRIPT = `${SCRIPT_CALL_PRELUDE_LUA}
${RECORD_EVENTS_LUA}
local r, i = recordSetup(argsStart)
recordEvents(r, i + 1, ARGV[i])
return recordEnd(r)`;

/**
 * How much queue time one marker hash covers (EngineKeys.metricsCounted):
 * the runs of a batch share one or two, and a busy cluster's hash stays
 * small enough to expire without holding Redis up.
 */
export const METRICS_MARK_SLICE_MS = 10_000;

type RecordRedis = Redis & { tideflowRecordMetricEvents(args: Array<string | number>): Promise<number> };

/**
 * Whether two lists of increments have one plan: the same samples and the
 * same frozen label set objects (one that could change since is never taken
 * as the same), each amount fixed at 1 or varying alike.
 */
function samePlan(a: readonly SampleIncrement[], b: readonly SampleIncrement[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.sample !== y.sample || x.labels !== y.labels || (x.by === 1) !== (y.by === 1) || !Object.isFrozen(x.labels)) return false;
  }
  return true;
}

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
 * metricsCounted): a hash per sample name, fields = label sets, values =
 * sums; marker hashes (a field per run attempt) make each (run, attempt,
 * event) count once.
 */
export class RedisClusterMetricStore implements ClusterMetricStore {
  private readonly markerTtlSeconds: number;
  private readonly sampleKeys = new Map<string, string>();
  /** Per call being built: its interned plans, found again without building their strings. */
  private readonly plans = new WeakMap<ScriptCall, Array<{ increments: readonly SampleIncrement[]; index: number }>>();

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
    call.args.push(event.runId);
    this.addRecordCall(call, event.runId, [{ event, increments }]);
    return (await (this.redis as RecordRedis).tideflowRecordMetricEvents(call.commandArgs())) > 0;
  }

  /** Adds recordSetup's arguments (RECORD_EVENTS_LUA) to `call`: once per call, before its runs. */
  addRecordSetup(call: ScriptCall): void {
    call.args.push(this.markerTtlSeconds);
  }

  /**
   * Adds recordEvents' arguments (RECORD_EVENTS_LUA) for events of one run's
   * attempt to `call` (no events: the run counts nothing; an event named
   * twice counts its first). Throws, adding nothing, on an amount that is
   * not a finite number, or events of another run, of other attempts, or
   * that disagree on the run's queue time.
   */
  addRecordCall(call: ScriptCall, runId: string, events: readonly EventIncrements[]): void {
    const first = events[0]?.event;
    for (const { event, increments } of events) {
      if (event.runId !== runId) throw new Error(`metrics: event of run ${event.runId} recorded with run ${runId}`);
      if (event.queuedAt !== first!.queuedAt || !Number.isFinite(event.queuedAt)) throw new Error(`metrics: run ${runId} has no queue time its events agree on (${first!.queuedAt}, ${event.queuedAt})`);
      if (event.attempt !== first!.attempt) throw new Error(`metrics: events of attempts ${first!.attempt} and ${event.attempt} of run ${runId} recorded together`);
      for (const { sample, by } of increments) if (!Number.isFinite(by)) throw new Error(`metrics: ${sample} cannot be increased by ${by}`);
    }
    if (!first) {
      call.args.push('0');
      return;
    }
    let shape = String(first.attempt);
    let amounts = '';
    const named: string[] = [];
    for (const { event, increments } of events) {
      if (named.includes(event.event)) continue;
      named.push(event.event);
      shape += ` ${event.event} ${this.planIndex(call, increments)}`;
      for (const { by } of increments) if (by !== 1) amounts += ` ${by}`;
    }
    call.args.push(`${call.key(this.keys.metricsCounted(Math.floor(first.queuedAt / METRICS_MARK_SLICE_MS)))} ${call.intern(shape)}${amounts}`);
  }

  /**
   * The interned plan of these increments in `call` (see RECORD_EVENTS_LUA).
   * The runs of a job count the same label sets of the same samples (only
   * an amount varies; the engine's label sets are frozen objects made once,
   * see run-metrics.ts): a plan seen in this call is found by comparing
   * sample, label set object and fixed-or-varying, without building its
   * string again.
   */
  private planIndex(call: ScriptCall, increments: readonly SampleIncrement[]): number {
    let plans = this.plans.get(call);
    if (!plans) this.plans.set(call, (plans = []));
    for (const plan of plans) if (samePlan(plan.increments, increments)) return plan.index;
    let text = '';
    for (const { sample, labels, by } of increments) text += `${call.key(this.sampleKey(sample))} ${call.intern(labelSetKey(labels))} ${by === 1 ? '1' : '*'} `;
    const index = call.intern(text);
    // A few plans per call (one per job, event and status): bounded all the same.
    if (plans.length < 32) plans.push({ increments, index });
    return index;
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
