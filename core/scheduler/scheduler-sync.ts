import { createHash } from 'node:crypto';
import type { Logger } from '../logging/logger.js';
import { runJobOptions, type RunJobData } from '../queues/run-job-data.js';
import type { RunQueues } from '../queues/run-queues.js';
import { isScheduled, routeOf, type LoadedJob } from '../workflow/loaded-workflow.js';
import type { CatalogEntry } from '../workflow/workflow-catalog.js';
import type { PauseSnapshot } from './pause-store.js';
import { jobKey, parseSchedulerId, schedulerId } from '../queues/run-ids.js';

export interface ReconcileResult {
  upserted: string[];
  removed: string[];
  unchanged: string[];
}

export interface DesiredScheduler {
  id: string;
  job: LoadedJob;
  workflow: string;
  /** The route whose queue holds the scheduler. */
  route: string;
  hash: string;
}

function definitionHash(job: LoadedJob): string {
  const { trigger, retry, plugin } = job;
  return createHash('sha256').update(JSON.stringify({ trigger, retry, plugin })).digest('hex').slice(0, 16);
}

/**
 * Makes BullMQ's job schedulers match the loaded workflows: one scheduler per
 * triggered, unpaused job, in the queue of the job's route; the rest removed
 * (on every route ever used, so a job that moved route leaves no scheduler
 * behind). Idempotent — an unchanged scheduler is left alone, so a restart
 * never double-fires or shifts it.
 */
export class SchedulerSync {
  constructor(
    private readonly queues: RunQueues,
    private readonly log: Logger,
  ) {}

  desired(entries: CatalogEntry[], pauses: PauseSnapshot): DesiredScheduler[] {
    const out: DesiredScheduler[] = [];
    for (const { workflow } of entries) {
      for (const job of Object.values(workflow.jobs)) {
        if (!isScheduled(job)) continue;
        if (pauses.pausedBy(workflow.name, job.name)) continue;
        out.push({ id: schedulerId(workflow.name, job.name), job, workflow: workflow.name, route: routeOf(job), hash: definitionHash(job) });
      }
    }
    return out;
  }

  async reconcile(entries: CatalogEntry[], pauses: PauseSnapshot): Promise<ReconcileResult> {
    const desired = this.desired(entries, pauses);
    await this.queues.remember(entries.flatMap(({ workflow }) => Object.values(workflow.jobs).map(routeOf)));
    const result: ReconcileResult = { upserted: [], removed: [], unchanged: [] };
    for (const route of await this.queues.known()) {
      const queue = this.queues.queue(route);
      const here = desired.filter((d) => d.route === route);
      const existing = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s]));
      for (const d of here) {
        const cur = existing.get(d.id);
        if (cur && (cur.template?.data as RunJobData | undefined)?.defHash === d.hash) {
          result.unchanged.push(d.id);
          continue;
        }
        await this.upsert(d);
        result.upserted.push(d.id);
      }
      const wanted = new Set(here.map((d) => d.id));
      for (const key of existing.keys()) {
        // Only schedulers we own (workflow/job ids) are ours to remove.
        if (wanted.has(key) || !parseSchedulerId(key)) continue;
        await queue.removeJobScheduler(key);
        result.removed.push(key);
      }
    }
    if (result.upserted.length || result.removed.length) {
      this.log.info({ upserted: result.upserted, removed: result.removed }, 'schedulers reconciled');
    }
    return result;
  }

  /** Re-creates one scheduler from its definition (also the watchdog's repair). */
  async upsert(d: { id: string; job: LoadedJob; workflow: string; hash?: string }): Promise<void> {
    const queue = this.queues.queue(routeOf(d.job));
    const { trigger } = d.job;
    const data: RunJobData = { workflow: d.workflow, job: d.job.name, trigger: 'schedule', defHash: d.hash ?? definitionHash(d.job) };
    const repeat = trigger.everyMs !== undefined ? { every: trigger.everyMs } : { pattern: trigger.cron!, tz: trigger.timezone ?? 'UTC' };
    await queue.upsertJobScheduler(d.id, repeat, { name: jobKey(d.workflow, d.job.name), data, opts: runJobOptions(d.job) });
  }
}
