import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineKeys } from '../../core/redis/engine-keys.js';

/**
 * Every Redis key tideflow writes is built by EngineKeys (core/redis/engine-keys.ts),
 * and BullMQ's internal scheduler job id is known only to scheduler-job-id.ts.
 * These checks read the sources of core/, plugins/ and cli/ and name each line
 * that builds a key by hand. BullMQ's own keys are built by BullMQ (we hand it
 * the prefix), so nothing else needs an exception.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const SCANNED = ['core', 'plugins', 'cli'];

interface Rule {
  what: string;
  pattern: RegExp;
  /** Files allowed to match, each with the reason. */
  allowed: Record<string, string>;
}

const RULES: Rule[] = [
  {
    what: 'a Redis key built from a prefix (use EngineKeys)',
    // `${prefix}:...`, `${this.keys.prefix}:...`, prefix + ':...'
    pattern: /\$\{[^}]*prefix[^}]*\}:|prefix[\w.]*\s*\+\s*['"`]:/i,
    allowed: { 'core/redis/engine-keys.ts': 'the one place keys are built' },
  },
  {
    what: 'one of EngineKeys\' key names spelled in a template (use EngineKeys)',
    pattern: /\}:(workflows|paused|runs?|last-run|last-success|routes|watchdog|plugin|kill-claim|metrics)\b/,
    allowed: { 'core/redis/engine-keys.ts': 'the one place keys are built' },
  },
  {
    what: 'BullMQ\'s scheduler job id built or parsed by hand (use scheduler-job-id.ts)',
    pattern: /['"`]repeat:/,
    allowed: { 'core/queues/scheduler-job-id.ts': 'the one module that knows the format' },
  },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(rel);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [rel] : [];
  });
}

function offenders(rule: Rule, files: Array<{ file: string; lines: string[] }>): string[] {
  return files.flatMap(({ file, lines }) =>
    rule.allowed[file] !== undefined ? [] : lines.flatMap((line, i) => (rule.pattern.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
  );
}

describe('Redis keys', () => {
  const files = SCANNED.flatMap(sourceFiles).map((file) => ({ file, lines: readFileSync(path.join(ROOT, file), 'utf8').split('\n') }));

  it('the scan sees the sources', () => {
    expect(files.map((f) => f.file)).toContain('core/redis/engine-keys.ts');
    for (const dir of SCANNED) expect(files.filter((f) => f.file.startsWith(`${dir}/`)).length, dir).toBeGreaterThan(0);
  });

  it.each(RULES.map((r) => [r.what, r] as const))('nowhere outside its one place: %s', (_what, rule) => {
    expect(offenders(rule, files)).toEqual([]);
  });

  it('the checks catch what they look for', () => {
    const probe = (text: string) => RULES.filter((r) => offenders(r, [{ file: 'x.ts', lines: [text] }]).length > 0).length;
    expect(probe('return `${this.prefix}:watchdog`;')).toBeGreaterThan(0);
    expect(probe('const k = prefix + \':routes\';')).toBeGreaterThan(0);
    expect(probe('const k = `${base}:run:${id}`;')).toBeGreaterThan(0);
    expect(probe('getJobState(`repeat:${id}:${next}`)')).toBeGreaterThan(0);
    expect(probe('const k = `${base}:metrics:${sample}`;')).toBeGreaterThan(0);
    expect(probe('return this.keys.watchdog;')).toBe(0);
    expect(probe('return `${prefix}/${short}`;')).toBe(0);
  });

  it('keep the names an existing Redis has', () => {
    const k = new EngineKeys('tideflow');
    expect([k.workflows, k.paused, k.legacyRun('w.j.1'), k.runs, k.lastRun, k.lastSuccess, k.routes, k.watchdog]).toEqual([
      'tideflow:workflows', 'tideflow:paused', 'tideflow:run:w.j.1', 'tideflow:runs', 'tideflow:last-run', 'tideflow:last-success', 'tideflow:routes', 'tideflow:watchdog',
    ]);
    expect(k.runRecords).toBe('tideflow:run-records');
    expect(k.plugin('analyzer').key('kill-claim', 'abc')).toBe('tideflow:plugin:analyzer:kill-claim:abc');
    expect(k.metricSamples('tideflow_runs_total')).toBe('tideflow:metrics:tideflow_runs_total');
    expect([k.cancelChannel, k.eventsChannel]).toEqual(['tideflow:cancel', 'tideflow:events']);
  });
});
