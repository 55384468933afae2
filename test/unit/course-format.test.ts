import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRunInput, MAX_INPUT_DEPTH, RunInputError } from '../../core/control/run-input-limits.js';
import { courseBodyBatch, courseTimeProblem, MIN_RECORD_TIME, parseCourseTime, validateCourseBody } from '../../plugins/logger/course-format.js';
import { csvCell, toApiRecord } from '../../plugins/logger/logs-routes.js';
import type { StoredRecord } from '../../plugins/shared/store/record-store.js';

const NOW = Date.UTC(2026, 11, 2, 3, 0, 0);

describe('course log formats', () => {
  it('every example in the logger README is accepted as the format it documents', () => {
    const readme = readFileSync(path.resolve(import.meta.dirname, '../../plugins/logger/README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as unknown);
    expect(blocks).toHaveLength(3);
    const formats = blocks.map((b) => {
      const v = validateCourseBody(b, NOW);
      if (!v.ok) throw new Error(JSON.stringify(v.problems));
      expect(courseBodyBatch(v.value).records.length).toBeGreaterThan(0);
      return v.value.format;
    });
    expect(formats).toEqual(['system-log', 'ram-killed', 'process']);
  });

  it('reads a zone-less time as UTC, whatever TZ the process has', () => {
    expect(parseCourseTime('2024-09-20 10:00:00')).toBe(Date.UTC(2024, 8, 20, 10));
    expect(parseCourseTime('2024-09-20T10:00:00-06:00')).toBe(Date.UTC(2024, 8, 20, 16));
    expect(parseCourseTime(1_726_826_400)).toBe(Date.UTC(2024, 8, 20, 10));
    expect(parseCourseTime(1_726_826_400_000)).toBe(Date.UTC(2024, 8, 20, 10));
  });

  it('accepts times from 2000-01-01 to now + 1 day only', () => {
    expect(courseTimeProblem(new Date(MIN_RECORD_TIME).toISOString(), NOW)).toBeUndefined();
    expect(courseTimeProblem(NOW + 86_400_000, NOW)).toBeUndefined();
    for (const bad of [NOW + 86_400_001, 1e308, 1e20, 9e15, MIN_RECORD_TIME - 1, '1999-12-31T23:59:59Z', 'soon']) {
      expect(courseTimeProblem(bad, NOW), String(bad)).toBeDefined();
    }
  });
});

describe('CSV cells', () => {
  it('neutralises formulas (= + - @, tab, CR) and quotes what needs it; numbers stay numbers', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('+1')).toBe(`"'+1"`);
    expect(csvCell('-cmd')).toBe(`"'-cmd"`);
    expect(csvCell('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvCell('\tx')).toBe(`"'\tx"`);
    expect(csvCell('\rx')).toBe(`"'\rx"`);
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(Number.NaN)).toBe('');
    expect(csvCell(null)).toBe('');
  });
});

describe('API records of odd stored rows', () => {
  it('never throws; leaves out and names what does not fit', () => {
    const row = { id: 1, source: 's', kind: 'memory', time: 1e308, totalBytes: 'lots', pid: 1.5, name: 42 } as unknown as StoredRecord;
    const out = toApiRecord(row);
    expect(out).toMatchObject({ id: 1, time: 1e308, name: '42', invalid: ['time', 'totalBytes', 'pid'] });
    expect(out).not.toHaveProperty('at');
    expect(() => JSON.stringify(toApiRecord({ ...row, time: 'x' } as unknown as StoredRecord))).not.toThrow();
  });
});

describe('run input bounds', () => {
  const nested = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown;
  it(`allows ${MAX_INPUT_DEPTH} levels, refuses more with the pointer, and refuses non-JSON values`, () => {
    expect(() => checkRunInput(nested(MAX_INPUT_DEPTH))).not.toThrow();
    let err: unknown;
    try {
      checkRunInput(nested(10_000));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunInputError);
    expect((err as RunInputError).statusCode).toBe(400);
    expect((err as RunInputError).pointer).toBe('/0'.repeat(MAX_INPUT_DEPTH));
    expect(() => checkRunInput({ a: Infinity })).toThrow(/finite/);
    expect(() => checkRunInput({ s: 'x'.repeat(300 * 1024) })).toThrow(RunInputError);
    expect(() => checkRunInput(undefined)).not.toThrow();
  });
});
