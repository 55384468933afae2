import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { jobLogLine, teeToJobLog } from '../../core/runner/job-log-tee.js';

describe('jobLogLine', () => {
  it('writes level, message and fields as one line', () => {
    expect(jobLogLine('info', ['spawned %d containers', 10])).toBe('info spawned 10 containers');
    expect(jobLogLine('warn', [{ attempt: 1, of: 3 }, 'x failed: boom'])).toBe('warn x failed: boom {"attempt":1,"of":3}');
    expect(jobLogLine('error', [{ err: new Error('docker gone') }, 'kill failed'])).toBe('error kill failed {"err":"docker gone"}');
    expect(jobLogLine('error', [new Error('bare error')])).toBe('error  {"err":"bare error"}');
    expect(jobLogLine('info', [{}, 'no fields'])).toBe('info no fields');
  });
});

describe('teeToJobLog', () => {
  it('sends info and above always, debug only when enabled, and still logs to the logger', () => {
    const written: string[] = [];
    const out: string[] = [];
    const base = pino({ level: 'warn' }, { write: (s: string) => out.push(s) });
    const log = teeToJobLog(base, async (line) => written.push(line));
    log.info('hello %s', 'world');
    log.debug('not enabled');
    log.warn({ n: 2 }, 'careful');
    expect(written).toEqual(['info hello world', 'warn careful {"n":2}']);
    // The logger itself keeps its level: only the warning reached its stream.
    expect(out.map((l) => JSON.parse(l).msg)).toEqual(['careful']);
    base.level = 'debug';
    log.debug('now enabled');
    expect(written.at(-1)).toBe('debug now enabled');
  });

  it('never fails the caller when the job log write fails', () => {
    const log = teeToJobLog(pino({ level: 'silent' }), () => Promise.reject(new Error('redis gone')));
    expect(() => log.error('still fine')).not.toThrow();
  });
});

describe('teeLogger child loggers', () => {
  it("tee a child's lines too, with its bindings as fields", () => {
    const written: string[] = [];
    const log = teeToJobLog(pino({ level: 'silent' }), async (line) => written.push(line));
    log.child({ container: 'c1' }).info({ n: 1 }, 'killed');
    log.child({ a: 1 }).child({ b: 2 }).warn('nested');
    expect(written).toEqual(['info killed {"container":"c1","n":1}', 'warn nested {"a":1,"b":2}']);
  });
});
