import type { RunHistory } from '../history/run-history.js';
import { ENDED_RUN_STATUSES, type RunQuery, type RunRecord } from '../history/run-record.js';
import type { RunAttempt, RunIo } from '../history/run-details.js';
import type { RunLogs } from '../history/run-logs.js';
import type { PauseStore } from '../scheduler/pause-store.js';
import { jobKey, manualRunId, schedulerId } from '../queues/run-ids.js';
import { schedulerJobId } from '../queues/scheduler-job-id.js';
import type { SchedulerSync } from '../scheduler/scheduler-sync.js';
import { runJobOptions } from '../queues/run-job-data.js';
import type { RunQueues } from '../queues/run-queues.js';
import { isScheduled, routeOf } from '../workflow/loaded-workflow.js';
import type { CatalogEntry, WorkflowCatalog } from '../workflow/workflow-catalog.js';
import { displayPath } from '../workflow/workflow-loader.js';
import type { WebhookSettings } from '../workflow/workflow-schema.js';
import { checkRunInput } from './run-input-limits.js';
import type { WorkflowChange } from './cluster-event.js';
import {
  ConflictError,
  NotFoundError,
  type EngineControl,
  type JobStatus,
  type PauseTarget,
  type WorkflowStatus,
} from './engine-control.js';
import { HEALTH_CHECK_DEADLINE_MS, type HealthCheck } from '../health/health-check.js';
import { errorMessage } from '../util/error-message.js';
import { withDeadline } from '../util/with-deadline.js';


export interface RedisEngineControlDeps {
  queues: RunQueues;
  catalog: WorkflowCatalog;
  pauses: PauseStore;
  history: RunHistory;
  sync: SchedulerSync;
  /** Tells every runner to abort a run (RunCancellation.publish). */
  publishCancel: (runId: string) => Promise<unknown>;
  /** Tells the live API of every process that a pause/resume happened (publishWorkflowChange); nothing when omitted. */
  publishChange?: (change: Omit<WorkflowChange, 'type' | 'at'>) => Promise<unknown>;
  healthChecks?: Record<string, () => Promise<HealthCheck>>;
}

/**
 * EngineControl over Redis: what the API and the CLI do goes through the
 * same keys every engine process reads, so it works from any of them.
 */
export class RedisEngineControl implements EngineControl {
  constructor(private readonly d: RedisEngineControlDeps) {}

  async listWorkflows(): Promise<WorkflowStatus[]> {
    const [entries, pauses, lastRuns] = await Promise.all([this.d.catalog.list(true), this.d.pauses.snapshot(), this.d.history.lastRuns()]);
    const routes = [...new Set(entries.flatMap(({ workflow }) => Object.values(workflow.jobs).map(routeOf)))];
    const perRoute = await Promise.all(
      routes.map(async (route) => {
        const queue = this.d.queues.queue(route);
        const [schedulers, workers] = await Promise.all([queue.getJobSchedulers(0, -1), queue.getWorkersCount()]);
        return { route, workers, next: new Map(schedulers.map((s) => [s.key, s.next ?? null])) };
      }),
    );
    const byRoute = new Map(perRoute.map((r) => [r.route, r]));
    return entries.map(({ workflow, error }) => {
      const jobs: JobStatus[] = Object.values(workflow.jobs).map((j) => {
        const pausedBy = pauses.pausedBy(workflow.name, j.name);
        const route = byRoute.get(routeOf(j))!;
        return {
          workflow: workflow.name,
          job: j.name,
          plugin: j.plugin,
          trigger: {
            every: j.trigger.every,
            cron: j.trigger.cron,
            timezone: j.trigger.timezone,
            manual: j.trigger.manual || undefined,
            webhook: j.trigger.webhook ? true : undefined,
            chainedFrom: j.predecessors.length ? j.predecessors : undefined,
          },
          state: pausedBy ? 'paused' : 'active',
          pausedBy,
          nextRunAt: pausedBy ? null : (route.next.get(schedulerId(workflow.name, j.name)) ?? null),
          lastRun: lastRuns.get(jobKey(workflow.name, j.name)) ?? null,
          route: route.route,
          routeWorkers: route.workers,
          waiting: route.workers === 0 ? `no live worker serves route "${route.route}" (start \`tideflow worker --serve ${route.route}\`)` : undefined,
          overlap: isScheduled(j) ? (j.overlap ?? 'skip') : undefined,
          concurrency: j.concurrency,
          // Definitions published by an engine older than onFailure have none.
          then: j.then,
          onFailure: j.onFailure ?? [],
        };
      });
      const wfPaused = pauses.pausedBy(workflow.name);
      return { name: workflow.name, file: displayPath(workflow.file), state: wfPaused ? 'paused' : 'active', concurrency: workflow.concurrency, jobs, error };
    });
  }

  async getWorkflow(name: string): Promise<WorkflowStatus> {
    const wf = (await this.listWorkflows()).find((w) => w.name === name);
    if (!wf) throw new NotFoundError(`no workflow named "${name}"`);
    return wf;
  }

  private async entry(workflow: string, job?: string): Promise<CatalogEntry> {
    const entry = await this.d.catalog.get(workflow, true);
    if (!entry) throw new NotFoundError(`no workflow named "${workflow}"`);
    if (job !== undefined && !entry.workflow.jobs[job]) {
      throw new NotFoundError(`workflow "${workflow}" has no job "${job}" (jobs: ${Object.keys(entry.workflow.jobs).join(', ')})`);
    }
    return entry;
  }

  trigger(workflow: string, job: string, input?: unknown): Promise<{ runId: string }> {
    return this.enqueue(workflow, job, input, 'manual');
  }

  async webhookOf(workflow: string, job: string): Promise<{ webhook: WebhookSettings; paused: boolean }> {
    const { workflow: wf } = await this.entry(workflow, job);
    const webhook = wf.jobs[job]!.trigger.webhook;
    if (!webhook) throw new NotFoundError(`job "${workflow}/${job}" has no webhook`);
    const paused = (await this.d.pauses.snapshot()).pausedBy(workflow, job) !== undefined;
    return { webhook, paused };
  }

  triggerByWebhook(workflow: string, job: string, input: unknown): Promise<{ runId: string }> {
    return this.enqueue(workflow, job, input, 'webhook');
  }

  private async enqueue(workflow: string, job: string, input: unknown, trigger: 'manual' | 'webhook'): Promise<{ runId: string }> {
    // Refused input leaves nothing behind: checked before any record exists.
    checkRunInput(input);
    const { workflow: wf } = await this.entry(workflow, job);
    const def = wf.jobs[job]!;
    const runId = manualRunId(workflow, job);
    const run: RunRecord = { id: runId, workflow, job, plugin: def.plugin, trigger, status: 'queued', attempts: 0, queuedAt: Date.now() };
    await this.d.history.save(run);
    try {
      await this.d.queues.queue(routeOf(def)).add(jobKey(workflow, job), { workflow, job, trigger, input }, { ...runJobOptions(def), jobId: runId });
    } catch (err) {
      // Never a phantom "queued" run: the record says it was not enqueued, and why.
      const now = Date.now();
      await this.d.history
        .save({ ...run, status: 'failed', finishedAt: now, durationMs: now - run.queuedAt, error: `not enqueued: ${(err as Error).message}` })
        .catch(() => undefined);
      throw err;
    }
    return { runId };
  }

  async pause(target: PauseTarget): Promise<void> {
    if (target.workflow !== undefined) await this.entry(target.workflow, target.job);
    await this.d.pauses.pause(target.workflow, target.job);
    await this.reconcile();
    await this.announce('pause', target);
  }

  async resume(target: PauseTarget): Promise<void> {
    if (target.workflow !== undefined) await this.entry(target.workflow, target.job);
    await this.d.pauses.resume(target.workflow, target.job);
    await this.reconcile();
    await this.announce('resume', target);
  }

  /** After the schedulers follow the change, so a client re-reading the workflows sees both. Best effort: the change is made. */
  private async announce(change: 'pause' | 'resume', target: PauseTarget): Promise<void> {
    await this.d.publishChange?.({ change, ...(target.workflow !== undefined ? { workflow: target.workflow } : {}), ...(target.job !== undefined ? { job: target.job } : {}) }).catch(() => undefined);
  }

  /** Pausing removes the job's scheduler (missed fires are never backfilled); resuming re-creates it. */
  async reconcile(): Promise<void> {
    await this.d.sync.reconcile(await this.d.catalog.list(true), await this.d.pauses.snapshot());
  }

  listRuns(query: RunQuery): Promise<{ runs: RunRecord[]; total: number }> {
    return this.d.history.query(query);
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.d.history.get(id);
  }

  async getRunLogs(id: string): Promise<RunLogs | undefined> {
    const [run, logs] = await Promise.all([this.d.history.get(id), this.d.history.logs.read(id)]);
    return run ? { runId: id, ...logs } : undefined;
  }

  getRunDetails(id: string): Promise<{ io: RunIo; attempts: RunAttempt[] } | undefined> {
    return this.d.history.details(id);
  }

  async cancel(runId: string): Promise<{ runId: string; status: 'cancelled' | 'cancelling' }> {
    const run = await this.d.history.get(runId);
    if (!run) throw new NotFoundError(`no run "${runId}"`);
    if (ENDED_RUN_STATUSES.has(run.status)) throw new ConflictError(`run "${runId}" has already finished (${run.status})`);
    const def = (await this.d.catalog.get(run.workflow))?.workflow.jobs[run.job];
    // A scheduled run's BullMQ job is the scheduler's; every other run's job id is the run id.
    const fire = run.trigger === 'schedule' ? Number(runId.slice(runId.lastIndexOf('.') + 1)) : undefined;
    const jobId = fire !== undefined && Number.isSafeInteger(fire) ? schedulerJobId(schedulerId(run.workflow, run.job), fire) : runId;
    const job = def ? await this.d.queues.queue(routeOf(def)).getJob(jobId) : undefined;
    const state = job ? await job.getState() : undefined;
    if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children')) {
      try {
        await job.remove();
        const now = Date.now();
        await this.d.history.save({ ...run, status: 'cancelled', finishedAt: now, error: 'cancelled before it started' });
        return { runId, status: 'cancelled' };
      } catch {
        // Taken by a worker meanwhile (a locked job cannot be removed): cancel it running.
      }
    }
    // Running (or about to be): the runner that holds it aborts it and records it cancelled.
    await this.d.publishCancel(runId);
    return { runId, status: 'cancelling' };
  }

  async health(): Promise<Record<string, HealthCheck>> {
    const checks = this.d.healthChecks ?? {};
    const names = Object.keys(checks);
    const results = await Promise.all(
      // A check that never answers (ioredis queues commands while Redis is gone) is down, not a hung request.
      names.map((n) =>
        withDeadline(checks[n]!(), HEALTH_CHECK_DEADLINE_MS, `health check ${n}`).catch((err: unknown): HealthCheck => ({ status: 'down', reason: errorMessage(err) })),
      ),
    );
    return Object.fromEntries(names.map((n, i) => [n, results[i]!]));
  }
}
