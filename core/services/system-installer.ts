import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface InstallOptions {
  /** TIDEFLOW_NO_INSTALL=1: never install, only explain. */
  noInstall: boolean;
  log: (msg: string) => void;
}

/** Thrown when something the engine needs is missing and may not be installed here. */
export class MissingDependencyError extends Error {
  constructor(what: string, readonly howToInstall: string) {
    super(`${what} is not available. Install it with:\n  ${howToInstall}`);
    this.name = 'MissingDependencyError';
  }
}

export function findExecutable(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin']);
  for (const d of dirs) {
    const p = `${d}/${name}`;
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

function canApt(): boolean {
  return process.getuid?.() === 0 && findExecutable('apt-get') !== undefined;
}

let aptUpdated = false;

/**
 * Installs Debian packages when we are root with apt and installs are allowed;
 * otherwise throws with the exact command the user has to run.
 */
export function aptInstall(packages: string[], what: string, opts: InstallOptions): void {
  const cmd = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  if (opts.noInstall) throw new MissingDependencyError(`${what} (TIDEFLOW_NO_INSTALL=1 forbids installing it)`, `sudo ${cmd}`);
  if (!canApt()) throw new MissingDependencyError(what, `sudo ${cmd}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    opts.log(`installing ${what}: apt-get update ...`);
    const up = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (up.status !== 0) throw new MissingDependencyError(`${what} (apt-get update failed)`, cmd);
    aptUpdated = true;
  }
  opts.log(`installing ${what}: apt-get install -y ${packages.join(' ')} ...`);
  const t0 = Date.now();
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (r.status !== 0) throw new MissingDependencyError(`${what} (apt-get install exited ${r.status})`, cmd);
  opts.log(`installed ${what} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
