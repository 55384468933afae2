import { EventEmitter } from 'node:events';
import {
  NotFoundError,
  type EngineControl,
  type JobStatus,
  type JobTriggerInfo,
  type PauseTarget,
  type WorkflowStatus,
} from '../../core/control/engine-control.js';
import type { RunEvent, RunEventSource } from '../../core/control/engine-events.js';
import type { HealthCheck } from '../../core/health/health-check.js';
import type { RunQuery, RunRecord } from '../../core/history/run-record.js';
import type { RunAttempt, RunIo } from '../../core/history/run-details.js';
import type { RunLogLine, RunLogs } from '../../core/history/run-logs.js';

export interface FakeJobDef {
  plugin: string;
  trigger?: JobTriggerInfo;
  /** ms; when set, nextRunAt = now + interval while active. */
  intervalMs?: number;
  /** Its route (default `default`). */
  route?: string;
  /** Live workers serving its route (default 1); 0 makes the job `waiting`, as the engine reports it. */
  routeWorkers?: number;
  then?: string[];
  onFailure?: string[];
}

export interface FakeWorkflowDef {
  name: string;
  file?: string;
  jobs: Record<string, FakeJobDef>;
}

export type FakeCall =
  | { op: 'trigger'; workflow: string; job: string; input: unknown }
  | { op: 'pause' | 'resume'; target: PauseTarget }
  | { op: 'cancel'; runId: string };

/**
 * In-memory EngineControl + RunEventSource for HTTP-layer tests. Pause state
 * is kept per job, per workflow and globally, like the engine's; every
 * mutating call is recorded in `calls` so a test can assert that nothing
 * happened (401).
 */
export class FakeEngineControl implements EngineControl, RunEventSource {
  readonly calls: FakeCall[] = [];
  healthChecks: Record<string, HealthCheck> = {
    redis: { status: 'up' },
    docker: { status: 'up' },
    scheduler: { status: 'up' },
    store: { status: 'up' },
  };
  private readonly defs = new Map<string, FakeWorkflowDef>();
  private readonly runs: RunRecord[] = [];
  private readonly emitter = new EventEmitter();
  private globalPaused = false;
  private readonly pausedWorkflows = new Set<string>();
  private readonly pausedJobs = new Set<string>();
  private seq = 0;

  constructor(workflows: FakeWorkflowDef[] = [], private readonly now: () => number = Date.now) {
    for (const wf of workflows) this.defs.set(wf.name, wf);
  }

  // --- RunEventSource -------------------------------------------------------
  on(event: 'run', listener: (e: RunEvent) => void): this {
    this.emitter.on(event, listener);
    return this;
  }
  off(event: 'run', listener: (e: RunEvent) => void): this {
    this.emitter.off(event, listener);
    return this;
  }
  /** Emits a run event (and records the run so /api/runs sees it). */
  emitRun(e: RunEvent): void {
    this.upsertRun(e.run);
    this.emitter.emit('run', e);
  }
  listenerCount(): number {
    return this.emitter.listenerCount('run');
  }

  // --- test helpers -----------------------------------------------------------
  addRun(run: Partial<RunRecord> & Pick<RunRecord, 'workflow' | 'job'>): RunRecord {
    const record: RunRecord = {
      id: run.id ?? `run-${++this.seq}`,
      plugin: run.plugin ?? this.defs.get(run.workflow)?.jobs[run.job]?.plugin ?? 'unknown',
      trigger: 'schedule',
      status: 'succeeded',
      attempts: 1,
      queuedAt: this.now(),
      ...run,
    };
    this.upsertRun(record);
    return record;
  }

  private upsertRun(run: RunRecord): void {
    const i = this.runs.findIndex((r) => r.id === run.id);
    if (i >= 0) this.runs[i] = run;
    else this.runs.push(run);
  }

  private def(name: string): FakeWorkflowDef {
    const wf = this.defs.get(name);
    if (!wf) throw new NotFoundError(`no workflow ${name}`);
    return wf;
  }

  private jobStatus(wf: FakeWorkflowDef, job: string): JobStatus {
    const d = wf.jobs[job]!;
    const pausedBy = this.globalPaused
      ? 'global'
      : this.pausedWorkflows.has(wf.name)
        ? 'workflow'
        : this.pausedJobs.has(`${wf.name}/${job}`)
          ? 'job'
          : undefined;
    const lastRun =
      this.runs
        .filter((r) => r.workflow === wf.name && r.job === job)
        .sort((a, b) => (b.startedAt ?? b.queuedAt) - (a.startedAt ?? a.queuedAt))[0] ?? null;
    return {
      workflow: wf.name,
      job,
      plugin: d.plugin,
      trigger: d.trigger ?? {},
      state: pausedBy ? 'paused' : 'active',
      ...(pausedBy ? { pausedBy } : {}),
      nextRunAt: !pausedBy && d.intervalMs ? this.now() + d.intervalMs : null,
      lastRun,
      route: d.route ?? 'default',
      routeWorkers: d.routeWorkers ?? 1,
      ...(d.routeWorkers === 0 ? { waiting: `no live worker serves route "${d.route ?? 'default'}" (start \`tideflow worker --serve ${d.route ?? 'default'}\`)` } : {}),
      then: d.then ?? [],
      onFailure: d.onFailure ?? [],
    };
  }

  private status(wf: FakeWorkflowDef): WorkflowStatus {
    const jobs = Object.keys(wf.jobs).map((j) => this.jobStatus(wf, j));
    const paused = this.globalPaused || this.pausedWorkflows.has(wf.name);
    return { name: wf.name, file: wf.file ?? `workflows/${wf.name}.json`, state: paused ? 'paused' : 'active', jobs };
  }

  // --- EngineControl --------------------------------------------------------------
  async listWorkflows(): Promise<WorkflowStatus[]> {
    return [...this.defs.values()].map((wf) => this.status(wf));
  }

  async getWorkflow(name: string): Promise<WorkflowStatus> {
    return this.status(this.def(name));
  }

  async trigger(workflow: string, job: string, input?: unknown): Promise<{ runId: string }> {
    const wf = this.def(workflow);
    if (!wf.jobs[job]) throw new NotFoundError(`workflow ${workflow} has no job ${job}`);
    this.calls.push({ op: 'trigger', workflow, job, input });
    const run = this.addRun({ workflow, job, trigger: 'manual', status: 'queued', attempts: 0 });
    return { runId: run.id };
  }

  async cancel(runId: string): Promise<{ runId: string; status: 'cancelled' | 'cancelling' }> {
    const run = this.runs.find((r) => r.id === runId);
    if (!run) throw new NotFoundError(`no run "${runId}"`);
    this.calls.push({ op: 'cancel', runId });
    run.status = 'cancelled';
    return { runId, status: 'cancelled' };
  }

  /** Fake jobs have no webhooks (the webhook route is tested on a real engine). */
  async webhookOf(workflow: string, job: string): Promise<never> {
    throw new NotFoundError(`job "${workflow}/${job}" has no webhook`);
  }

  async triggerByWebhook(workflow: string, job: string): Promise<never> {
    throw new NotFoundError(`job "${workflow}/${job}" has no webhook`);
  }

  private checkTarget(target: PauseTarget): void {
    if (target.workflow === undefined) return;
    const wf = this.def(target.workflow);
    if (target.job !== undefined && !wf.jobs[target.job]) {
      throw new NotFoundError(`workflow ${target.workflow} has no job ${target.job}`);
    }
  }

  async pause(target: PauseTarget): Promise<void> {
    this.checkTarget(target);
    this.calls.push({ op: 'pause', target });
    if (target.workflow === undefined) this.globalPaused = true;
    else if (target.job === undefined) this.pausedWorkflows.add(target.workflow);
    else this.pausedJobs.add(`${target.workflow}/${target.job}`);
  }

  async resume(target: PauseTarget): Promise<void> {
    this.checkTarget(target);
    this.calls.push({ op: 'resume', target });
    if (target.workflow === undefined) {
      this.globalPaused = false;
      this.pausedWorkflows.clear();
      this.pausedJobs.clear();
    } else if (target.job === undefined) {
      this.pausedWorkflows.delete(target.workflow);
      for (const k of [...this.pausedJobs]) if (k.startsWith(`${target.workflow}/`)) this.pausedJobs.delete(k);
    } else this.pausedJobs.delete(`${target.workflow}/${target.job}`);
  }

  async listRuns(query: RunQuery): Promise<{ runs: RunRecord[]; total: number }> {
    const matching = this.runs
      .filter((r) => (query.workflow === undefined || r.workflow === query.workflow))
      .filter((r) => (query.job === undefined || r.job === query.job))
      .filter((r) => (query.status === undefined || r.status === query.status))
      .filter((r) => (query.host === undefined || r.host === query.host))
      .sort((a, b) => b.queuedAt - a.queuedAt);
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 50;
    return { runs: matching.slice(offset, offset + limit), total: matching.length };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.runs.find((r) => r.id === id);
  }

  /** A run's log lines and io, as a test sets them (runLogs / runIo); empty for a known run without. */
  readonly runLogs = new Map<string, RunLogLine[]>();
  readonly runIo = new Map<string, Omit<RunIo, 'runId'>>();

  async getRunLogs(id: string): Promise<RunLogs | undefined> {
    if (!(await this.getRun(id))) return undefined;
    const lines = this.runLogs.get(id) ?? [];
    return { runId: id, lines, total: lines.length, dropped: 0 };
  }

  async getRunDetails(id: string): Promise<{ io: RunIo; attempts: RunAttempt[] } | undefined> {
    const run = await this.getRun(id);
    if (!run) return undefined;
    const attempts: RunAttempt[] = run.startedAt === undefined ? [] : [{ attempt: run.attempts, status: run.status, startedAt: run.startedAt, finishedAt: run.finishedAt, error: run.error }];
    return { io: { runId: id, ...this.runIo.get(id) }, attempts };
  }

  async health(): Promise<Record<string, HealthCheck>> {
    return this.healthChecks;
  }
}

/** The built-in container-lifecycle workflow's shape, for tests. */
export function lifecycleWorkflow(): FakeWorkflowDef {
  return {
    name: 'container-lifecycle',
    jobs: {
      spawn: { plugin: 'spawner', trigger: { every: '1m' }, intervalMs: 60_000, then: ['log'] },
      analyze: { plugin: 'analyzer', trigger: { every: '10s' }, intervalMs: 10_000, then: ['log'] },
      log: { plugin: 'logger', trigger: { chainedFrom: ['spawn', 'analyze'] } },
      chart: { plugin: 'charts', trigger: { every: '1m' }, intervalMs: 60_000 },
    },
  };
}
