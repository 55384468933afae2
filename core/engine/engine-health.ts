import type { Redis } from 'ioredis';
import { HEALTH_CHECK_DEADLINE_MS, boundedHealthCheck as bounded, type HealthCheck } from '../health/health-check.js';
import type { EngineKeys } from '../redis/engine-keys.js';
import type { SchedulerWatchdog } from '../scheduler/scheduler-watchdog.js';

/** Options of the health check's own Redis connection: fail fast instead of queueing while Redis is away. */
export const HEALTH_REDIS_OPTIONS = {
  // Commands while disconnected are refused at once, not queued until Redis is back.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  // A frozen (SIGSTOPped) Redis keeps the TCP connection open: bound each command.
  commandTimeout: HEALTH_CHECK_DEADLINE_MS - 100,
  connectTimeout: 2_000,
  retryStrategy: (attempt: number) => Math.min(attempt * 200, 1_000),
} as const;

export interface EngineHealthSources {
  /** A connection of the health checks' own, made with HEALTH_REDIS_OPTIONS. */
  redis: Redis;
  /** This process's watchdog; a worker-only process has none and reads the engine's status from Redis. */
  watchdog: () => SchedulerWatchdog | undefined;
  keys: EngineKeys;
}


/** The engine's own checks behind GET /api/health (plugins and their services add theirs): each up or down with a reason, each bounded in time. */
export function engineHealthChecks(s: EngineHealthSources): Record<string, () => Promise<HealthCheck>> {
  return {
    redis: bounded(
      'Redis',
      async () => ((await s.redis.ping()) === 'PONG' ? { status: 'up' } : { status: 'down', reason: 'no PONG' }),
      (reason) => ({ status: 'down', reason: `Redis does not answer: ${reason}` }),
    ),
    scheduler: bounded(
      'the scheduler status in Redis',
      async () => {
        const wd = s.watchdog();
        if (!wd) {
          const raw = await s.redis.get(s.keys.watchdog);
          return raw ? { status: 'up', reason: `watchdog of another process: ${raw}` } : { status: 'down', reason: 'no scheduler watchdog has run' };
        }
        if (wd.status.lastError) return { status: 'down', reason: `watchdog check failed: ${wd.status.lastError}` };
        return {
          status: 'up',
          reason: wd.status.lastCheckAt ? `last check ${new Date(wd.status.lastCheckAt).toISOString()}, ${wd.status.repaired} repaired` : 'starting',
        };
      },
      (reason) => ({ status: 'down', reason }),
    ),
  };
}
