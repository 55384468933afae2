import { describe, expect, it } from 'vitest';
import { applyPolicy, type PolicyContainer, type PolicyOptions } from '../../plugins/analyzer/policy.js';

const MiB = 1024 * 1024;

/** A managed container; cls undefined = unlabelled. */
function c(id: string, cls: 'high' | 'low' | undefined | string, cpuPct: number | null | undefined, memMiB: number | null | undefined, extra: Record<string, string> = {}): PolicyContainer {
  const labels: Record<string, string> = { 'tideflow.managed': 'true', 'tideflow.workflow': 'wf', ...extra };
  if (cls !== undefined) labels['tideflow.class'] = cls;
  return { id, labels, cpuPct, memBytes: memMiB === null || memMiB === undefined ? memMiB : memMiB * MiB };
}

const K23: PolicyOptions = { keep: { high: 2, low: 3 } };

interface Case {
  name: string;
  input: PolicyContainer[];
  opts?: PolicyOptions;
  kept: string[];
  killed: string[];
  protected?: string[];
  ignored?: string[];
  /** Optional: expected class of some ids. */
  classes?: Record<string, 'high' | 'low'>;
}

const cases: Case[] = [
  { name: 'empty', input: [], kept: [], killed: [] },
  {
    name: 'fewer than keep in both classes',
    input: [c('h1', 'high', 20, 1), c('l1', 'low', 0, 1), c('l2', 'low', 1, 1)],
    kept: ['h1', 'l1', 'l2'], killed: [],
  },
  {
    name: 'exactly keep',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('l1', 'low', 0, 1), c('l2', 'low', 1, 1), c('l3', 'low', 2, 1)],
    kept: ['h1', 'h2', 'l1', 'l2', 'l3'], killed: [],
  },
  {
    name: 'only high: keep the 2 highest CPU',
    input: [c('h1', 'high', 5, 1), c('h2', 'high', 20, 1), c('h3', 'high', 15, 1), c('h4', 'high', 1, 1)],
    kept: ['h2', 'h3'], killed: ['h1', 'h4'],
  },
  {
    name: 'only low: keep the 3 lowest CPU',
    input: [c('l1', 'low', 5, 1), c('l2', 'low', 0.1, 1), c('l3', 'low', 3, 1), c('l4', 'low', 0.2, 1), c('l5', 'low', 9, 1)],
    kept: ['l2', 'l4', 'l3'], killed: ['l1', 'l5'],
  },
  {
    name: 'mixed: 6 high + 6 low',
    input: [
      c('h1', 'high', 19, 1), c('h2', 'high', 20, 1), c('h3', 'high', 0, 1), c('h4', 'high', 0, 64), c('h5', 'high', 10, 1), c('h6', 'high', 0, 1),
      c('l1', 'low', 0, 1), c('l2', 'low', 0.5, 1), c('l3', 'low', 0.1, 1), c('l4', 'low', 0.3, 1), c('l5', 'low', 2, 1), c('l6', 'low', 0, 2),
    ],
    kept: ['h1', 'h2', 'l1', 'l3', 'l6'], killed: ['h3', 'h4', 'h5', 'h6', 'l2', 'l4', 'l5'],
  },
  {
    name: 'CPU tie broken by memory (high keeps more memory)',
    input: [c('a', 'high', 10, 1), c('b', 'high', 10, 50), c('c', 'high', 10, 20)],
    kept: ['b', 'c'], killed: ['a'],
  },
  {
    name: 'CPU tie broken by memory (low keeps less memory)',
    input: [c('a', 'low', 0, 5), c('b', 'low', 0, 1), c('c', 'low', 0, 3), c('d', 'low', 0, 2)],
    kept: ['b', 'd', 'c'], killed: ['a'],
  },
  {
    name: 'full tie broken by id, whatever the input order',
    input: [c('z', 'high', 10, 10), c('m', 'high', 10, 10), c('a', 'high', 10, 10), c('q', 'low', 0, 1), c('b', 'low', 0, 1), c('y', 'low', 0, 1), c('c', 'low', 0, 1)],
    kept: ['a', 'm', 'b', 'c', 'q'], killed: ['z', 'y'],
  },
  {
    name: 'protected are never killed and not counted',
    input: [
      c('p1', 'high', 99, 1, { 'tideflow.protected': 'true' }), c('p2', 'low', 0, 1, { 'tideflow.protected': 'true' }),
      c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('h3', 'high', 5, 1),
      c('l1', 'low', 0, 1), c('l2', 'low', 1, 1), c('l3', 'low', 2, 1), c('l4', 'low', 3, 1),
    ],
    kept: ['h1', 'h2', 'l1', 'l2', 'l3'], killed: ['h3', 'l4'], protected: ['p1', 'p2'],
  },
  {
    name: 'protected=false is an ordinary container',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('h3', 'high', 5, 1, { 'tideflow.protected': 'false' })],
    kept: ['h1', 'h2'], killed: ['h3'],
  },
  {
    name: 'unmanaged containers are ignored, not counted',
    input: [
      { id: 'u1', labels: { 'tideflow.class': 'high', 'tideflow.workflow': 'wf' }, cpuPct: 99, memBytes: 1 },
      { id: 'u2', labels: { 'tideflow.managed': 'false', 'tideflow.class': 'low' }, cpuPct: 0, memBytes: 1 },
      c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('h3', 'high', 5, 1),
    ],
    kept: ['h1', 'h2'], killed: ['h3'], ignored: ['u1', 'u2'],
  },
  {
    name: 'unlabelled are classed by measurement (CPU or memory over threshold = high)',
    input: [c('x1', undefined, 50, 1), c('x2', undefined, 0, 100), c('x3', undefined, 30, 1), c('x4', undefined, 0, 1), c('x5', 'medium', 0.5, 1)],
    kept: ['x1', 'x3', 'x4', 'x5'], killed: ['x2'],
    classes: { x1: 'high', x2: 'high', x3: 'high', x4: 'low', x5: 'low' },
  },
  {
    name: 'dry run: decides but kills nothing',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('h3', 'high', 5, 1), c('l1', 'low', 0, 1), c('l2', 'low', 1, 1), c('l3', 'low', 2, 1), c('l4', 'low', 3, 1)],
    opts: { ...K23, dryRun: true },
    kept: ['h1', 'h2', 'h3', 'l1', 'l2', 'l3', 'l4'], killed: [],
  },
  {
    name: 'maxKillsPerRun caps kills; heaviest surplus goes first',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 15, 1), c('h3', 'high', 10, 1), c('h4', 'high', 5, 1), c('l1', 'low', 0, 1), c('l2', 'low', 1, 1), c('l3', 'low', 2, 1), c('l4', 'low', 3, 1)],
    opts: { ...K23, maxKillsPerRun: 2 },
    kept: ['h1', 'h2', 'l1', 'l2', 'l3', 'l4'], killed: ['h3', 'h4'],
  },
  {
    name: 'maxKillsPerRun 0 kills nothing',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 15, 1), c('h3', 'high', 10, 1)],
    opts: { ...K23, maxKillsPerRun: 0 },
    kept: ['h1', 'h2', 'h3'], killed: [],
  },
  {
    name: 'NaN / null / negative metrics rank last: dropped first in both classes',
    input: [
      c('h1', 'high', NaN, 1), c('h2', 'high', 1, 1), c('h3', 'high', null, null), c('h4', 'high', 0.5, 1),
      c('l1', 'low', null, 1), c('l2', 'low', 5, 1), c('l3', 'low', -1, 1), c('l4', 'low', 9, 1), c('l5', 'low', 7, 1),
    ],
    kept: ['h2', 'h4', 'l2', 'l5', 'l4'], killed: ['h1', 'h3', 'l1', 'l3'],
  },
  {
    name: 'missing memory only: CPU decides, unknown memory loses a CPU tie',
    input: [c('h1', 'high', 10, undefined), c('h2', 'high', 10, 1), c('h3', 'high', 10, 2)],
    kept: ['h3', 'h2'], killed: ['h1'],
  },
  {
    name: 'unlabelled with no metrics is classed low',
    input: [c('x1', undefined, null, null), c('l1', 'low', 0, 1), c('l2', 'low', 0, 1), c('l3', 'low', 0, 1)],
    kept: ['l1', 'l2', 'l3'], killed: ['x1'], classes: { x1: 'low' },
  },
  {
    name: 'keep 0 high kills every unprotected high',
    input: [c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('l1', 'low', 0, 1), c('p', 'high', 1, 1, { 'tideflow.protected': 'true' })],
    opts: { keep: { high: 0, low: 3 } },
    kept: ['l1'], killed: ['h1', 'h2'], protected: ['p'],
  },
];

describe('analyzer policy', () => {
  it('has at least 15 table cases', () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)('$name', (tc) => {
    const r = applyPolicy(tc.input, tc.opts ?? K23);
    const by = (d: string) => r.decisions.filter((x) => x.decision === d).map((x) => x.id).sort();
    expect(by('kept')).toEqual([...tc.kept].sort());
    expect(by('killed')).toEqual([...tc.killed].sort());
    expect(by('protected')).toEqual([...(tc.protected ?? [])].sort());
    expect(r.ignored.sort()).toEqual([...(tc.ignored ?? [])].sort());
    expect([...r.kill].sort()).toEqual([...tc.killed].sort());
    for (const [id, cls] of Object.entries(tc.classes ?? {})) {
      expect(r.decisions.find((d) => d.id === id)?.class, id).toBe(cls);
    }
    // Every decision carries a reason; protected never ends up in kill.
    for (const d of r.decisions) expect(d.reason.length).toBeGreaterThan(0);
  });

  it('is deterministic: input order does not change the outcome', () => {
    const input = cases[5]!.input;
    const a = applyPolicy(input, K23);
    const b = applyPolicy([...input].reverse(), K23);
    expect([...b.kill].sort()).toEqual([...a.kill].sort());
    expect(a.kill).toEqual(b.kill);
  });

  it('dry run reports the would-be kills as surplus with a dry-run reason', () => {
    const r = applyPolicy([c('h1', 'high', 20, 1), c('h2', 'high', 10, 1), c('h3', 'high', 5, 1)], { ...K23, dryRun: true });
    expect(r.surplus).toEqual(['h3']);
    expect(r.decisions.find((d) => d.id === 'h3')!.reason).toMatch(/^dry run: would kill/);
  });

  it('marks unlabelled containers as measured and labelled as label', () => {
    const r = applyPolicy([c('x', undefined, 50, 1), c('h', 'high', 1, 1)], K23);
    expect(r.decisions.map((d) => d.classSource)).toEqual(['measured', 'label']);
  });
});
