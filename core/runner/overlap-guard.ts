import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';

/**
 * How long a run's claim on "its job is running" lasts without renewal; the
 * process running it renews it every third of that. A run whose process died
 * stops blocking its job's next fires within this.
 */
export const RUN_LEASE_MS = 6_000;

/**
 * One atomic step: drop expired leases, then either report the run already
 * going (mode "skip-if-busy" and another live run) or take a lease for this one.
 * KEYS[1] active-runs zset; ARGV: run id, now, lease ms, mode.
 */
const ENTER = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if ARGV[4] == 'skip-if-busy' then
  local others = redis.call('ZRANGE', KEYS[1], 0, 0)
  if others[1] and others[1] ~= ARGV[1] then return others[1] end
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return false
`;

const RENEW = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
end
return 1
`;

export type OverlapEntry = { busyWith: string } | { busyWith?: undefined; leave(): Promise<void> };

/**
 * The overlap policy of scheduled jobs, across every process: a run holds a
 * renewed lease in `<prefix>:active-runs:<workflow>/<job>` while it goes; a
 * scheduled fire that finds another live lease is skipped.
 */
export class OverlapGuard {
  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    private readonly leaseMs = RUN_LEASE_MS,
  ) {}

  /**
   * Takes the lease for `runId` and returns how to give it back; with
   * `skipIfBusy`, returns the id of the run already going instead, if any.
   */
  async enter(jobKey: string, runId: string, skipIfBusy: boolean): Promise<OverlapEntry> {
    const key = this.keys.activeRuns(jobKey);
    const busy = (await this.redis.eval(ENTER, 1, key, runId, Date.now(), this.leaseMs, skipIfBusy ? 'skip-if-busy' : 'take')) as string | null;
    if (busy) return { busyWith: busy };
    const renew = setInterval(() => {
      this.redis.eval(RENEW, 1, key, runId, Date.now(), this.leaseMs).catch(() => undefined);
    }, Math.floor(this.leaseMs / 3));
    renew.unref();
    return {
      leave: async () => {
        clearInterval(renew);
        await this.redis.zrem(key, runId).catch(() => undefined);
      },
    };
  }
}
