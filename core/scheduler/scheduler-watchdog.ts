import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { EngineKeys } from '../redis/engine-keys.js';
import type { RunQueues } from '../queues/run-queues.js';
import type { CatalogEntry } from '../workflow/workflow-catalog.js';
import type { PauseStore } from './pause-store.js';
import { schedulerJobId } from '../queues/scheduler-job-id.js';
import type { SchedulerSync } from './scheduler-sync.js';

export interface WatchdogOptions {
  intervalMs?: number;
  /** How far in the past `next` may be before a scheduler counts as stalled. */
  graceMs?: number;
}

export interface WatchdogStatus {
  lastCheckAt: number;
  repaired: number;
  lastError?: string;
}

/**
 * BullMQ schedulers are known to stop silently (bullmq #2876, #3516): the
 * scheduler's `next` slides into the past and no job is waiting. Every
 * interval we look, and re-upsert a stalled or missing scheduler, logging it.
 */
export class SchedulerWatchdog {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  status: WatchdogStatus = { lastCheckAt: 0, repaired: 0 };

  constructor(
    private readonly queues: RunQueues,
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    private readonly sync: SchedulerSync,
    private readonly entries: () => Promise<CatalogEntry[]>,
    private readonly pauses: PauseStore,
    private readonly log: Logger,
    private readonly opts: WatchdogOptions = {},
  ) {}

  start(): void {
    const every = this.opts.intervalMs ?? 5_000;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.check().then(() => undefined).finally(() => (this.running = undefined));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: returns the ids it repaired. */
  async check(now = Date.now()): Promise<string[]> {
    const repaired: string[] = [];
    try {
      const grace = this.opts.graceMs ?? 5_000;
      const desired = this.sync.desired(await this.entries(), await this.pauses.snapshot());
      const existing = new Map<string, Awaited<ReturnType<Queue['getJobSchedulers']>>[number]>();
      for (const route of new Set(desired.map((d) => d.route))) {
        for (const s of await this.queues.queue(route).getJobSchedulers(0, -1)) existing.set(`${route}\0${s.key}`, s);
      }
      for (const d of desired) {
        const queue = this.queues.queue(d.route);
        const s = existing.get(`${d.route}\0${d.id}`);
        let problem: string | undefined;
        if (!s) problem = 'scheduler missing';
        else if (s.next !== undefined && s.next < now - grace) {
          // Late but its job may simply be queued behind others: only a missing job is a stall.
          const state = await queue.getJobState(schedulerJobId(d.id, s.next));
          if (state === 'unknown' || state === 'completed' || state === 'failed') {
            problem = `next fire ${Math.round((now - s.next) / 1000)} s in the past with no job waiting (${state})`;
          }
        }
        if (!problem) continue;
        // Remove first: an upsert of an unchanged scheduler keeps its stale `next`.
        if (s) await queue.removeJobScheduler(d.id);
        await this.sync.upsert(d);
        repaired.push(d.id);
        this.log.warn({ scheduler: d.id }, `watchdog repaired scheduler ${d.id}: ${problem}`);
      }
      this.status = { lastCheckAt: now, repaired: this.status.repaired + repaired.length };
      await this.redis.set(this.keys.watchdog, JSON.stringify(this.status), 'EX', 3600);
    } catch (err) {
      this.status = { ...this.status, lastCheckAt: now, lastError: (err as Error).message };
      this.log.error({ err: (err as Error).message }, 'watchdog check failed');
    }
    return repaired;
  }
}
