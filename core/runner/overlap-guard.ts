import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { RunCancellation } from './run-cancellation.js';

/**
 * How long a run's claim on "its job is running" lasts without renewal; the
 * process running it renews it every third of that. A run whose process died
 * stops blocking its job's next fires, and frees its concurrency slot, within this.
 */
export const RUN_LEASE_MS = 6_000;

/**
 * How long a waiting fire keeps its place (overlap "queue" / "cancel-previous")
 * without coming back to look, and how long a lease handed to a waiting fire
 * (overlap "queue") is kept for it. A waiting fire looks every WAIT_POLL_MS, so
 * it only loses its place if no worker could take it for this long (or it was
 * removed, e.g. cancelled before it started).
 */
export const WAITER_TTL_MS = 30_000;

/**
 * overlap "cancel-previous": how long the new fire waits for the run it
 * cancelled to give its lease back before it runs anyway, alongside it. The
 * runner ends a cancelled attempt at once even if its plugin ignores the
 * signal, and a dead process's lease expires within RUN_LEASE_MS: this is
 * only reached when the old run's process lives but never heard the cancel.
 */
export const CANCEL_WAIT_MS = 15_000;

/**
 * One atomic step deciding whether a run may start now: drops expired leases,
 * applies the job's overlap policy (new scheduled fires only), then the job's
 * and the workflow's concurrency limits, and takes the leases if it may.
 *
 * KEYS: 1 the job's active-runs zset, 2 the workflow's active-runs zset, 3 the job's waiting-fire string.
 * ARGV: 1 run id, 2 now, 3 lease ms, 4 mode (take | skip | queue | cancel-previous),
 *       5 job limit (0: none), 6 workflow limit (0: none), 7 waiter ttl ms,
 *       8 cancel wait ms, 9 '1' when the job's zset holds this run, 10 fire order (ms).
 * The waiting-fire string is `<run id>|<waiting since>|<fire order>`; an empty
 * run id (cancel-previous) keeps the order of the newest admitted fire, so an
 * older fire that comes back later knows it was replaced.
 * Returns {'run', forcedPast} | {'busy', going} | {'full', going, waiter} |
 * {'queued', going} | {'replace', since, going...} | {'replaced', newer, going} |
 * {'limit', 'job'|'workflow', count}.
 */
const ADMIT = `
local id, now, lease, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local jobLimit, wfLimit, waiterTtl, cancelWait = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local trackJob, order = ARGV[9] == '1', tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if wfLimit > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
-- A lease already here for this run: handed over to it while it waited (queue).
local mine = redis.call('ZSCORE', KEYS[1], id)
local forced = ''
local clearWaiter = false
if mode ~= 'take' and not mine then
  local others = redis.call('ZRANGE', KEYS[1], 0, -1)
  local going = others[1]
  local raw = redis.call('GET', KEYS[3])
  local wid, since, worder
  if raw then
    wid, since, worder = string.match(raw, '^(.*)|(%d+)|(%d+)$')
    since, worder = tonumber(since), tonumber(worder)
  end
  if mode == 'skip' then
    if going then return {'busy', going} end
  elseif mode == 'queue' then
    if wid and wid ~= id then return {'full', going or '', wid} end
    if going then
      redis.call('SET', KEYS[3], id .. '|' .. (since or now) .. '|' .. order, 'PX', waiterTtl)
      return {'queued', going}
    end
    clearWaiter = wid == id
    if clearWaiter then redis.call('PEXPIRE', KEYS[3], waiterTtl) end
  elseif mode == 'cancel-previous' then
    if wid and wid ~= id and (worder > order or (worder == order and wid > id)) then return {'replaced', wid, going or ''} end
    if going then
      -- The first fire that waited sets the clock; a newer one taking its place keeps it.
      if not since or since == 0 then since = now end
      if now - since < cancelWait then
        redis.call('SET', KEYS[3], id .. '|' .. since .. '|' .. order, 'PX', waiterTtl)
        local out = {'replace', tostring(since)}
        for _, o in ipairs(others) do out[#out + 1] = o end
        return out
      end
      forced = going
    end
  end
end
if jobLimit > 0 then
  local n = redis.call('ZCARD', KEYS[1]) - (mine and 1 or 0)
  if n >= jobLimit then return {'limit', 'job', tostring(n)} end
end
if wfLimit > 0 then
  local n = redis.call('ZCARD', KEYS[2]) - (redis.call('ZSCORE', KEYS[2], id) and 1 or 0)
  if n >= wfLimit then return {'limit', 'workflow', tostring(n)} end
end
if trackJob then
  redis.call('ZADD', KEYS[1], now + lease, id)
  redis.call('PEXPIRE', KEYS[1], math.max(lease, waiterTtl) * 2)
end
if wfLimit > 0 then
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('PEXPIRE', KEYS[2], lease * 2)
end
if mode == 'cancel-previous' then
  redis.call('SET', KEYS[3], '|0|' .. order, 'PX', waiterTtl)
elseif clearWaiter then
  redis.call('DEL', KEYS[3])
end
return {'run', forced}
`;

/**
 * KEYS: job zset, workflow zset. ARGV: run id, now, lease ms, '1' if the workflow
 * zset holds it, job zset ttl ms. Only leases still held are renewed.
 */
const RENEW = `
local expiry = tonumber(ARGV[2]) + tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
end
if ARGV[4] == '1' and redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], expiry, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
end
return 1
`;

/**
 * Gives a run's leases back; with overlap "queue", hands the job's lease to the
 * fire waiting behind it (kept WAITER_TTL_MS for it), so no newer fire gets in
 * between. KEYS: job zset, workflow zset, waiting-fire string. ARGV: run id, now, waiter ttl, '1' to hand over.
 */
const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[4] == '1' then
  local raw = redis.call('GET', KEYS[3])
  local wid = raw and string.match(raw, '^(.*)|%d+|%d+$')
  if wid and wid ~= '' then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), wid)
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
    redis.call('DEL', KEYS[3])
  end
end
return 1
`;

/** KEYS: waiting-fire string. ARGV: run id. Frees the waiting place if this run holds it. */
const ABANDON = `
local raw = redis.call('GET', KEYS[1])
if raw and string.match(raw, '^(.*)|%d+|%d+$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

type AdmissionRedis = Redis & {
  tideflowAdmitRun(...args: Array<string | number>): Promise<string[]>;
  tideflowRenewRun(...args: Array<string | number>): Promise<number>;
  tideflowLeaveRun(...args: Array<string | number>): Promise<number>;
  tideflowAbandonWait(...args: Array<string | number>): Promise<number>;
};

/** `take`: no overlap check (retries, other triggers, "allow"); else the policy of a new scheduled fire. */
export type AdmissionMode = 'take' | 'skip' | 'queue' | 'cancel-previous';

export interface AdmissionRequest {
  workflow: string;
  /** `<workflow>/<job>` */
  jobKey: string;
  runId: string;
  mode: AdmissionMode;
  /** The run holds a lease in the job's active-runs set (overlap policy or job limit). */
  trackJob: boolean;
  /** The job's overlap policy is "queue": its lease goes to the fire waiting behind it when it ends. */
  handOver: boolean;
  jobLimit?: number;
  workflowLimit?: number;
  /** Fire time of a scheduled fire (orders fires for "cancel-previous"). */
  order: number;
}

export type Admission =
  /** Start now; `leave` gives the leases back. `forcedPast`: the run cancelled for it still held its lease after CANCEL_WAIT_MS. */
  | { kind: 'run'; leave(): Promise<void>; forcedPast?: string }
  /** Record this fire skipped (nothing runs): `busyWith` is the run it yielded to. */
  | { kind: 'skip'; busyWith: string; reason: string }
  /** Not now: look again later, the run not started and no attempt spent. */
  | { kind: 'wait'; for: 'concurrency' | 'previous-run'; reason: string };

/**
 * Who may start, across every process: each run that needs it holds renewed
 * leases in `<prefix>:active-runs:<workflow>/<job>` (its job) and
 * `<prefix>:workflow-active-runs:<workflow>` (a workflow with a limit) while
 * it goes. One script per start decides the job's overlap policy and the
 * concurrency limits and takes the leases, so two processes never both take
 * the last slot. Jobs that configure none of this never come here.
 */
export class OverlapGuard {
  private readonly redis: AdmissionRedis;

  constructor(
    redis: Redis,
    private readonly keys: EngineKeys,
    private readonly leaseMs = RUN_LEASE_MS,
    private readonly cancelWaitMs = CANCEL_WAIT_MS,
  ) {
    this.redis = redis as AdmissionRedis;
    // EVALSHA after the first call (ioredis caches the scripts).
    if (!('tideflowAdmitRun' in redis)) {
      redis.defineCommand('tideflowAdmitRun', { numberOfKeys: 3, lua: ADMIT });
      redis.defineCommand('tideflowRenewRun', { numberOfKeys: 2, lua: RENEW });
      redis.defineCommand('tideflowLeaveRun', { numberOfKeys: 3, lua: LEAVE });
      redis.defineCommand('tideflowAbandonWait', { numberOfKeys: 1, lua: ABANDON });
    }
  }

  /** Decides whether `req.runId` starts now, is skipped, or waits; takes its leases when it starts. */
  async enter(req: AdmissionRequest): Promise<Admission> {
    const jobZset = this.keys.activeRuns(req.jobKey);
    const wfZset = this.keys.workflowActiveRuns(req.workflow);
    const waiterKey = this.keys.waitingFire(req.jobKey);
    const wfLimit = req.workflowLimit ?? 0;
    const [kind, a = '', b = '', ...rest] = await this.redis.tideflowAdmitRun(
      jobZset, wfZset, waiterKey,
      req.runId, Date.now(), this.leaseMs, req.mode, req.jobLimit ?? 0, wfLimit, WAITER_TTL_MS, this.cancelWaitMs, req.trackJob ? '1' : '0', req.order,
    );
    switch (kind) {
      case 'busy':
        return { kind: 'skip', busyWith: a, reason: `skipped: run ${a} of this job was still going (overlap "skip")` };
      case 'full':
        return {
          kind: 'skip',
          busyWith: b,
          reason: `skipped: fire ${b} already waits${a ? ` for run ${a}` : ''} (overlap "queue" keeps at most one waiting fire per job)`,
        };
      case 'replaced':
        return {
          kind: 'skip',
          busyWith: a || b,
          reason: a
            ? `skipped: replaced by the newer fire ${a} while it waited${b ? ` for run ${b} to end` : ''} (overlap "cancel-previous")`
            : `skipped: a newer fire of this job has already started${b ? ` (run ${b})` : ''} (overlap "cancel-previous")`,
        };
      case 'queued':
        return { kind: 'wait', for: 'previous-run', reason: `waits for run ${a} of this job to end (overlap "queue")` };
      case 'replace': {
        const going = [b, ...rest];
        // Published on every look: a request lost while a process was away from Redis is heard next time.
        await Promise.all(
          going.map((id) => RunCancellation.publish(this.redis, this.keys, id, `replaced by fire ${req.runId} (overlap "cancel-previous")`)),
        );
        return { kind: 'wait', for: 'previous-run', reason: `cancelled run ${going.join(', ')} of this job and waits for it to end (overlap "cancel-previous")` };
      }
      case 'limit':
        return {
          kind: 'wait',
          for: 'concurrency',
          reason:
            a === 'job'
              ? `waits for a slot: ${b} runs of job ${req.jobKey} are going (its "concurrency" is ${req.jobLimit})`
              : `waits for a slot: ${b} runs of workflow ${req.workflow} are going (its "concurrency" is ${wfLimit})`,
        };
      case 'run':
        return { kind: 'run', leave: this.hold(req, jobZset, wfZset, waiterKey), ...(a ? { forcedPast: a } : {}) };
      default:
        throw new Error(`unexpected admission answer ${String(kind)}`);
    }
  }

  /** Frees the waiting place of a fire that will not come back (dropped while it waited, e.g. its job was paused). */
  async abandon(jobKey: string, runId: string): Promise<void> {
    await this.redis.tideflowAbandonWait(this.keys.waitingFire(jobKey), runId).catch(() => undefined);
  }

  /** Renews the run's leases while it goes; returns how to give them back. */
  private hold(req: AdmissionRequest, jobZset: string, wfZset: string, waiterKey: string): () => Promise<void> {
    const holdsWf = req.workflowLimit ? '1' : '0';
    const renew = setInterval(() => {
      this.redis.tideflowRenewRun(jobZset, wfZset, req.runId, Date.now(), this.leaseMs, holdsWf, Math.max(this.leaseMs, WAITER_TTL_MS) * 2).catch(() => undefined);
    }, Math.floor(this.leaseMs / 3));
    renew.unref();
    return async () => {
      clearInterval(renew);
      await this.redis.tideflowLeaveRun(jobZset, wfZset, waiterKey, req.runId, Date.now(), WAITER_TTL_MS, req.handOver ? '1' : '0').catch(() => undefined);
    };
  }
}
