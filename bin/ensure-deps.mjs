#!/usr/bin/env node
// Installs the npm dependencies on a fresh clone (or after package-lock.json
// changed), so `npm start` and `npm test` are the only commands a user runs.
// Plain Node, no dependencies: it runs before they exist.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.tideflow-deps');

/** Installed by npm (globally, or as a dependency): npm has installed the dependencies; this is not a checkout. */
export const installedAsPackage = path.basename(path.dirname(root)) === 'node_modules';

export function ensureDeps() {
  if (process.env.TIDEFLOW_SKIP_DEPS_CHECK === '1' || installedAsPackage) return;
  const want = existsSync(lock) ? createHash('sha256').update(readFileSync(lock)).digest('hex') : 'no-lock';
  const have = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (have === want && existsSync(path.join(root, 'node_modules', 'tsx'))) return;
  // `npm install`, not `npm ci`: the lock lacks other platforms' optional
  // binaries (this registry mirror has none), which `npm ci` refuses.
  const cmd = 'install';
  console.error('[tideflow] installing npm dependencies (first run compiles better-sqlite3: a few minutes) ...');
  const t0 = Date.now();
  const r = spawnSync('npm', [cmd, '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`[tideflow] npm ${cmd} failed (exit ${r.status}). Fix the error above, then run the command again.`);
    process.exit(r.status ?? 1);
  }
  writeFileSync(stamp, want + '\n');
  console.error(`[tideflow] dependencies installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) ensureDeps();
