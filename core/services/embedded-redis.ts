import { spawn, type ChildProcess } from 'node:child_process';
import { isPidAlive } from '../util/is-pid-alive.js';
import { sleep } from '../util/sleep.js';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { aptInstall, findExecutable, type InstallOptions } from './system-installer.js';

export interface EmbeddedRedisOptions extends InstallOptions {
  /** Redis data (AOF) goes here. */
  dir: string;
  /** Default: a free loopback port. */
  port?: number;
  /** Default true: AOF persistence so pause states and schedulers survive restarts. */
  appendOnly?: boolean;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}


/**
 * A private redis-server child process on loopback, used when REDIS_URL is
 * unset. We stop it by the PID we started, never any other redis.
 *
 * It runs in a process group of its own: a terminal's Ctrl-C (SIGINT to the
 * whole foreground group) reaches the engine only, and the engine stops
 * Redis last, after running jobs finished and plugins shut down. Its PID is
 * kept in `<dir>/redis-server.pid`, so an engine that was SIGKILLed (which
 * leaves it running) gets it stopped by the next start.
 */
export class EmbeddedRedis {
  private child?: ChildProcess;
  url = '';

  constructor(private readonly opts: EmbeddedRedisOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<string> {
    let bin = findExecutable('redis-server');
    if (!bin) {
      aptInstall(['redis-server'], 'redis-server', this.opts);
      bin = findExecutable('redis-server');
      if (!bin) throw new Error('redis-server still missing after install');
    }
    mkdirSync(this.opts.dir, { recursive: true });
    await this.stopLeftover();
    const port = this.opts.port ?? (await freeLoopbackPort());
    const args = [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', path.resolve(this.opts.dir),
      '--appendonly', this.opts.appendOnly === false ? 'no' : 'yes', '--save', '',
      '--protected-mode', 'yes', '--daemonize', 'no', '--loglevel', 'warning', '--pidfile', this.pidFile,
    ];
    // detached: its own process group, out of reach of the terminal's Ctrl-C.
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.url = `redis://127.0.0.1:${port}`;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${stderr.trim()}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForRedis(this.url, 10_000), exited]);
    this.opts.log(`redis-server (pid ${child.pid}) on ${this.url}, data in ${this.opts.dir}`);
    return this.url;
  }

  private get pidFile(): string {
    return path.resolve(this.opts.dir, 'redis-server.pid');
  }

  /** A redis-server on our data dir left by an engine that was killed: stop it (it holds the AOF). */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isPidAlive(pid)) return;
    // Only ours: a redis-server (it rewrites its cmdline, not its comm) whose cwd is our data dir (it chdirs to --dir).
    try {
      if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server')) return;
      if (realpathSync(`/proc/${pid}/cwd`) !== realpathSync(this.opts.dir)) return;
    } catch {
      return;
    }
    this.opts.log(`stopping the private redis-server (pid ${pid}) a previous engine left running on ${this.opts.dir}`);
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isPidAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
  }

  /** For a forced exit: signal our redis-server (by the PID we started) without waiting. */
  killNow(): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(timer);
  }
}

export async function waitForRedis(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return;
    } catch (err) {
      lastErr = err;
    } finally {
      r.disconnect();
    }
    await sleep(50);
  }
  throw new Error(`Redis at ${url} did not answer within ${timeoutMs} ms: ${String(lastErr)}`);
}
