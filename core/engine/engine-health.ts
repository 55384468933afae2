import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { HealthCheck } from '../control/engine-control.js';
import type { SchedulerWatchdog } from '../scheduler/scheduler-watchdog.js';
import type { RecordStore } from '../store/record-store.js';

export interface EngineHealthSources {
  redis: Redis;
  docker: Docker;
  /** This process's watchdog; a worker-only process has none and reads the engine's status from Redis. */
  watchdog: () => SchedulerWatchdog | undefined;
  prefix: string;
  store: () => RecordStore;
}

/** The checks behind GET /api/health: each up or down with a reason. */
export function engineHealthChecks(s: EngineHealthSources): Record<string, () => Promise<HealthCheck>> {
  return {
    redis: async () => ((await s.redis.ping()) === 'PONG' ? { status: 'up' } : { status: 'down', reason: 'no PONG' }),
    docker: async () => {
      try {
        await s.docker.ping();
        return { status: 'up' };
      } catch (err) {
        return { status: 'down', reason: `Docker engine does not answer: ${(err as Error).message}` };
      }
    },
    scheduler: async () => {
      const wd = s.watchdog();
      if (!wd) {
        const raw = await s.redis.get(`${s.prefix}:watchdog`);
        return raw ? { status: 'up', reason: `watchdog of another process: ${raw}` } : { status: 'down', reason: 'no scheduler watchdog has run' };
      }
      if (wd.status.lastError) return { status: 'down', reason: `watchdog check failed: ${wd.status.lastError}` };
      return {
        status: 'up',
        reason: wd.status.lastCheckAt ? `last check ${new Date(wd.status.lastCheckAt).toISOString()}, ${wd.status.repaired} repaired` : 'starting',
      };
    },
    store: async () => {
      const store = s.store();
      const stats = await store.stats();
      return { status: 'up', reason: `${stats.records} records in ${store.location}` };
    },
  };
}
