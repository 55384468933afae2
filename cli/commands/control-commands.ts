import type { EngineConfig } from '../../core/config/engine-config.js';
import type { PauseTarget, WorkflowStatus } from '../../core/control/engine-control.js';
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
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const unserved = [...new Set(workflows.flatMap((wf) => wf.jobs.filter((j) => j.waiting).map((j) => j.route)))];
  for (const route of unserved) lines.push(`\nroute "${route}": no live worker serves it; its jobs wait (start \`tideflow worker --serve ${route}\` on the host it names)`);
  for (const wf of workflows) if (wf.error) lines.push(`\n${wf.name}: its file has errors; the last good definition is running:\n${wf.error}`);
  return lines.join('\n');
}

export async function statusCommand(config: EngineConfig, json: boolean): Promise<string> {
  const workflows = await withControl(config, (c) => c.listWorkflows());
  return json ? JSON.stringify(workflows, null, 2) : formatStatus(workflows);
}
