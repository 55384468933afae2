import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tf-global-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}\n${r.stderr}` };
}

/**
 * tideflow installed as users install a CLI: `npm pack`, then `npm install -g`
 * of the tarball into a prefix of its own. The installed command must start
 * from the build packed with it: no npm install of its own, no compile.
 */
describe('a global npm install of tideflow', () => {
  it('ships its build: --help and validate run without installing or compiling anything', { timeout: 600_000 }, () => {
    const pack = run('npm', ['pack', '--pack-destination', tmp, ROOT], ROOT);
    expect(pack.code, pack.output).toBe(0);
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    const listing = run('tar', ['-tzf', path.join(tmp, tgz)], tmp).stdout.split('\n');
    // Exactly one build, and no tests or benchmarks.
    expect(new Set(listing.filter((f) => f.startsWith('package/dist/')).map((f) => f.split('/')[2])).size).toBe(1);
    expect(listing.filter((f) => /^package\/(test|bench)\//.test(f))).toEqual([]);

    // --ignore-scripts: help and validate need no native module (the store's better-sqlite3 is built by its install script).
    const prefix = path.join(tmp, 'prefix');
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(tmp, tgz)], tmp);
    expect(install.code, install.output).toBe(0);
    const bin = path.join(prefix, 'bin', 'tideflow');

    const help = run(bin, ['--help'], tmp);
    expect(help.code, help.output).toBe(0);
    expect(help.stdout).toMatch(/Usage: tideflow/);
    expect(help.stdout).toMatch(/images/);
    expect(help.stderr).not.toMatch(/installing npm dependencies|compiled \d+ source files/);

    const workflows = path.join(tmp, 'workflows');
    cpSync(path.join(ROOT, 'workflows'), workflows, { recursive: true });
    const validate = run(bin, ['validate', workflows], tmp);
    expect(validate.code, validate.output).toBe(0);
    expect(validate.stdout).toMatch(/container-lifecycle\.json: ok \(workflow "container-lifecycle", 4 jobs\)/);
    expect(validate.stderr).not.toMatch(/installing npm dependencies|compiled \d+ source files/);
  });
});
