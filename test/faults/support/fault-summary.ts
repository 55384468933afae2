import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/** One line of the suite's closing table: what a scenario checked and measured. */
export interface ScenarioResult {
  scenario: string;
  ok: boolean;
  /** Measured figures, printed as `name=value`. */
  figures: Record<string, string | number>;
  /** What went wrong, when not ok. */
  violations?: string[];
}

const FILE = path.resolve('data/faults/summary.jsonl');

export function resetSummary(): void {
  rmSync(FILE, { force: true });
  mkdirSync(path.dirname(FILE), { recursive: true });
}

/** Called by each scenario (pass or fail) before it asserts, so the table has every row. */
export function recordScenario(result: ScenarioResult): void {
  mkdirSync(path.dirname(FILE), { recursive: true });
  appendFileSync(FILE, JSON.stringify(result) + '\n');
}

export function readSummary(): ScenarioResult[] {
  if (!existsSync(FILE)) return [];
  return readFileSync(FILE, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ScenarioResult);
}

export function formatSummary(rows: ScenarioResult[]): string {
  const lines = rows.map((r) => {
    const figures = Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join(' ');
    const why = r.violations?.length ? `\n      ${r.violations.join('\n      ')}` : '';
    return `${r.ok ? 'PASS' : 'FAIL'}  ${r.scenario.padEnd(44)} ${figures}${why}`;
  });
  return ['fault-injection summary', ...lines].join('\n');
}
