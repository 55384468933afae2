import { Gauge, type Registry } from 'prom-client';
import type { RunQueues } from '../../queues/run-queues.js';

/**
 * Per route, read at scrape time: live workers serving it (0 means its jobs
 * wait) and the runs waiting in its queue.
 */
export function registerRouteMetrics(registry: Registry, queues: RunQueues, routes: () => Promise<string[]>): void {
  new Gauge({
    name: 'tideflow_route_workers',
    help: 'Live worker processes serving each route, on all hosts; 0 means its jobs wait.',
    labelNames: ['route'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const route of await routes()) this.set({ route }, await queues.queue(route).getWorkersCount());
    },
  });
  new Gauge({
    name: 'tideflow_route_waiting_runs',
    help: 'Runs waiting in the queue of each route (a route no worker serves keeps them waiting).',
    labelNames: ['route'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const route of await routes()) {
        const counts = await queues.queue(route).getJobCounts('waiting', 'prioritized');
        this.set({ route }, (counts.waiting ?? 0) + (counts.prioritized ?? 0));
      }
    },
  });
}
