import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { loadWorkflowDir, parseWorkflow } from '../../core/workflow/workflow-loader.js';
import { NoopPlugin } from '../support/test-plugins.js';

function registry(): PluginRegistry {
  const r = new PluginRegistry();
  r.register(NoopPlugin, 'test');
  return r;
}

const reg = registry();
const ok = { name: 'wf', jobs: { a: { plugin: 'noop', every: '10s', then: ['b'] }, b: { plugin: 'noop' } } };
const F = 'workflows/x.json';

/** [case, file text, expected error lines (all of them, in order)] */
const broken: Array<[string, string, string[]]> = [
  ['not JSON', '{"name": "wf",', [`${F}: /: not valid JSON`]],
  ['not an object', '[]', [`${F}: /: must be object, got array`]],
  ['missing name', JSON.stringify({ jobs: ok.jobs }), [`${F}: /name: is required`]],
  ['missing jobs', JSON.stringify({ name: 'wf' }), [`${F}: /jobs: is required`]],
  ['empty jobs', JSON.stringify({ name: 'wf', jobs: {} }), [`${F}: /jobs: must NOT have fewer than 1 properties`]],
  ['bad workflow name', JSON.stringify({ ...ok, name: 'My Flow' }), [`${F}: /name: "My Flow" does not match`]],
  ['unknown top-level key', JSON.stringify({ ...ok, jbos: {} }), [`${F}: /jbos: unknown key "jbos"`]],
  ['unknown job key', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', evrey: '1m' } } }), [`${F}: /jobs/a/evrey: unknown key "evrey"`]],
  ['bad job name', JSON.stringify({ name: 'wf', jobs: { 'a b': { plugin: 'noop', every: '1m' } } }), [`${F}: /jobs/a b: unknown key "a b"`]],
  ['bad duration', JSON.stringify({ name: 'wf', jobs: { analyze: { plugin: 'noop', every: '10 seconds' } } }), [`${F}: /jobs/analyze/every: "10 seconds" is not a duration like 10s, 1m`]],
  ['every below 1s', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '500ms' } } }), [`${F}: /jobs/a/every: "500ms" is shorter than the smallest interval, 1s`]],
  ['bad cron', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', cron: '61 * * * *' } } }), [`${F}: /jobs/a/cron: "61 * * * *" is not a valid cron expression`]],
  ['bad timezone', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', cron: '* * * * *', timezone: 'Mars/Olympus' } } }), [`${F}: /jobs/a/timezone: "Mars/Olympus" is not an IANA time zone`]],
  ['timezone without cron', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', timezone: 'UTC' } } }), [`${F}: /jobs/a/timezone: "timezone" applies only to a "cron" trigger`]],
  ['both every and cron', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', cron: '* * * * *' } } }), [`${F}: /jobs/a: has both "every" and "cron"`]],
  ['no trigger', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop' } } }), [`${F}: /jobs/a: has no trigger`]],
  ['manual with every', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', manual: true } } }), [`${F}: /jobs/a/manual: a manual job cannot also have "every" or "cron"`]],
  ['unknown plugin', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'spawnr', every: '1m' } } }), [`${F}: /jobs/a/plugin: unknown plugin "spawnr" (known: noop)`]],
  ['then names a missing job', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', then: ['lgo'] } } }), [`${F}: /jobs/a/then/0: "lgo" is not a job of this workflow`]],
  ['then names itself', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', then: ['a'] } } }), [`${F}: /jobs/a/then/0: job "a" cannot follow itself`]],
  ['onFailure names a missing job', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', onFailure: ['ntfy'] } } }), [`${F}: /jobs/a/onFailure/0: "ntfy" is not a job of this workflow`]],
  ['onFailure names itself', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', onFailure: ['a'] } } }), [`${F}: /jobs/a/onFailure/0: job "a" cannot handle its own failure`]],
  ['cycle through then', JSON.stringify({ name: 'wf', jobs: { s: { plugin: 'noop', every: '1m', then: ['a'] }, a: { plugin: 'noop', then: ['b'] }, b: { plugin: 'noop', then: ['a'] } } }), [`${F}: /jobs/a/then/0: cycle through then: a -> b -> a`]],
  ['duplicate then entries', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', then: ['b', 'b'] }, b: { plugin: 'noop' } } }), [`${F}: /jobs/a/then: must NOT have duplicate items`]],
  ['config fails plugin schema', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', config: { count: 0 } } } }), [`${F}: /jobs/a/config/count: must be >= 1`]],
  ['config has unknown key', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', config: { cuont: 3 } } } }), [`${F}: /jobs/a/config/cuont: unknown key "cuont"`]],
  ['config wrong enum', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', config: { level: 'mid' } } } }), [`${F}: /jobs/a/config/level: "mid" must be one of ["low","high"]`]],
  ['config wrong type', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', config: { count: '3' } } } }), [`${F}: /jobs/a/config/count: must be integer, got string`]],
  ['retry attempts zero', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', retry: { attempts: 0 } } } }), [`${F}: /jobs/a/retry/attempts: must be >= 1`]],
  ['retry bad backoff', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', retry: { backoff: 'linear' } } } }), [`${F}: /jobs/a/retry/backoff: "linear" must be one of ["fixed","exponential"]`]],
  ['bad timeout', JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', timeout: 'soon' } } }), [`${F}: /jobs/a/timeout: "soon" is not a duration like 10s, 1m`]],
  [
    'several errors at once',
    JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'nope', every: '1m', then: ['zz'] }, b: { plugin: 'noop' } } }),
    [`${F}: /jobs/a/then/0: "zz" is not a job of this workflow`, `${F}: /jobs/a/plugin: unknown plugin "nope"`, `${F}: /jobs/b: has no trigger`],
  ],
  [
    'structural and semantic errors together',
    JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'nope', every: '10 seconds', then: ['zz'] }, b: { plugin: 42 }, c: 'not a job' } }),
    [
      `${F}: /jobs/a/every: "10 seconds" is not a duration like 10s, 1m`,
      `${F}: /jobs/b/plugin: must be string, got number`,
      `${F}: /jobs/c: must be object, got string`,
      `${F}: /jobs/a/then/0: "zz" is not a job of this workflow`,
      `${F}: /jobs/a/plugin: unknown plugin "nope"`,
      `${F}: /jobs/b: has no trigger`,
    ],
  ],
];

describe('workflow loader', () => {
  it.each(broken)('refuses %s with the exact path', (_label, text, expected) => {
    const r = parseWorkflow(text, path.resolve(F), reg);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.errors.map(String);
    expect(lines).toHaveLength(expected.length);
    expected.forEach((prefix, i) => expect(lines[i]!.startsWith(prefix), `${lines[i]} should start with ${prefix}`).toBe(true));
  });

  it('has at least 20 broken cases', () => expect(broken.length).toBeGreaterThanOrEqual(20));

  it('a job reached only through onFailure needs no trigger of its own, and loads its handlers', () => {
    const r = parseWorkflow(JSON.stringify({ name: 'wf', jobs: { a: { plugin: 'noop', every: '1m', onFailure: ['h'] }, h: { plugin: 'noop' } } }), F, registry());
    expect(r.ok ? [] : r.errors.map(String)).toEqual([]);
    expect(r.ok && [r.workflow.jobs.a!.onFailure, r.workflow.jobs.h!.onFailure, r.workflow.jobs.h!.predecessors]).toEqual([['h'], [], []]);
  });

  it('loads a valid file with defaults applied and durations in ms', () => {
    const text = JSON.stringify({
      $schema: './workflow.schema.json',
      name: 'wf',
      jobs: {
        a: { plugin: 'noop', every: '10s', retry: { attempts: 3, delay: '2s' }, timeout: '1m', then: ['b'] },
        b: { plugin: 'noop', config: { level: 'high' } },
        c: { plugin: 'noop', cron: '*/5 * * * *', timezone: 'Europe/Paris' },
        d: { plugin: 'noop', manual: true },
      },
    });
    const r = parseWorkflow(text, path.resolve(F), reg);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const { jobs } = r.workflow;
    expect(jobs.a!.trigger.everyMs).toBe(10_000);
    expect(jobs.a!.retry).toEqual({ attempts: 3, backoff: 'exponential', delayMs: 2000 });
    expect(jobs.a!.timeoutMs).toBe(60_000);
    expect(jobs.a!.config).toEqual({ count: 10 });
    expect(jobs.b!.config).toEqual({ level: 'high', count: 10 });
    expect(jobs.b!.predecessors).toEqual(['a']);
    expect(jobs.c!.trigger).toMatchObject({ cron: '*/5 * * * *', timezone: 'Europe/Paris' });
    expect(jobs.d!.trigger.manual).toBe(true);
  });

  it('loads the other files of a directory when one is broken, and refuses duplicate names', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-wf-'));
    writeFileSync(path.join(dir, 'a.json'), JSON.stringify(ok));
    writeFileSync(path.join(dir, 'b.json'), '{ broken');
    writeFileSync(path.join(dir, 'c.json'), JSON.stringify(ok));
    writeFileSync(path.join(dir, 'workflow.schema.json'), '{}');
    const r = loadWorkflowDir(dir, reg);
    expect(r.workflows.map((w) => w.name)).toEqual(['wf']);
    expect(r.failedFiles.map((f) => path.basename(f))).toEqual(['b.json', 'c.json']);
    expect(r.errors.map(String)[1]).toMatch(/c\.json: \/name: workflow "wf" is already defined in .*a\.json/);
  });
});
