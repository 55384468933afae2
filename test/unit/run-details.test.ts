import { describe, expect, it } from 'vitest';
import { attemptSummary, parseIoValue, runAttempts, storedIoValue } from '../../core/history/run-details.js';
import type { RunRecord } from '../../core/history/run-record.js';

const base: RunRecord = { id: 'w.j.1', workflow: 'w', job: 'j', plugin: 'p', trigger: 'manual', status: 'running', attempts: 1, queuedAt: 1, startedAt: 10, host: 'a' };

describe('run details', () => {
  it('keeps a value whole up to the cap, a larger one cut with its size', () => {
    expect(parseIoValue(storedIoValue({ a: 1 }, 100))).toEqual({ bytes: 7, truncated: false, value: { a: 1 } });
    expect(parseIoValue(storedIoValue(null, 100))).toEqual({ bytes: 4, truncated: false, value: null });
    expect(storedIoValue(undefined)).toBeUndefined();
    expect(parseIoValue(storedIoValue('x'.repeat(200), 100))).toEqual({ bytes: 202, truncated: true, preview: `"${'x'.repeat(99)}` });
    // A multibyte character split by the cut is left out, never half-written.
    expect(parseIoValue(storedIoValue('éééé', 4))).toEqual({ bytes: 10, truncated: true, preview: '"é' });
  });

  it('summarises a started attempt only', () => {
    expect(attemptSummary({ ...base, status: 'queued', startedAt: undefined, attempts: 0 })).toBeUndefined();
    expect(attemptSummary({ ...base, status: 'skipped', attempts: 0 })).toBeUndefined();
    const s = attemptSummary({ ...base, status: 'retrying', finishedAt: 20, durationMs: 10, error: 'boom' })!;
    expect(s.field).toBe('attempt:1');
    expect(JSON.parse(s.json)).toEqual({ attempt: 1, status: 'retrying', startedAt: 10, finishedAt: 20, durationMs: 10, error: 'boom', host: 'a' });
  });

  it('lists attempts oldest first, an interrupted one before the attempt that took it over', () => {
    const summaries = {
      input: '{}',
      'attempt:2': JSON.stringify({ attempt: 2, status: 'succeeded', startedAt: 50, finishedAt: 60 }),
      'attempt:1': JSON.stringify({ attempt: 1, status: 'retrying', startedAt: 10, finishedAt: 20, error: 'boom' }),
      'attempt:x': 'not json',
    };
    const run: RunRecord = { ...base, status: 'succeeded', attempts: 2, startedAt: 50, finishedAt: 60, interrupted: [{ attempt: 2, startedAt: 30, detectedAt: 45, reason: 'its worker died' }] };
    expect(runAttempts(run, summaries).map((a) => [a.attempt, a.status, a.startedAt])).toEqual([
      [1, 'retrying', 10],
      [2, 'interrupted', 30],
      [2, 'succeeded', 50],
    ]);
    // A lost attempt whose own summary still says running is shown once, interrupted, before the attempt that took it over.
    const lost = { 'attempt:1': JSON.stringify({ attempt: 1, status: 'running', startedAt: 30 }) };
    const takenOver: RunRecord = { ...base, attempts: 1, status: 'running', startedAt: 50, finishedAt: undefined, interrupted: [{ attempt: 1, startedAt: 30, detectedAt: 45, reason: 'lost' }] };
    expect(runAttempts(takenOver, lost).map((a) => [a.attempt, a.status, a.startedAt])).toEqual([
      [1, 'interrupted', 30],
      [1, 'running', 50],
    ]);
  });

  it('reads the latest attempt from the record itself: a run that ended in its first attempt stores no summary', () => {
    const done: RunRecord = { ...base, status: 'succeeded', finishedAt: 25, durationMs: 15 };
    expect(runAttempts(done, {})).toEqual([{ attempt: 1, status: 'succeeded', startedAt: 10, finishedAt: 25, durationMs: 15, host: 'a' }]);
    // The record is newer than a summary of the same attempt (one written while it ran, by an older version).
    expect(runAttempts(done, { 'attempt:1': JSON.stringify({ attempt: 1, status: 'running', startedAt: 10 }) }).map((a) => a.status)).toEqual(['succeeded']);
    expect(runAttempts({ ...base, status: 'queued', attempts: 0, startedAt: undefined }, {})).toEqual([]);
  });
});
