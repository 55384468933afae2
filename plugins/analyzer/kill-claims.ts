import type { Redis } from 'ioredis';
import type { PluginKeys } from '../../core/redis/engine-keys.js';

/**
 * Atomically checks the claims of every listed container and, only when none
 * of them is held by another run, claims the kill set. KEYS: the claim keys
 * of the listed containers; ARGV: owner, TTL in ms, then the 1-based indexes
 * (into KEYS) to claim. Returns the indexes held by another owner (empty:
 * claimed). All or nothing, so two analyses never both act on a view that
 * counts a container the other is killing.
 */
const CLAIM_SCRIPT = `
local taken = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner and owner ~= ARGV[1] then taken[#taken + 1] = i end
end
if #taken > 0 then return taken end
for j = 3, #ARGV do
  redis.call('SET', KEYS[tonumber(ARGV[j])], ARGV[1], 'PX', ARGV[2])
end
return taken
`;

/** Deletes the claims still held by ARGV[1] (a failed kill gives its container back). */
const RELEASE_SCRIPT = `
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
`;

/**
 * Kill claims in Redis, one key per container id, shared by every engine and
 * worker process: a container is killed (and reported killed) by exactly one
 * analysis run. After a kill Docker keeps listing the container as running
 * for a while (seconds at 100 kills); the claim outlives that (`ttlMs`), so
 * later analyses skip the ghost instead of killing and recording it again.
 * The owner is the run id: a retried attempt of the same run keeps its claims.
 */
export class KillClaims {
  constructor(
    private readonly redis: Redis,
    /** The analyzer's keys (EngineKeys.plugin): a claim is `<prefix>:plugin:analyzer:kill-claim:<container id>`. */
    private readonly keys: PluginKeys,
    private readonly ttlMs: number,
  ) {}

  /** The one place a claim key is built (container ids are unique for the engine's lifetime). */
  private key(containerId: string): string {
    return this.keys.key('kill-claim', containerId);
  }

  /** Ids among `ids` claimed by a run other than `owner` (being killed, or killed and not yet forgotten by Docker). */
  async heldByOthers(ids: readonly string[], owner: string): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const owners = await this.redis.mget(ids.map((id) => this.key(id)));
    return new Set(ids.filter((_, i) => owners[i] !== null && owners[i] !== owner));
  }

  /**
   * Claims `kill` (a subset of `listed`) for `owner` if no listed container is
   * held by another run; else claims nothing and returns the held ones.
   */
  async claim(listed: readonly string[], kill: readonly string[], owner: string): Promise<{ claimed: true } | { claimed: false; heldByOthers: string[] }> {
    if (kill.length === 0) return { claimed: true };
    const index = new Map(listed.map((id, i) => [id, i + 1]));
    const positions = kill.map((id) => {
      const i = index.get(id);
      if (i === undefined) throw new Error(`kill claim for ${id}, which is not among the listed containers`);
      return String(i);
    });
    const taken = (await this.redis.eval(CLAIM_SCRIPT, listed.length, ...listed.map((id) => this.key(id)), owner, String(this.ttlMs), ...positions)) as number[];
    return taken.length === 0 ? { claimed: true } : { claimed: false, heldByOthers: taken.map((i) => listed[i - 1]!) };
  }

  /** Gives back `owner`'s claims on `ids` (kills that failed: a later analysis may try again). */
  async release(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.eval(RELEASE_SCRIPT, ids.length, ...ids.map((id) => this.key(id)), owner);
  }
}
