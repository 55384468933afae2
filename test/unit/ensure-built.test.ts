import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../../bin/ensure-built.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const project = mkdtempSync(path.join(os.tmpdir(), 'tf-build-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
  writeFileSync(path.join(project, file), text);
}

describe('the CLI build (bin/ensure-built.mjs)', () => {
  write('package.json', JSON.stringify({ name: 'tideflow', type: 'module' }));
  write('tsconfig.json', readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules'), 'dir');
  write('core/answer.ts', 'export const answer: number = 1;\n');
  write('plugins/p/index.ts', "import { answer } from '../../core/answer.js';\nexport default class P { readonly answer = answer; }\n");
  write('plugins/p/p.test.ts', 'not compiled at all (');
  write('cli/main.ts', "export { answer } from '../core/answer.js';\n");

  it('compiles once, reuses the build while nothing changes, rebuilds on any source change', async () => {
    const logs: string[] = [];
    const log = (m: string) => logs.push(m);
    const first = await ensureBuilt({ root: project, log });
    expect(logs).toHaveLength(1);
    const load = async (dir: string) => new (await import(pathToFileURL(path.join(dir, `plugins/p/index.js?${Math.random()}`)).href)).default().answer;
    expect(await load(first)).toBe(1);
    expect(existsSync(path.join(first, 'plugins/p/p.test.js'))).toBe(false);

    expect(await ensureBuilt({ root: project, log })).toBe(first);
    expect(logs).toHaveLength(1);

    write('core/answer.ts', 'export const answer: number = 2;\n');
    const second = await ensureBuilt({ root: project, log });
    expect(second).not.toBe(first);
    expect(await load(second)).toBe(2);

    // A removed plugin is gone from the new build (no stale module is ever discovered).
    rmSync(path.join(project, 'plugins/p'), { recursive: true });
    write('plugins/q/index.ts', 'export default class Q {}\n');
    const third = await ensureBuilt({ root: project, log });
    expect(existsSync(path.join(third, 'plugins/p'))).toBe(false);
    expect(existsSync(path.join(third, 'plugins/q/index.js'))).toBe(true);
  });

  it('copies the files the sources load beside themselves (a plugin\'s dashboard panel), and rebuilds when one changes', async () => {
    write('plugins/q/dashboard-panel.js', 'export default () => 1;\n');
    const built = await ensureBuilt({ root: project, log: () => undefined });
    expect(readFileSync(path.join(built, 'plugins/q/dashboard-panel.js'), 'utf8')).toBe('export default () => 1;\n');
    write('plugins/q/dashboard-panel.js', 'export default () => 2;\n');
    const rebuilt = await ensureBuilt({ root: project, log: () => undefined });
    expect(rebuilt).not.toBe(built);
    expect(readFileSync(path.join(rebuilt, 'plugins/q/dashboard-panel.js'), 'utf8')).toBe('export default () => 2;\n');
  });

  it('reports a syntax error with its file and line, and keeps no half build', async () => {
    write('core/broken.ts', 'export const x = ;\n');
    await expect(ensureBuilt({ root: project, log: () => undefined })).rejects.toThrow(/core\/broken\.ts:1:\d+: /);
    expect(readdirSync(path.join(project, 'dist')).filter((d) => d.includes('.tmp-'))).toEqual([]);
    rmSync(path.join(project, 'core/broken.ts'));
  });
});
