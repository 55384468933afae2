import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../logging/logger.js';
import { isLoopbackHost } from '../../util/loopback-host.js';
import { MIN_ADMIN_TOKEN_LENGTH } from '../../config/start-checks.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

export interface ResolveAdminTokenOptions {
  /** TIDEFLOW_ADMIN_TOKEN (EngineConfig.adminToken); unset or empty means "none configured". */
  configured?: string;
  /** The data dir; a generated token is kept in `<dataDir>/admin-token`. */
  dataDir: string;
  /** The host the admin API binds to. */
  host: string;
  /** Where the generated token is printed (once). Defaults to stderr. */
  log?: Logger | ((message: string) => void);
}

export interface ResolvedAdminToken {
  token: string;
  /** configured: from the option; stored: reused from the file; generated: new, printed once. */
  source: 'configured' | 'stored' | 'generated';
  /** The token file (stored/generated only). */
  file?: string;
}

function emit(log: ResolveAdminTokenOptions['log'], level: 'info' | 'warn', message: string): void {
  if (!log) process.stderr.write(`${message}\n`);
  else if (typeof log === 'function') log(message);
  else log[level](message);
}

function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

const TOKEN_SHAPE = /^[A-Za-z0-9._~+/=-]{16,512}$/;

async function readStored(file: string, log: ResolveAdminTokenOptions['log']): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the admin token file ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!TOKEN_SHAPE.test(token)) {
    emit(log, 'warn', `admin token file ${file} does not hold a usable token; generating a new one`);
    return undefined;
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode !== 0o600) {
    await chmod(file, 0o600);
    emit(log, 'warn', `admin token file ${file} had mode ${mode.toString(8)}; set to 600`);
  }
  return token;
}

/**
 * Decides the admin API's bearer token.
 *
 * - A configured token (TIDEFLOW_ADMIN_TOKEN) is used as is; one shorter than
 *   MIN_ADMIN_TOKEN_LENGTH is refused (not a secret).
 * - Binding to a non-loopback host without a configured token is refused:
 *   this throws, before anything is written.
 * - Otherwise the token stored in `<dataDir>/admin-token` is reused, or a new
 *   random one is generated, stored with mode 0600 and printed once.
 */
export async function resolveAdminToken(opts: ResolveAdminTokenOptions): Promise<ResolvedAdminToken> {
  const configured = opts.configured?.trim();
  if (configured) {
    if (configured.length < MIN_ADMIN_TOKEN_LENGTH) {
      throw new Error(`TIDEFLOW_ADMIN_TOKEN is ${configured.length} characters long: too short to be secret; use at least ${MIN_ADMIN_TOKEN_LENGTH} random characters`);
    }
    return { token: configured, source: 'configured' };
  }

  if (!isLoopbackHost(opts.host)) {
    throw new Error(
      `refusing to serve the admin API on non-loopback host ${JSON.stringify(opts.host)} without a configured token: ` +
        'set TIDEFLOW_ADMIN_TOKEN (a long random secret), or bind to 127.0.0.1 (HOST=127.0.0.1)',
    );
  }

  const file = path.join(path.resolve(opts.dataDir), ADMIN_TOKEN_FILE);
  const stored = await readStored(file, opts.log);
  if (stored) {
    emit(opts.log, 'info', `admin token: using the one stored in ${file}`);
    return { token: stored, source: 'stored', file };
  }

  await mkdir(path.dirname(file), { recursive: true });
  const token = generateToken();
  // Write then chmod: the mode given to writeFile only applies to a new file.
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  emit(
    opts.log,
    'warn',
    `admin token generated (shown once; stored in ${file}, mode 600): ${token}\n` +
      '  use it as "Authorization: Bearer <token>", or set TIDEFLOW_ADMIN_TOKEN to choose your own',
  );
  return { token, source: 'generated', file };
}
