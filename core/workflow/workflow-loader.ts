import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseDuration, tryParseDuration } from './duration.js';
import { DEFAULT_ROUTE, type LoadedJob, type LoadedWorkflow } from './loaded-workflow.js';
import { createAjv, describeErrors, escapePointer, type SchemaIssue } from './schema-validator.js';
import { WorkflowError } from './workflow-error.js';
import { Value } from '@sinclair/typebox/value';
import { WebhookSchema, WorkflowFileSchema, type JobDefinition, type WebhookSettings, type WorkflowFile } from './workflow-schema.js';

export type LoadResult = { ok: true; workflow: LoadedWorkflow } | { ok: false; errors: WorkflowError[] };

const validateFile = createAjv().compile(WorkflowFileSchema);

/** Path shown in errors: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** What loading needs of the installed plugins: their names and each one's config check (the PluginRegistry is one). */
export interface PluginSchemas {
  get(name: string): { validateConfig(config: unknown): { ok: true; value: unknown } | { ok: false; issues: SchemaIssue[] } } | undefined;
  names(): string[];
}

/** Parses and validates one workflow file's text. Reports every error at once. */
export function parseWorkflow(text: string, file: string, plugins: PluginSchemas): LoadResult {
  const shown = displayPath(file);
  const fail = (errors: WorkflowError[]): LoadResult => ({ ok: false, errors });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail([new WorkflowError(shown, '/', `not valid JSON: ${(err as Error).message}`)]);
  }
  const copy = structuredClone(raw);
  const structural = validateFile(copy) ? [] : describeErrors(validateFile.errors, copy).map((i) => new WorkflowError(shown, i.pointer, i.message));
  const tree = copy as { jobs?: unknown };
  if (structural.length && (typeof tree !== 'object' || tree === null || !isPlainObject(tree.jobs))) return fail(structural);
  // Semantics run on a malformed tree too (every error at once), over the jobs
  // that are objects; a place that already has a structural error gets no second one.
  const wf = { ...(copy as WorkflowFile), jobs: sanitizeJobs(tree.jobs as Record<string, unknown>) };
  const errors: WorkflowError[] = [];
  const at = (job: string, ...rest: string[]) => ['', 'jobs', job, ...rest].map(escapePointer).join('/');
  const names = Object.keys(wf.jobs);
  const predecessors = new Map<string, string[]>(names.map((n) => [n, []]));
  /** Jobs whose failures each job handles (`onFailure`). */
  const handles = new Map<string, string[]>(names.map((n) => [n, []]));

  for (const [name, def] of Object.entries(wf.jobs)) {
    (def.then ?? []).forEach((next, i) => {
      if (!wf.jobs[next]) errors.push(new WorkflowError(shown, at(name, 'then', String(i)), `"${next}" is not a job of this workflow (jobs: ${names.join(', ')})`));
      else if (next === name) errors.push(new WorkflowError(shown, at(name, 'then', String(i)), `job "${name}" cannot follow itself`));
      else predecessors.get(next)!.push(name);
    });
  }
  for (const [name, def] of Object.entries(wf.jobs)) {
    (def.onFailure ?? []).forEach((handler, i) => {
      if (!wf.jobs[handler]) errors.push(new WorkflowError(shown, at(name, 'onFailure', String(i)), `"${handler}" is not a job of this workflow (jobs: ${names.join(', ')})`));
      else if (handler === name) errors.push(new WorkflowError(shown, at(name, 'onFailure', String(i)), `job "${name}" cannot handle its own failure`));
      else handles.get(handler)!.push(name);
    });
  }
  for (const cycle of findCycles(wf.jobs)) {
    const [first, second] = cycle;
    const idx = (wf.jobs[first!]!.then ?? []).indexOf(second!);
    errors.push(new WorkflowError(shown, at(first!, 'then', String(idx)), `cycle through then: ${cycle.join(' -> ')}`));
  }
  for (const [name, def] of Object.entries(wf.jobs)) {
    errors.push(...checkTrigger(def, name, [...predecessors.get(name)!, ...handles.get(name)!], shown, at));
    if (def.plugin === undefined) continue;
    const registered = plugins.get(def.plugin);
    if (!registered) {
      errors.push(new WorkflowError(shown, at(name, 'plugin'), `unknown plugin "${def.plugin}" (known: ${plugins.names().join(', ') || 'none'})`));
    } else if (def.config === undefined || isPlainObject(def.config)) {
      const checked = registered.validateConfig(def.config ?? {});
      if (checked.ok) def.config = checked.value as Record<string, unknown>;
      else for (const issue of checked.issues) errors.push(new WorkflowError(shown, at(name, 'config') + issue.pointer, issue.message));
    }
  }
  const taken = new Set(structural.map((e) => e.pointer));
  const all = [...structural, ...errors.filter((e) => !taken.has(e.pointer))];
  if (all.length) return fail(all);

  const jobs: Record<string, LoadedJob> = {};
  for (const [name, def] of Object.entries(wf.jobs)) {
    const retry = def.retry;
    jobs[name] = {
      name,
      plugin: def.plugin,
      trigger: {
        every: def.every,
        everyMs: def.every ? parseDuration(def.every) : undefined,
        cron: def.cron,
        timezone: def.timezone,
        manual: def.manual === true,
        webhook: def.webhook ? Value.Default(WebhookSchema, structuredClone(def.webhook)) as WebhookSettings : undefined,
      },
      overlap: def.overlap ?? 'skip',
      ...(def.concurrency !== undefined ? { concurrency: def.concurrency } : {}),
      config: def.config ?? {},
      retry: {
        attempts: retry?.attempts ?? 1,
        backoff: retry?.backoff ?? 'exponential',
        delayMs: retry?.delay ? parseDuration(retry.delay) : 1000,
      },
      timeoutMs: def.timeout ? parseDuration(def.timeout) : undefined,
      then: def.then ?? [],
      onFailure: def.onFailure ?? [],
      route: def.runsOn ?? wf.runsOn ?? DEFAULT_ROUTE,
      predecessors: predecessors.get(name)!,
    };
  }
  return {
    ok: true,
    workflow: { name: wf.name, file, description: wf.description, runsOn: wf.runsOn, ...(wf.concurrency !== undefined ? { concurrency: wf.concurrency } : {}), jobs },
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The jobs that are objects, with wrongly typed `then`/`plugin` left out (their structural errors stand). */
function sanitizeJobs(jobs: Record<string, unknown>): Record<string, JobDefinition> {
  const out: Record<string, JobDefinition> = {};
  for (const [name, value] of Object.entries(jobs)) {
    if (!isPlainObject(value)) continue;
    const def = { ...value } as Record<string, unknown>;
    if (typeof def.plugin !== 'string' || def.plugin === '') delete def.plugin;
    if (!Array.isArray(def.then)) delete def.then;
    else def.then = (def.then as unknown[]).filter((t): t is string => typeof t === 'string');
    if (!Array.isArray(def.onFailure)) delete def.onFailure;
    else def.onFailure = (def.onFailure as unknown[]).filter((t): t is string => typeof t === 'string');
    out[name] = def as JobDefinition;
  }
  return out;
}

function checkTrigger(
  def: JobDefinition,
  name: string,
  preds: string[],
  file: string,
  at: (job: string, ...rest: string[]) => string,
): WorkflowError[] {
  const errors: WorkflowError[] = [];
  if (def.every !== undefined && def.cron !== undefined) {
    errors.push(new WorkflowError(file, at(name), 'has both "every" and "cron": choose one trigger'));
  }
  const everyMs = typeof def.every === 'string' ? tryParseDuration(def.every) : undefined;
  if (everyMs !== undefined) {
    const ms = everyMs;
    if (ms < 1000) errors.push(new WorkflowError(file, at(name, 'every'), `"${def.every}" is shorter than the smallest interval, 1s`));
  }
  if (def.timezone !== undefined && def.cron === undefined) {
    errors.push(new WorkflowError(file, at(name, 'timezone'), '"timezone" applies only to a "cron" trigger'));
  }
  if (typeof def.timeout === 'string' && (tryParseDuration(def.timeout) ?? 1) < 1) {
    errors.push(new WorkflowError(file, at(name, 'timeout'), 'must be at least 1ms'));
  }
  const triggered = def.every !== undefined || def.cron !== undefined;
  if (def.overlap !== undefined && !triggered) {
    errors.push(new WorkflowError(file, at(name, 'overlap'), '"overlap" applies only to a job with "every" or "cron" (use "concurrency" to limit its runs)'));
  }
  if (def.manual === true && triggered) {
    errors.push(new WorkflowError(file, at(name, 'manual'), 'a manual job cannot also have "every" or "cron"'));
  }
  if (!triggered && def.manual !== true && preds.length === 0) {
    errors.push(new WorkflowError(file, at(name), 'has no trigger: give it "every" or "cron", name it in another job\'s "then" or "onFailure", or set "manual": true'));
  }
  return errors;
}

/** Each elementary cycle once, as [a, b, ..., a], found by DFS from sorted names. */
function findCycles(jobs: Record<string, JobDefinition>): string[][] {
  const cycles: string[][] = [];
  const reported = new Set<string>();
  const visit = (node: string, stack: string[]) => {
    for (const next of jobs[node]?.then ?? []) {
      if (!jobs[next] || next === node) continue;
      const i = stack.indexOf(next);
      if (i >= 0) {
        const cycle = [...stack.slice(i), next];
        const key = [...cycle.slice(0, -1)].sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          cycles.push(cycle);
        }
        continue;
      }
      if (stack.length < 64) visit(next, [...stack, next]);
    }
  };
  for (const name of Object.keys(jobs).sort()) visit(name, [name]);
  return cycles;
}

export function loadWorkflowFile(file: string, plugins: PluginSchemas): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [new WorkflowError(displayPath(file), '/', `cannot read: ${(err as Error).message}`)] };
  }
  return parseWorkflow(text, file, plugins);
}

export interface DirectoryLoad {
  workflows: LoadedWorkflow[];
  errors: WorkflowError[];
  /** Files refused whole, by path. */
  failedFiles: string[];
}

/** Every *.json in dir but the schema. A broken file is refused whole; the others still load. */
export function workflowFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'workflow.schema.json')
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadWorkflowDir(dir: string, plugins: PluginSchemas): DirectoryLoad {
  return loadWorkflowFiles(workflowFiles(dir), plugins);
}

export function loadWorkflowFiles(files: string[], plugins: PluginSchemas): DirectoryLoad {
  const out: DirectoryLoad = { workflows: [], errors: [], failedFiles: [] };
  const byName = new Map<string, string>();
  for (const file of files) {
    const r = loadWorkflowFile(file, plugins);
    if (!r.ok) {
      out.errors.push(...r.errors);
      out.failedFiles.push(file);
      continue;
    }
    const other = byName.get(r.workflow.name);
    if (other) {
      out.errors.push(new WorkflowError(displayPath(file), '/name', `workflow "${r.workflow.name}" is already defined in ${displayPath(other)}`));
      out.failedFiles.push(file);
      continue;
    }
    byName.set(r.workflow.name, file);
    out.workflows.push(r.workflow);
  }
  return out;
}
