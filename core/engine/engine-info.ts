import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isPidAlive } from '../util/is-pid-alive.js';

/** Written by a running engine so the CLI can find its (possibly private) Redis and API. */
export interface EngineInfo {
  pid: number;
  redisUrl: string;
  apiUrl?: string;
  queuePrefix: string;
  startedAt: number;
}

const FILE = 'engine.json';

export function writeEngineInfo(dataDir: string, info: EngineInfo): void {
  writeFileSync(path.join(dataDir, FILE), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
}

export function removeEngineInfo(dataDir: string): void {
  rmSync(path.join(dataDir, FILE), { force: true });
}

/** The info of a live engine using this data dir, if any. */
export function readEngineInfo(dataDir: string): EngineInfo | undefined {
  let info: EngineInfo;
  try {
    info = JSON.parse(readFileSync(path.join(dataDir, FILE), 'utf8')) as EngineInfo;
  } catch {
    return undefined;
  }
  return isPidAlive(info.pid) ? info : undefined;
}
