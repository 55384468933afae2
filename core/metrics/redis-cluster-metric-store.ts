import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import type { ScriptCall } from '../redis/script-call.js';
import { runProgress } from '../history/run-progress.js';
import { labelSetKey, type ClusterMetricStore, type EventIncrements, type SampleIncrement, type StoredSample } from './cluster-metric-store.js';

/**
 * Lua that counts the events of runs saved in the same call (RunLedger),
 * each (run, attempt, event) once: the record a save replaced says how far
 * its run's events were counted (run-progress.ts), and only the events past
 * that count. Written as functions the batch script calls; arguments come in
 * ARGV (see ScriptCall), read from position `i`; each returns the next.
 *
 * - `recordSetup(i)`: once per call (no arguments).
 * - `recordEvents(r, i, counted)`: per run, after its save: one argument,
 *   `0` when the run counts nothing, else its events' shape (interned: per
 *   event its progress and its plan, interned: a space-separated triple per
 *   increment: KEYS index of the sample hash, interned field (label set),
 *   amount or `*`) then the amount of each `*` in order, space-separated.
 *   `counted` is what the save returned (how far the run was counted
 *   before), or false when it saved nothing (then nothing counts).
 * - `recordEnd(r, i)`: once at the end: one argument, the call's totals
 *   that the caller summed over every run as if all their events were new,
 *   a triple per (hash, field): KEYS index, interned field, amount. When
 *   they are (the usual case: a run is written once, or its later writes
 *   carry later events), they are added as sent, one HINCRBYFLOAT each, and
 *   a run costs this script a table entry or two. Otherwise each run's new
 *   events are summed here from its shape and amounts, per (hash, field).
 */
export const RECORD_EVENTS_LUA = `
local function recordSetup(i)
  return { plans = {}, shapes = {}, at = {}, counted = {}, n = 0, recount = false }, i
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
  shape = { progress = {}, plans = {}, vars = 0 }
  for progress in nextWord do
    local e = #shape.plans + 1
    shape.progress[e] = tonumber(progress)
    shape.plans[e] = recordPlan(r, tonumber(nextWord()))
    shape.vars = shape.vars + shape.plans[e].vars
    if not shape.first or shape.progress[e] < shape.first then shape.first = shape.progress[e] end
  end
  r.shapes[index] = shape
  return shape
end
local function recordEvents(r, i, counted)
  local arg = ARGV[i]
  if arg == '0' then return i + 1 end
  -- Not saved: it counts nothing, so the totals (which count it) do not hold.
  if not counted then
    r.recount = true
    return i + 1
  end
  if recordShape(r, tonumber(string.match(arg, '^%d+'))).first <= counted then r.recount = true end
  local n = r.n + 1
  r.n, r.at[n], r.counted[n] = n, i, counted
  return i + 1
end
-- A run's events past \`counted\`: their plans counted, their amounts summed.
local function recordRun(shape, amounts, counted)
  local nextAmount
  if shape.vars > 1 then nextAmount = string.gmatch(amounts, '%S+') end
  for e = 1, #shape.plans do
    local plan = shape.plans[e]
    local new = shape.progress[e] > counted
    if new then plan.count = plan.count + 1 end
    for v = 1, plan.vars do
      local amount = nextAmount and nextAmount() or amounts
      if new then
        plan.sums[v] = plan.sums[v] + tonumber(amount)
        plan.asSent[v] = amount
      end
    end
  end
end
local function recordEnd(r, i)
  if not r.recount then
    for k, f, amount in string.gmatch(ARGV[i], '(%d+) (%d+) (%S+)') do
      redis.call('HINCRBYFLOAT', KEYS[tonumber(k)], ARGV[1 + tonumber(f)], amount)
    end
    return i + 1
  end
  for n = 1, r.n do
    local shapeAt, amounts = string.match(ARGV[r.at[n]], '^(%d+) ?(.*)$')
    recordRun(recordShape(r, tonumber(shapeAt)), amounts, r.counted[n])
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
  return i + 1
end`;

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

/** One plan of a call: its increments (found again by samePlan), its interned text, and what its runs add (the call's totals). */
interface PlanTotals {
  increments: readonly SampleIncrement[];
  index: number;
  /** Per increment: KEYS index of its hash and interned field, and for a varying amount its place in `sums`. */
  parts: Array<{ key: number; field: number; varying: number }>;
  /** Events counted with this plan in the call so far. */
  count: number;
  /** The varying amounts summed, in the order of the runs. */
  sums: number[];
}

/** What a run of a batch counts: its argument for recordEvents, and how far the write takes its run (runProgress), if it counts events. */
export interface RunCountArgument {
  arg: string;
  progress?: number;
}

/** A run that counts nothing. */
export const NOTHING_COUNTED: RunCountArgument = { arg: '0' };

/**
 * The cluster-wide metrics in Redis (see EngineKeys.metricSamples): a hash
 * per sample name, fields = label sets, values = sums. The events of a run
 * are counted with its record (RunLedger), which says how far they are
 * counted (run-progress.ts): each (run, attempt, event) counts once.
 */
export class RedisClusterMetricStore implements ClusterMetricStore {
  private readonly sampleKeys = new Map<string, string>();
  /** Per call being built: its plans, found again without building their strings, with their totals. */
  private readonly plans = new WeakMap<ScriptCall, PlanTotals[]>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
  ) {}

  /**
   * The recordEvents argument (RECORD_EVENTS_LUA) of one run's events of
   * one attempt, counted in the call's totals (see addRecordEnd): no events,
   * the run counts nothing; an event named twice counts its first. Throws,
   * counting nothing, on an amount that is not a finite number, or events of
   * another run or of other attempts.
   */
  runCount(call: ScriptCall, runId: string, events: readonly EventIncrements[]): RunCountArgument {
    const first = events[0]?.event;
    for (const { event, increments } of events) {
      if (event.runId !== runId) throw new Error(`metrics: event of run ${event.runId} recorded with run ${runId}`);
      if (event.attempt !== first!.attempt) throw new Error(`metrics: events of attempts ${first!.attempt} and ${event.attempt} of run ${runId} recorded together`);
      for (const { sample, by } of increments) if (!Number.isFinite(by)) throw new Error(`metrics: ${sample} cannot be increased by ${by}`);
    }
    if (!first) return NOTHING_COUNTED;
    let shape = '';
    let amounts = '';
    let progress = -1;
    const named: string[] = [];
    for (const { event, increments } of events) {
      if (named.includes(event.event)) continue;
      named.push(event.event);
      const at = runProgress(event.event, event.attempt);
      if (at > progress) progress = at;
      const plan = this.plan(call, increments);
      plan.count++;
      let v = 0;
      for (const { by } of increments) {
        if (by === 1) continue;
        amounts += ` ${by}`;
        plan.sums[v++] += by;
      }
      shape += shape ? ` ${at} ${plan.index}` : `${at} ${plan.index}`;
    }
    return { arg: `${call.intern(shape)}${amounts}`, progress };
  }

  /**
   * Adds recordEnd's argument (RECORD_EVENTS_LUA) to `call`, after its runs:
   * what they add if all their events are new, per (hash, field), each
   * amount summed in the order of the runs (a single one as it was sent).
   */
  addRecordEnd(call: ScriptCall): void {
    const totals = new Map<string, number>();
    for (const plan of this.plans.get(call) ?? []) {
      if (!plan.count) continue;
      for (const { key, field, varying } of plan.parts) {
        const at = `${key} ${field}`;
        totals.set(at, (totals.get(at) ?? 0) + (varying < 0 ? plan.count : plan.sums[varying]!));
      }
    }
    let arg = '';
    for (const [at, total] of totals) arg += `${at} ${total} `;
    call.args.push(arg);
  }

  /**
   * The plan of these increments in `call` (see RECORD_EVENTS_LUA). The
   * runs of a job count the same label sets of the same samples (only an
   * amount varies; the engine's label sets are frozen objects made once, see
   * run-metrics.ts): a plan seen in this call is found by comparing sample,
   * label set object and fixed-or-varying, without building its string again.
   */
  private plan(call: ScriptCall, increments: readonly SampleIncrement[]): PlanTotals {
    let plans = this.plans.get(call);
    if (!plans) this.plans.set(call, (plans = []));
    // A few plans per call (one per job, event and status): the first 32 are looked at.
    for (let p = 0; p < plans.length && p < 32; p++) if (samePlan(plans[p]!.increments, increments)) return plans[p]!;
    let text = '';
    const parts: PlanTotals['parts'] = [];
    const sums: number[] = [];
    for (const { sample, labels, by } of increments) {
      const key = call.key(this.sampleKey(sample));
      const field = call.intern(labelSetKey(labels));
      parts.push({ key, field, varying: by === 1 ? -1 : sums.push(0) - 1 });
      text += `${key} ${field} ${by === 1 ? '1' : '*'} `;
    }
    const plan: PlanTotals = { increments, index: call.intern(text), parts, count: 0, sums };
    plans.push(plan);
    return plan;
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
