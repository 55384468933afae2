import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { admissionRequest } from '../../core/runner/job-runner.js';
import { parseWorkflow } from '../../core/workflow/workflow-loader.js';
import { NoopPlugin } from '../support/test-plugins.js';

const reg = new PluginRegistry();
reg.register(NoopPlugin, 'test');
const F = 'workflows/x.json';
const wf = (jobs: Record<string, unknown>, top: Record<string, unknown> = {}) => JSON.stringify({ name: 'wf', ...top, jobs });
const every = (extra: Record<string, unknown>) => wf({ a: { plugin: 'noop', every: '10s', ...extra } });

/** [case, file text, every error line, exactly] */
const refused: Array<[string, string, string[]]> = [
  ['job concurrency zero', every({ concurrency: 0 }), [`${F}: /jobs/a/concurrency: must be >= 1`]],
  ['job concurrency negative', every({ concurrency: -3 }), [`${F}: /jobs/a/concurrency: must be >= 1`]],
  ['job concurrency not whole', every({ concurrency: 2.5 }), [`${F}: /jobs/a/concurrency: must be a whole number, got 2.5`]],
  ['job concurrency absurd', every({ concurrency: 1e9 }), [`${F}: /jobs/a/concurrency: must be <= 1000`]],
  ['job concurrency a string', every({ concurrency: '2' }), [`${F}: /jobs/a/concurrency: must be integer, got string`]],
  ['workflow concurrency zero', wf({ a: { plugin: 'noop', every: '10s' } }, { concurrency: 0 }), [`${F}: /concurrency: must be >= 1`]],
  ['workflow concurrency not whole', wf({ a: { plugin: 'noop', every: '10s' } }, { concurrency: 0.5 }), [`${F}: /concurrency: must be a whole number, got 0.5`, `${F}: /concurrency: must be >= 1`]],
  ['workflow concurrency absurd', wf({ a: { plugin: 'noop', every: '10s' } }, { concurrency: 1e9 }), [`${F}: /concurrency: must be <= 1000`]],
  ['unknown overlap policy', every({ overlap: 'buffer' }), [`${F}: /jobs/a/overlap: "buffer" must be one of ["skip","allow","queue","cancel-previous"]`]],
  ['overlap on a manual job', wf({ a: { plugin: 'noop', manual: true, overlap: 'queue' } }), [`${F}: /jobs/a/overlap: "overlap" applies only to a job with "every" or "cron" (use "concurrency" to limit its runs)`]],
  [
    'several at once, each at its place',
    wf({ a: { plugin: 'noop', every: '10s', concurrency: -1, overlap: 'cancel' }, 'b/c': { plugin: 'noop', manual: true, concurrency: 3.5 } }, { concurrency: 1e9 }),
    [
      `${F}: /concurrency: must be <= 1000`,
      `${F}: /jobs/a/concurrency: must be >= 1`,
      `${F}: /jobs/a/overlap: "cancel" must be one of ["skip","allow","queue","cancel-previous"]`,
      `${F}: /jobs/b~1c: unknown key "b/c"`,
    ],
  ],
];

describe('overlap and concurrency in workflow files', () => {
  it.each(refused)('refuses %s with the file and JSON pointer', (_label, text, expected) => {
    const r = parseWorkflow(text, path.resolve(F), reg);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map(String).sort()).toEqual([...expected].sort());
  });

  it('loads the policies and limits', () => {
    const r = parseWorkflow(
      wf(
        {
          q: { plugin: 'noop', every: '10s', overlap: 'queue' },
          c: { plugin: 'noop', cron: '* * * * *', overlap: 'cancel-previous', concurrency: 3 },
          m: { plugin: 'noop', manual: true, concurrency: 1000 },
          p: { plugin: 'noop', every: '1m' },
        },
        { concurrency: 4 },
      ),
      F,
      reg,
    );
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const { jobs, concurrency } = r.workflow;
    expect(concurrency).toBe(4);
    expect([jobs.q!.overlap, jobs.c!.overlap, jobs.m!.overlap, jobs.p!.overlap]).toEqual(['queue', 'cancel-previous', 'skip', 'skip']);
    expect([jobs.q!.concurrency, jobs.c!.concurrency, jobs.m!.concurrency]).toEqual([undefined, 3, 1000]);
    expect('concurrency' in jobs.q!).toBe(false);
  });
});

describe('what a run asks before it starts', () => {
  const load = (text: string) => {
    const r = parseWorkflow(text, F, reg);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    return r.workflow;
  };

  it('nothing for a job with no policy that applies and no limit (the fast path: no Redis round trip)', () => {
    const w = load(wf({ m: { plugin: 'noop', manual: true }, s: { plugin: 'noop', every: '1s', overlap: 'allow' } }));
    expect(admissionRequest(w, w.jobs.m!, 'wf.m.m-1', false)).toBeUndefined();
    expect(admissionRequest(w, w.jobs.s!, 'wf.s.1000', true)).toBeUndefined();
  });

  it('the overlap policy for a new scheduled fire only; every run of the job holds its lease', () => {
    const w = load(wf({ q: { plugin: 'noop', every: '1s', overlap: 'queue' } }));
    expect(admissionRequest(w, w.jobs.q!, 'wf.q.1700000000000', true)).toMatchObject({ mode: 'queue', trackJob: true, handOver: true, order: 1700000000000 });
    expect(admissionRequest(w, w.jobs.q!, 'wf.q.1700000000000', false)).toMatchObject({ mode: 'take', trackJob: true, handOver: true });
    expect(admissionRequest(w, w.jobs.q!, 'wf.q.m-abc', false)).toMatchObject({ mode: 'take', order: 0 });
  });

  it('the limits, of the job and of its workflow', () => {
    const w = load(wf({ m: { plugin: 'noop', manual: true, concurrency: 2 }, n: { plugin: 'noop', manual: true } }, { concurrency: 5 }));
    expect(admissionRequest(w, w.jobs.m!, 'wf.m.m-1', false)).toMatchObject({ mode: 'take', trackJob: true, handOver: false, jobLimit: 2, workflowLimit: 5 });
    expect(admissionRequest(w, w.jobs.n!, 'wf.n.m-1', false)).toMatchObject({ mode: 'take', trackJob: false, jobLimit: undefined, workflowLimit: 5 });
  });
});
