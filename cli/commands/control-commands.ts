import type { EngineConfig } from '../../core/config/engine-config.js';
import type { PauseTarget, WorkflowStatus } from '../../core/control/engine-control.js';
import type { RunLogs } from '../../core/history/run-logs.js';
import { RunStatusSchema, type RunQuery, type RunRecord, type RunStatus } from '../../core/history/run-record.js';
import { checkRunInput, RunInputError } from '../../core/control/run-input-limits.js';
import { connectControl } from '../control-client.js';

export function parseTarget(text: string | undefined, needJob: boolean): PauseTarget & { job?: string } {
  if (!text) {
    if (needJob) throw new Error('name the job as <workflow>/<job>');
    return {};
  }
  const [workflow, job, extra] = text.split('/');
  if (!workflow || extra !== undefined || (needJob && !job) || job === '') {
    throw new Error(`"${text}" is not ${needJob ? '<workflow>/<job>' : '<workflow>[/<job>]'}`);
  }
  return { workflow, job };
}

async function withControl<T>(config: EngineConfig, fn: (c: Awaited<ReturnType<typeof connectControl>>['control']) => Promise<T>): Promise<T> {
  const { control, close } = await connectControl(config);
  try {
    return await fn(control);
  } finally {
    await close();
  }
}

/** `tideflow cancel <run id>`: removes a queued run, or aborts a running one. */
export async function cancelCommand(config: EngineConfig, runId: string): Promise<string> {
  const r = await withControl(config, (c) => c.cancel(runId));
  return r.status === 'cancelled' ? `cancelled ${runId} (it was queued: removed)` : `cancelling ${runId}: its runner aborts it (see \`tideflow status\`)`;
}

export async function triggerCommand(config: EngineConfig, target: string, inputJson?: string): Promise<string> {
  const { workflow, job } = parseTarget(target, true);
  let input: unknown;
  if (inputJson !== undefined) {
    try {
      input = JSON.parse(inputJson);
    } catch (err) {
      throw new Error(`--input is not valid JSON: ${(err as Error).message}`);
    }
  }
  try {
    checkRunInput(input);
  } catch (err) {
    if (err instanceof RunInputError) throw new Error(`--input${err.pointer ? ` at ${err.pointer}` : ''}: ${err.message}`);
    throw err;
  }
  const { runId } = await withControl(config, (c) => c.trigger(workflow!, job!, input));
  return `triggered ${workflow}/${job}: run ${runId}`;
}

export async function pauseCommand(config: EngineConfig, target: string | undefined, action: 'pause' | 'resume'): Promise<string> {
  const t = parseTarget(target, false);
  await withControl(config, (c) => (action === 'pause' ? c.pause(t) : c.resume(t)));
  const what = t.workflow ? `${t.workflow}${t.job ? `/${t.job}` : ''}` : 'everything';
  return `${action === 'pause' ? 'paused' : 'resumed'} ${what}`;
}

const when = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');

export function formatStatus(workflows: WorkflowStatus[]): string {
  if (!workflows.length) return 'no workflows are loaded';
  const rows = [['JOB', 'PLUGIN', 'TRIGGER', 'STATE', 'NEXT RUN', 'LAST RUN', 'LAST STATUS', 'ROUTE']];
  for (const wf of workflows) {
    for (const j of wf.jobs) {
      const trig = j.trigger.every ? `every ${j.trigger.every}` : j.trigger.cron ? `cron ${j.trigger.cron}` : j.trigger.manual ? 'manual' : `after ${j.trigger.chainedFrom?.join(',')}`;
      const state = j.state === 'active' && j.waiting ? 'waiting' : j.state + (j.pausedBy && j.pausedBy !== 'job' ? ` (${j.pausedBy})` : '');
      const route = `${j.route} (${j.routeWorkers} worker${j.routeWorkers === 1 ? '' : 's'})`;
      rows.push([`${wf.name}/${j.job}`, j.plugin, trig, state, when(j.nextRunAt), when(j.lastRun?.startedAt ?? j.lastRun?.queuedAt), j.lastRun?.status ?? '-', route]);
    }
  }
  const lines = [table(rows)];
  const unserved = [...new Set(workflows.flatMap((wf) => wf.jobs.filter((j) => j.waiting).map((j) => j.route)))];
  for (const route of unserved) lines.push(`\nroute "${route}": no live worker serves it; its jobs wait (start \`tideflow worker --serve ${route}\` on the host it names)`);
  for (const wf of workflows) if (wf.error) lines.push(`\n${wf.name}: its file has errors; the last good definition is running:\n${wf.error}`);
  return lines.join('\n');
}

export async function statusCommand(config: EngineConfig, json: boolean): Promise<string> {
  const workflows = await withControl(config, (c) => c.listWorkflows());
  return json ? JSON.stringify(workflows, null, 2) : formatStatus(workflows);
}

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const seconds = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`);

export function formatRuns(runs: RunRecord[], total: number): string {
  if (!runs.length) return total ? `no runs on this page (${total} in history)` : 'no runs in history';
  const rows = [['RUN', 'JOB', 'TRIGGER', 'STATUS', 'ATTEMPTS', 'QUEUED', 'DURATION', 'HOST', 'ERROR']];
  for (const r of runs) {
    const status = r.waiting ? `${r.status} (waiting: ${r.waiting.for})` : r.status;
    rows.push([r.id, `${r.workflow}/${r.job}`, r.trigger, status, String(r.attempts), when(r.queuedAt), seconds(r.durationMs), r.host ?? '-', (r.error ?? '').slice(0, 80)]);
  }
  return `${table(rows)}\n(${runs.length} of ${total}, newest first)`;
}

export interface RunsFlags {
  job?: string;
  status?: string;
  host?: string;
  limit?: string;
  json?: boolean;
}

/** `tideflow runs`: the newest runs, optionally of one workflow or job, one status, one host. */
export async function runsCommand(config: EngineConfig, flags: RunsFlags): Promise<string> {
  const query: RunQuery = {};
  if (flags.job) Object.assign(query, parseTarget(flags.job, false));
  if (flags.status !== undefined) {
    const allowed = (RunStatusSchema as unknown as { enum: RunStatus[] }).enum;
    if (!allowed.includes(flags.status as RunStatus)) throw new Error(`--status must be one of ${allowed.join(', ')}, got "${flags.status}"`);
    query.status = flags.status as RunStatus;
  }
  if (flags.host) query.host = flags.host;
  const limit = flags.limit === undefined ? 20 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new Error(`--limit must be an integer 1..1000, got "${flags.limit}"`);
  query.limit = limit;
  const { runs, total } = await withControl(config, (c) => c.listRuns(query));
  return flags.json ? JSON.stringify({ runs, total }, null, 2) : formatRuns(runs, total);
}

export function formatRunLogs(run: RunRecord, logs: Omit<RunLogs, 'runId'>): string {
  const head = `run ${run.id} (${run.workflow}/${run.job}): ${run.status}, ${run.attempts} attempt${run.attempts === 1 ? '' : 's'}${run.error ? `: ${run.error}` : ''}`;
  const out = [head];
  if (logs.dropped) out.push(`(${logs.dropped} earlier line${logs.dropped === 1 ? '' : 's'} dropped: only the newest ${logs.lines.length} are kept)`);
  if (!logs.lines.length) out.push('(the run logged nothing)');
  for (const l of logs.lines) {
    const fields = l.fields && Object.keys(l.fields).length ? ` ${JSON.stringify(l.fields)}` : '';
    out.push(`${new Date(l.t).toISOString().slice(11, 23)} #${l.attempt} ${l.level.toUpperCase().padEnd(5)} ${l.msg}${fields}${l.truncated ? ` (cut, was ${l.truncated} bytes)` : ''}`);
  }
  return out.join('\n');
}

/** `tideflow logs <run id>`: what the run's plugin logged (every attempt), as kept with the run. */
export async function logsCommand(config: EngineConfig, runId: string, json: boolean): Promise<string> {
  const [run, logs] = await withControl(config, (c) => Promise.all([c.getRun(runId), c.getRunLogs(runId)]));
  if (!run || !logs) throw new Error(`no run "${runId}" (unknown, or older than the history keeps); list runs with \`tideflow runs\``);
  return json ? JSON.stringify(logs, null, 2) : formatRunLogs(run, logs);
}
