import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freeLoopbackPort } from '../../core/services/embedded-redis.js';
import { isPidAlive } from '../../core/util/is-pid-alive.js';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const INSTALL_HINT = 'install it: apt-get install postgresql';

/**
 * A PostgreSQL for tests: either the one TIDEFLOW_TEST_DATABASE_URL names,
 * or a private server (initdb in a temp dir, its own port and socket dir on
 * 127.0.0.1) stopped by its PID. `createDatabase()` hands each test a fresh
 * database. A missing PostgreSQL is an error naming the package, never a skip.
 *
 *   const pg = await TestPostgres.start();
 *   const url = await pg.createDatabase();   // postgres://.../tideflow_test_xxx
 *   await pg.stop();
 */
export class TestPostgres {
  private readonly databases: string[] = [];

  private constructor(
    /** URL of the maintenance database (postgres) on the server. */
    readonly adminUrl: string,
    private readonly server?: { pid: number; dir: string; port: number },
  ) {}

  /** Host and port the server listens on (for a URL built by hand, e.g. from another network namespace). */
  get port(): number {
    return Number(new URL(this.adminUrl).port || 5432);
  }

  /**
   * `listen`: the address(es) to listen on (default 127.0.0.1; a multi-host test passes its veth address).
   * `durable`: keep fsync on, as a real server runs (benchmarks); tests turn it off for speed.
   */
  static async start(opts: { env?: NodeJS.ProcessEnv; listen?: string; durable?: boolean } = {}): Promise<TestPostgres> {
    const external = (opts.env ?? process.env).TIDEFLOW_TEST_DATABASE_URL;
    if (external) return new TestPostgres(external);
    const bin = postgresBinDir();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tideflow-pg-'));
    const asPostgres = await runAsPostgres(dir);
    const data = path.join(dir, 'data');
    // -N: no fsync during initdb (a throwaway cluster); trust auth on a private socket dir and loopback port.
    await run(...asPostgres(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-N', '-E', 'UTF8', '--locale=C']));
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freeLoopbackPort();
      const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=${opts.listen ?? '127.0.0.1'} -c max_connections=200${opts.durable ? '' : ' -c fsync=off'}`;
      try {
        await run(...asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', serverOpts, '-w', '-t', '60', 'start']));
        const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return new TestPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { pid, dir, port });
      } catch (err) {
        // Most likely the port was taken between freeLoopbackPort() and the server's bind: try another.
        lastError = err;
      }
    }
    const log = existsSync(path.join(dir, 'server.log')) ? readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a private PostgreSQL: ${(lastError as Error).message}\n${log}`);
  }

  /** A new empty database; its URL. Dropped by stop() when the server is external. */
  async createDatabase(prefix = 'tideflow_test'): Promise<string> {
    const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    await this.admin(`CREATE DATABASE "${name}"`);
    this.databases.push(name);
    const u = new URL(this.adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  }

  /** Runs one statement on the maintenance database. */
  async admin(statement: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }

  /** Stops the private server (SIGINT to its PID: fast shutdown) and removes its files; drops databases on an external one. */
  async stop(): Promise<void> {
    if (!this.server) {
      for (const name of this.databases.splice(0)) await this.admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
      return;
    }
    const { pid, dir } = this.server;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
    const deadline = Date.now() + 30_000;
    while (isPidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}


/** The newest /usr/lib/postgresql/<version>/bin with initdb, or TIDEFLOW_PG_BIN. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TIDEFLOW_PG_BIN) return env.TIDEFLOW_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(`PostgreSQL server binaries not found (no ${root}/<version>/bin/initdb) and TIDEFLOW_TEST_DATABASE_URL is not set; ${INSTALL_HINT}`);
  }
  return path.join(root, versions[0]!, 'bin');
}

/**
 * initdb and postgres refuse to run as root: as root, hand the dir to the
 * postgres user and run through runuser; as anyone else, run directly.
 */
async function runAsPostgres(dir: string): Promise<(cmd: string, args: string[]) => [string, string[]]> {
  if (process.getuid?.() !== 0) return (cmd, args) => [cmd, args];
  let uid: number;
  let gid: number;
  try {
    const { stdout } = await run('id', ['-u', 'postgres']);
    uid = Number(stdout.trim());
    gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  } catch {
    throw new Error(`no "postgres" system user to run the test PostgreSQL as; ${INSTALL_HINT}`);
  }
  chownSync(dir, uid, gid);
  return (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
}

