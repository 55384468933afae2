import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RunEvent, RunEventSource } from '../control/engine-events.js';
import type { RunHistory } from '../history/run-history.js';
import type { InterruptedAttempt, RunRecord } from '../history/run-record.js';
import { fireIncrements } from '../metrics/run-metrics.js';
import type { RedisOutageLog } from '../services/redis-outage-log.js';
import type { Logger } from '../logging/logger.js';
import { isNonRetryable } from '../plugin/errors.js';
import { errorMessage } from '../util/error-message.js';
import type { PluginRegistry, RegisteredPlugin } from '../plugin/plugin-registry.js';
import { CANCEL_WAIT_MS, type Admission, type AdmissionRequest, type OverlapGuard } from './overlap-guard.js';
import { AttemptAbort } from './attempt-abort.js';
import { AttemptContext } from './attempt-context.js';
import type { RunLedger } from './run-ledger.js';
import { RunCancelledError, type RunCancellation } from './run-cancellation.js';
import type { PauseStore } from '../scheduler/pause-store.js';
import { chainedRunId, failureRunId, jobKey, scheduledRunId } from '../queues/run-ids.js';
import { DEFAULT_ROUTE, isScheduled, routeOf, type LoadedJob, type LoadedWorkflow } from '../workflow/loaded-workflow.js';
import type { WorkflowCatalog } from '../workflow/workflow-catalog.js';
import { teeToJobLog } from './job-log-tee.js';
import { RunLogBuffer } from './run-log-buffer.js';
import { malformedRunJob, runJobOptions, type RunJobData } from '../queues/run-job-data.js';
import { routeQueueName, type RunQueues } from '../queues/run-queues.js';

/**
 * How long a worker's lock on a running job lasts without renewal (renewed
 * every half of it while the process lives), and how often every worker
 * looks for jobs whose lock expired. A SIGKILLed or frozen worker's job is
 * re-queued within LOCK_DURATION_MS + STALLED_INTERVAL_MS (about 9 s), not
 * BullMQ's default of up to a minute.
 */
export const LOCK_DURATION_MS = 6_000;
export const STALLED_INTERVAL_MS = 3_000;
/** Worker deaths a run survives before it is failed ("stalled more than allowable limit"). */
const MAX_STALLED_COUNT = 2;

/** How often a run that waits (concurrency limit, overlap "queue"/"cancel-previous") looks again, plus up to half of it at random. */
export const WAIT_POLL_MS = 400;

/** Runs shorter than this get no separate "running" record. */
const RUNNING_RECORD_DELAY_MS = 200;

export class RunTimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'RunTimeoutError';
  }
}

export interface JobRunnerOptions {
  /** Connection for the worker's blocking commands (maxRetriesPerRequest: null). */
  connection: Redis;
  prefix: string;
  /** Where successors are enqueued (each on its own route). */
  queues: RunQueues;
  /** The routes this process serves: one BullMQ worker each. Default: the default route. */
  routes?: string[];
  /** Recorded on each run: which host ran it. Default: the OS host name. */
  host?: string;
  catalog: WorkflowCatalog;
  plugins: PluginRegistry;
  history: RunHistory;
  /** Writes each attempt's record together with its start and finish counted, cluster-wide (with the plugin's own counts on success). */
  ledger: RunLedger;
  pauses: PauseStore;
  /** Cancel requests heard from every process: the runs of this process they name are aborted. */
  cancellation: RunCancellation;
  /** Overlap policies of scheduled jobs and concurrency limits (leases in Redis, across processes). */
  overlap: OverlapGuard;
  log: Logger;
  /** Folds Redis connection errors into one line per outage; without it each is logged. */
  outage?: RedisOutageLog;
  concurrency: number;
  /** This worker's name, e.g. `worker@host:pid`. */
  name?: string;
}

/**
 * The BullMQ worker: runs each job's plugin with the job's timeout, records
 * the run (history and cluster-wide metrics), and enqueues `then`
 * successors with deterministic ids.
 */
export class JobRunner extends EventEmitter implements RunEventSource {
  private workers: Worker<RunJobData>[] = [];
  /** The attempts each worker is running: aborted when its shutdown deadline passes. */
  private readonly inFlight = new Map<Worker<RunJobData>, Set<AttemptAbort>>();
  private readonly host: string;

  constructor(private readonly opts: JobRunnerOptions) {
    super();
    this.setMaxListeners(50);
    this.host = opts.host ?? hostname();
  }

  /** The routes served, in order. */
  get routes(): string[] {
    return [...new Set(this.opts.routes ?? [DEFAULT_ROUTE])];
  }

  start(): void {
    const { connection, prefix, concurrency, log } = this.opts;
    const outage = this.opts.outage;
    for (const route of this.routes) {
      const running = new Set<AttemptAbort>();
      // Two parameters: a processor taking BullMQ's third (its AbortSignal) gets an AbortController made per job; our own shutdown abort is `running`.
      const worker = new Worker<RunJobData>(routeQueueName(route), (job, token) => this.process(job, running, token), {
        connection,
        prefix,
        concurrency,
        // Stored on each job it takes (BullMQ `processedBy`): which process ran a run.
        name: this.opts.name,
        // Our own timeout governs run length; the lock only detects dead workers.
        lockDuration: LOCK_DURATION_MS,
        stalledInterval: STALLED_INTERVAL_MS,
        maxStalledCount: MAX_STALLED_COUNT,
      });
      worker.on('error', (err) => (outage ? outage.report('worker', err) : log.error({ err: err.message, route }, 'worker error')));
      worker.on('stalled', (jobId) => log.warn({ jobId, route }, 'a run lost its worker (killed or frozen mid-run): re-queued for another attempt'));
      this.workers.push(worker);
      this.inFlight.set(worker, running);
    }
  }

  /** Stops taking jobs; waits for running ones up to `timeoutMs`, then cancels them. */
  async close(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.workers.map((w) => this.closeWorker(w, timeoutMs)));
  }

  private async closeWorker(w: Worker<RunJobData>, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const graceful = w.close();
    const deadline = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
    if ((await Promise.race([graceful, deadline])) === 'timeout') {
      this.opts.log.warn(`jobs still running after ${timeoutMs} ms: cancelling them`);
      for (const attempt of this.inFlight.get(w) ?? []) attempt.abort(new Error('cancelled: engine shutting down'));
      await w.close(true);
    }
    clearTimeout(timer);
  }

  private emitRun(e: RunEvent): void {
    this.emit('run', e);
  }

  private async process(job: Job<RunJobData>, running: Set<AttemptAbort>, token?: string): Promise<unknown> {
    const { catalog, overlap, pauses, plugins, log } = this.opts;
    const data = job.data;
    const malformed = malformedRunJob(job.name, data);
    if (malformed) {
      // Put there by another client: failed (kept in the failed set, with the reason), never run or dropped silently.
      log.warn({ jobId: job.id, name: job.name }, `malformed job in the queue: ${malformed}`);
      throw new UnrecoverableError(`malformed job ${job.id}: ${malformed}`);
    }
    const runId = data.trigger === 'schedule' ? scheduledRunId(data.workflow, data.job, job.id!) : job.id!;
    const entry = catalog.cached(data.workflow) ?? (await catalog.get(data.workflow));
    const def = entry?.workflow.jobs[data.job];
    if ((!entry || !def) && data.trigger !== 'schedule') {
      throw new UnrecoverableError(`no job ${jobKey(data.workflow, data.job)} is defined: nothing to run`);
    }
    if (!entry || !def) {
      // A fire of a job that was removed since: nothing to run. Reconcile removes its scheduler.
      log.warn({ runId }, `no job ${jobKey(data.workflow, data.job)} is defined any more: fire dropped`);
      if (this.hasWaited(job)) {
        // It was recorded waiting: its record says it will not run.
        const waited = await this.opts.history.get(runId).catch(() => undefined);
        if (waited) await this.saveSkipped({ ...waited, status: 'skipped', waiting: undefined, finishedAt: Date.now(), error: 'skipped: its job was removed while the fire waited' });
      }
      return { dropped: 'undefined job' };
    }
    // A fire that has not started yet: not retried, not taken over from a worker that died mid-run (BullMQ counts those in stalledCounter, not attemptsMade).
    const newFire = data.trigger === 'schedule' && job.attemptsMade === 0 && !job.stalledCounter;
    if (newFire && (await pauses.pausedBy(data.workflow, data.job))) {
      // Raced with a pause: a paused job never fires from its trigger. A fire
      // that already ran an attempt keeps its retries (dropping one left the
      // run "retrying" for ever): a pause stops new fires, not started runs.
      if (this.hasWaited(job)) await this.dropWaitingFire(job, runId, def);
      return { dropped: 'paused' };
    }
    const registered = plugins.get(def.plugin);
    if (!registered) throw new UnrecoverableError(`plugin "${def.plugin}" is not installed in this process`);

    // Overlap policy and concurrency limits; a job with neither (and no workflow limit) never asks Redis here.
    let leave: (() => Promise<void>) | undefined;
    const admission = admissionRequest(entry.workflow, def, runId, newFire);
    if (admission) {
      const a: Admission = await overlap.enter(admission);
      if (a.kind === 'skip') return this.skipFire(job, runId, def, a.busyWith, a.reason);
      if (a.kind === 'wait') return this.waitForTurn(job, token, runId, def, a);
      leave = a.leave;
      if (a.forcedPast) {
        const line = `run ${a.forcedPast} still held its lease ${CANCEL_WAIT_S} s after it was cancelled: ${runId} runs alongside it (overlap "cancel-previous")`;
        log.warn({ run: runId, previous: a.forcedPast }, line);
        await job.log(line).catch(() => undefined);
      }
    }
    try {
      return await this.attempt(job, runId, entry.workflow, def, registered, running);
    } finally {
      await leave?.();
    }
  }

  /**
   * Not now (a concurrency limit, or the run before it): back to BullMQ's
   * delayed set to look again shortly. The worker slot is freed and no attempt
   * is spent (moveToDelayed skips the attempt count). The first wait is logged and
   * recorded (status queued, `waiting`).
   */
  private async waitForTurn(job: Job<RunJobData>, token: string | undefined, runId: string, def: LoadedJob, wait: Extract<Admission, { kind: 'wait' }>): Promise<never> {
    if (!this.hasWaited(job)) {
      const { workflow, job: name } = job.data;
      this.opts.log.info({ run: runId, waiting: wait.for }, `${jobKey(workflow, name)}: run ${runId} ${wait.reason}`);
      // A first fire has no record yet; any other run keeps what its record says (queue time, a retry's last error).
      const firstFire = job.data.trigger === 'schedule' && job.attemptsMade === 0;
      const previous = firstFire ? undefined : await this.opts.history.get(runId).catch(() => undefined);
      const waiting: RunRecord = {
        ...(previous ?? { id: runId, workflow, job: name, plugin: def.plugin, trigger: job.data.trigger, causedBy: job.data.causedBy, queuedAt: job.timestamp }),
        status: previous?.status === 'retrying' ? 'retrying' : 'queued', attempts: job.attemptsMade, waiting: { for: wait.for, since: Date.now(), reason: wait.reason },
      };
      // The record and its count in tideflow_run_waits_total, in one write.
      await this.opts.ledger.writeCounted(waiting, fireIncrements(waiting, 'waited', wait.for));
    }
    await job.moveToDelayed(Date.now() + WAIT_POLL_MS + Math.floor(Math.random() * (WAIT_POLL_MS / 2)), token);
    throw new DelayedError(`${runId} ${wait.reason}`);
  }

  /**
   * Whether this job came back from a wait (BullMQ counts every move to
   * active in attemptsStarted: attempts made, the current one, stalls, and waits).
   */
  private hasWaited(job: Job<RunJobData>): boolean {
    return (job.attemptsStarted ?? 0) > job.attemptsMade + 1 + (job.stalledCounter ?? 0);
  }

  /** A fire that waited and now will not run (its job was paused meanwhile): its queued record says so, its waiting place is freed. */
  private async dropWaitingFire(job: Job<RunJobData>, runId: string, def: LoadedJob): Promise<void> {
    const { workflow, job: name } = job.data;
    await this.opts.overlap.abandon(jobKey(workflow, name), runId);
    await this.saveSkipped({
      id: runId, workflow, job: name, plugin: def.plugin, trigger: 'schedule', status: 'skipped', attempts: 0, host: this.host,
      queuedAt: job.timestamp, finishedAt: Date.now(), error: 'skipped: its job was paused while the fire waited',
    });
  }

  /** Records a scheduled fire skipped by the overlap policy: nothing ran. */
  private async skipFire(job: Job<RunJobData>, runId: string, def: LoadedJob, busyWith: string, reason: string): Promise<{ skipped: string }> {
    const now = Date.now();
    const { workflow, job: name } = job.data;
    await this.saveSkipped({
      id: runId, workflow, job: name, plugin: def.plugin, trigger: 'schedule', status: 'skipped', attempts: 0, host: this.host,
      queuedAt: job.timestamp, finishedAt: now, error: reason,
    });
    this.opts.log.info({ run: runId, busyWith }, `${jobKey(workflow, name)}: fire ${reason}`);
    return { skipped: busyWith };
  }

  /** A skipped fire's record and its count in tideflow_fires_skipped_total, in one write. */
  private saveSkipped(run: RunRecord): Promise<void> {
    return this.opts.ledger.writeCounted(run, fireIncrements(run, 'skipped'));
  }

  private async attempt(
    job: Job<RunJobData>,
    runId: string,
    workflow: LoadedWorkflow,
    def: LoadedJob,
    registered: RegisteredPlugin,
    running: Set<AttemptAbort>,
  ): Promise<unknown> {
    const { history, ledger, log } = this.opts;
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    // Only a run taken over from a dead worker reads its previous record (an await a plain run does without).
    const interrupted = job.stalledCounter ? await this.interruptedAttempts(job, runId, attempt) : undefined;
    const run: RunRecord = {
      queuedAt: job.timestamp,
      id: runId,
      workflow: data.workflow,
      job: data.job,
      plugin: def.plugin,
      trigger: data.trigger,
      causedBy: data.causedBy,
      host: this.host,
      status: 'running',
      attempts: attempt,
      startedAt: Date.now(),
      finishedAt: undefined,
      durationMs: undefined,
      error: undefined,
    };
    if (interrupted?.length) run.interrupted = interrupted;
    // The "running" record, with the start counted, is written only if the
    // run is still going after a moment: a short run gets one write (its
    // final state, its start and finish counted with it), not two; Redis
    // round trips are what a no-op job costs.
    const started: RunEvent = { type: 'started', run };
    let savedRunning: Promise<unknown> | undefined;
    // The run's input is stored once per attempt, with whichever record is written first (same command).
    const io: { input?: unknown; output?: unknown } = { input: data.input };
    const runningTimer = setTimeout(() => {
      savedRunning = ledger.write(run, [started], { io: { input: io.input } }).catch(() => undefined);
      io.input = undefined;
    }, RUNNING_RECORD_DELAY_MS);
    this.emitRun(started);

    const abort = new AttemptAbort();
    running.add(abort);
    this.opts.cancellation.track(runId, abort);
    let timer: NodeJS.Timeout | undefined;
    if (def.timeoutMs !== undefined) timer = setTimeout(() => abort.abort(new RunTimeoutError(def.timeoutMs!)), def.timeoutMs);

    let runLog: RunLogBuffer | undefined;
    // The log is made on first use: most runs of most plugins log nothing. Lines also go to the BullMQ job (Bull Board
    // shows them) and to the run's own log (GET /api/runs/:id/logs), buffered and written in batches.
    const ctx = new AttemptContext(def.config, runId, data.workflow, data.job, data.trigger, attempt, data.causedBy, data.inputFrom, abort, () => {
      runLog = new RunLogBuffer({
        attempt,
        write: (lines, logged) => history.logs.append(runId, lines, logged),
        onError: (err) => log.warn({ run: runId, err: errorMessage(err) }, 'run log lines lost: writing them to Redis failed'),
      });
      return teeToJobLog(log.child({ run: runId }), (line) => job.log(line), runLog.sink);
    });
    try {
      // The plugin may ignore the signal; the race still ends the attempt on time.
      const output = await abort.race(registered.instance().run(data.input, ctx));
      // The attempt's lines are written while the run is wrapped up; complete before the final record says it ended.
      const logsWritten = runLog?.flush();
      if (def.then.length) await this.enqueueSuccessors(workflow, def, runId, output);
      clearTimeout(runningTimer);
      if (savedRunning) await savedRunning;
      const done: RunRecord = { ...run, status: 'succeeded', finishedAt: Date.now() };
      done.durationMs = done.finishedAt! - run.startedAt!;
      const succeeded: RunEvent = { type: 'succeeded', run: done, output };
      if (logsWritten) await logsWritten;
      // Counted with the final record (the start too, if the running record did not count it): a run the history shows finished is in the counters.
      // A plugin that returned nothing (undefined or null) has no output to keep: no write for it.
      this.finish(ledger.write(done, [started, succeeded], { io: { ...io, output: output ?? undefined }, from: { manifest: registered.manifest, plugin: registered.instance() } }), succeeded);
      await ledger.sent();
      return output ?? null;
    } catch (err) {
      const message = errorMessage(err);
      clearTimeout(runningTimer);
      if (savedRunning) await savedRunning;
      const cancelled = err instanceof RunCancelledError;
      const final = cancelled || isNonRetryable(err) || attempt >= def.retry.attempts;
      const failed: RunRecord = { ...run, status: cancelled ? 'cancelled' : final ? 'failed' : 'retrying', finishedAt: Date.now(), error: message };
      failed.durationMs = failed.finishedAt! - run.startedAt!;
      const failedEvent: RunEvent = { type: 'failed', run: failed, willRetry: !final, error: message };
      ctx.log.warn(
        { attempt, of: def.retry.attempts },
        `${jobKey(data.workflow, data.job)} ${cancelled ? 'was cancelled' : `failed: ${message}`} (${cancelled ? 'not retried' : final ? (isNonRetryable(err) ? 'not retryable' : 'no attempts left') : 'will retry'})`,
      );
      // This line included: the run's log is complete before the final record says the attempt ended.
      const logsWritten = runLog?.close();
      // Before the final record: a run the history shows failed has its handlers enqueued (each once, by id).
      if (final && !cancelled && data.trigger !== 'failure') await this.enqueueFailureHandlers(workflow, def, failed, data.input);
      await logsWritten;
      this.finish(ledger.write(failed, [started, failedEvent], { io }), failedEvent);
      await ledger.sent();
      if (cancelled || isNonRetryable(err)) throw new UnrecoverableError(message);
      throw err;
    } finally {
      // Whatever the path, the attempt's lines are written before BullMQ may retry it: a run's lines stay in attempt order.
      if (runLog) await runLog.close();
      this.opts.cancellation.untrack(runId, abort);
      running.delete(abort);
      clearTimeout(timer);
    }
  }

  /**
   * The final write of an attempt is not awaited, only its leaving (the
   * ledger's `sent`): it goes on the worker's connection, so Redis runs it
   * before BullMQ's completion of the job, which the processor's return
   * sends on that connection next (one connection runs its commands in
   * order). A run costs BullMQ's round trip, not one more before it. Its
   * event is emitted once written.
   */
  private finish(written: Promise<void>, e: RunEvent): void {
    written.then(
      () => this.emitRun(e),
      (err: unknown) => this.opts.log.warn({ err: errorMessage(err), run: e.run.id }, `could not record the end of run ${e.run.id} (${e.run.status})`),
    );
  }

  /**
   * The attempts of this run that a dead worker left unfinished: BullMQ counts
   * them in `stalledCounter` without touching `attemptsMade`. Kept in the run
   * record so the history shows them.
   */
  private async interruptedAttempts(job: Job<RunJobData>, runId: string, attempt: number): Promise<InterruptedAttempt[]> {
    const stalls = job.stalledCounter ?? 0;
    if (!stalls) return [];
    const previous = await this.opts.history.get(runId).catch(() => undefined);
    const known = [...(previous?.interrupted ?? [])];
    while (known.length < stalls) {
      const last = known.length === stalls - 1 && previous?.status === 'running' ? previous : undefined;
      known.push({
        attempt: last?.attempts ?? attempt,
        startedAt: last?.startedAt,
        detectedAt: Date.now(),
        reason: 'its worker died or froze mid-run; the stalled-job check re-queued the run',
      });
    }
    this.opts.log.warn({ run: runId, attempt, interrupted: stalls }, 'taking over a run whose previous worker died mid-run');
    return known;
  }

  /**
   * The `onFailure` jobs of a run that failed for good, each given the failed
   * run. Their runs never start handlers themselves (trigger "failure"), so a
   * failing handler cannot loop.
   */
  private async enqueueFailureHandlers(wf: LoadedWorkflow, def: LoadedJob, failed: RunRecord, input: unknown): Promise<void> {
    const failure = { workflow: failed.workflow, job: failed.job, runId: failed.id, trigger: failed.trigger, attempts: failed.attempts, error: failed.error, input };
    for (const name of def.onFailure ?? []) {
      const handler = wf.jobs[name];
      if (!handler) continue;
      const id = failureRunId(wf.name, name, failed.id);
      const queued: RunRecord = {
        id, workflow: wf.name, job: name, plugin: handler.plugin, trigger: 'failure', status: 'queued', attempts: 0, queuedAt: Date.now(), causedBy: failed.id,
      };
      await this.opts.history.save(queued, { onlyIfNew: true });
      await this.opts.queues.queue(routeOf(handler)).add(
        jobKey(wf.name, name),
        { workflow: wf.name, job: name, trigger: 'failure', input: failure, causedBy: failed.id },
        { ...runJobOptions(handler), jobId: id },
      );
    }
  }

  private async enqueueSuccessors(wf: LoadedWorkflow, def: LoadedJob, runId: string, output: unknown): Promise<void> {
    for (const name of def.then) {
      const next = wf.jobs[name];
      if (!next) continue;
      const id = chainedRunId(wf.name, name, runId);
      const queued: RunRecord = {
        id, workflow: wf.name, job: name, plugin: next.plugin, trigger: 'chain', status: 'queued', attempts: 0, queuedAt: Date.now(), causedBy: runId,
      };
      // Same id on a retried predecessor: the record and the BullMQ job are both left alone.
      await this.opts.history.save(queued, { onlyIfNew: true });
      await this.opts.queues.queue(routeOf(next)).add(
        jobKey(wf.name, name),
        { workflow: wf.name, job: name, trigger: 'chain', input: output, causedBy: runId, inputFrom: { job: def.name, plugin: def.plugin, runId } },
        { ...runJobOptions(next), jobId: id },
      );
    }
  }
}

const CANCEL_WAIT_S = CANCEL_WAIT_MS / 1000;

/**
 * What a run must ask before it starts, or undefined for a job that
 * configures no overlap policy that applies and no concurrency limit (the
 * fast path: no Redis round trip). Only a scheduled fire that has not started
 * yet is subject to the overlap policy; every run of a job with an overlap
 * policy still holds the job's lease, so the next fire sees it.
 */
export function admissionRequest(wf: LoadedWorkflow, def: LoadedJob, runId: string, newFire: boolean): AdmissionRequest | undefined {
  const overlapPolicy = isScheduled(def) && def.overlap !== 'allow' ? (def.overlap ?? 'skip') : undefined;
  if (!overlapPolicy && def.concurrency === undefined && wf.concurrency === undefined) return undefined;
  const fireTime = Number(runId.slice(runId.lastIndexOf('.') + 1));
  return {
    workflow: wf.name,
    jobKey: jobKey(wf.name, def.name),
    runId,
    mode: overlapPolicy && newFire ? overlapPolicy : 'take',
    trackJob: overlapPolicy !== undefined || def.concurrency !== undefined,
    handOver: overlapPolicy === 'queue',
    jobLimit: def.concurrency,
    workflowLimit: wf.concurrency,
    order: Number.isSafeInteger(fireTime) ? fireTime : 0,
  };
}
