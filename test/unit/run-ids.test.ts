import { describe, expect, it } from 'vitest';
import { chainedRunId, manualRunId, parseSchedulerId, scheduledRunId, schedulerId } from '../../core/queues/run-ids.js';
import { parseSchedulerJobId, schedulerJobId } from '../../core/queues/scheduler-job-id.js';
import { formatDuration, parseDuration, tryParseDuration } from '../../core/workflow/duration.js';

describe('run ids', () => {
  it('derive a scheduled run id from the fire time in BullMQ scheduler job ids', () => {
    expect(scheduledRunId('wf', 'spawn', 'repeat:wf/spawn:1795325593336')).toBe('wf.spawn.1795325593336');
  });

  it('give a chained successor the same id for the same predecessor run, another for another', () => {
    const a = chainedRunId('wf', 'log', 'wf.spawn.1');
    expect(chainedRunId('wf', 'log', 'wf.spawn.1')).toBe(a);
    expect(chainedRunId('wf', 'log', 'wf.spawn.2')).not.toBe(a);
    expect(a).toMatch(/^wf\.log\.c-[0-9a-f]{16}$/);
  });

  it('are URL-safe and never contain ":" (BullMQ custom ids)', () => {
    for (const id of [manualRunId('wf', 'j'), chainedRunId('wf', 'j', 'x'), scheduledRunId('wf', 'j', 'repeat:wf/j:5')]) {
      expect(id).toMatch(/^[A-Za-z0-9_.-]+$/);
    }
    expect(manualRunId('wf', 'j')).not.toBe(manualRunId('wf', 'j'));
  });

  it('parse only scheduler job ids, up to the last ":"', () => {
    expect(parseSchedulerJobId(schedulerJobId('wf/job', 1795325593336))).toEqual({ schedulerId: 'wf/job', millis: 1795325593336 });
    expect(parseSchedulerJobId('repeat:a:b:42')).toEqual({ schedulerId: 'a:b', millis: 42 });
    for (const id of ['repeat:42', 'repeat:wf/job:', 'repeat:wf/job:4x', 'wf.job.m-1', 'x-repeat:wf/job:42', '17']) expect(parseSchedulerJobId(id), id).toBeUndefined();
  });

  it('round-trip scheduler ids', () => {
    expect(parseSchedulerId(schedulerId('wf', 'job'))).toEqual({ workflow: 'wf', job: 'job' });
    expect(parseSchedulerId('not-ours')).toBeUndefined();
  });
});

describe('durations', () => {
  it.each([
    ['500ms', 500], ['10s', 10_000], ['1m', 60_000], ['1.5h', 5_400_000], ['1d', 86_400_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['10 seconds', '', 's', '-1s', '1w', '1e3s'])('%j is not a duration', (text) => {
    expect(tryParseDuration(text)).toBeUndefined();
    expect(() => parseDuration(text)).toThrow(/is not a duration/);
  });

  it('formats back to the largest whole unit', () => {
    expect([60_000, 90_000, 3_600_000, 250].map(formatDuration)).toEqual(['1m', '90s', '1h', '250ms']);
  });
});
