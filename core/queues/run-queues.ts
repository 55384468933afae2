import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import { DEFAULT_ROUTE } from '../workflow/loaded-workflow.js';
import { RUN_QUEUE } from './run-ids.js';
import type { RunJobData } from './run-job-data.js';

/** BullMQ queue name of a route: the default route keeps the name queues had before routes. */
export function routeQueueName(route: string): string {
  return route === DEFAULT_ROUTE ? RUN_QUEUE : `${RUN_QUEUE}-${route}`;
}

/**
 * One BullMQ queue per route (Celery's and Airflow's named queues): a job
 * runs only on a worker serving its route, never elsewhere. Queues are made
 * on first use and shared by the scheduler sync, the watchdog, the control
 * surface and the runner's successors.
 */
export class RunQueues {
  private readonly queues = new Map<string, Queue<RunJobData>>();

  constructor(
    private readonly connection: Redis,
    /** Its prefix is the queues' prefix; its `routes` set holds every route a definition has used (so schedulers on a route no longer named are still found and removed). */
    readonly keys: EngineKeys,
    /** Where queue connection errors go (the engine folds them into one line per outage). */
    private readonly onError?: (err: Error) => void,
  ) {}

  queue(route: string = DEFAULT_ROUTE): Queue<RunJobData> {
    let q = this.queues.get(route);
    if (!q) {
      // Cap the events stream: BullMQ keeps it unbounded otherwise (platform notes).
      q = new Queue<RunJobData>(routeQueueName(route), { connection: this.connection, prefix: this.keys.prefix, streams: { events: { maxLen: 1000 } } });
      if (this.onError) q.on('error', this.onError);
      this.queues.set(route, q);
    }
    return q;
  }

  /** Remembers routes in use, so a later reconcile finds their schedulers even after no definition names them. */
  async remember(routes: Iterable<string>): Promise<void> {
    const list = [...new Set(routes)];
    if (list.length) await this.connection.sadd(this.keys.routes, ...list);
  }

  /** Every route ever used under this prefix, the default one included. */
  async known(): Promise<string[]> {
    const routes = await this.connection.smembers(this.keys.routes);
    return [...new Set([DEFAULT_ROUTE, ...routes])].sort();
  }

  /** Live workers taking jobs from a route's queue, across all hosts (BullMQ names its worker connections). */
  async workerCount(route: string): Promise<number> {
    return this.queue(route).getWorkersCount();
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
