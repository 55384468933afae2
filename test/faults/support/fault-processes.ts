import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, ROOT, cliEnv } from '../../support/cli-process.js';
import { freeLoopbackPort, waitForRedis } from '../../../core/services/embedded-redis.js';
import { findExecutable } from '../../../core/services/system-installer.js';
export { isPidAlive } from '../../../core/util/is-pid-alive.js';

/**
 * Real processes for the fault suite. Each one is started as the leader of
 * its own process group (`detached`), as a terminal starts a foreground job,
 * so a test can signal the whole group the way Ctrl-C does. Processes are
 * only ever ended by the PID (or group) we started.
 */
export interface OwnProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Signal to the process alone. */
  signal(sig: NodeJS.Signals): void;
  /** Signal to its whole process group, as a terminal sends Ctrl-C. */
  signalGroup(sig: NodeJS.Signals): void;
  /** Resolves once the output matches (rejects on exit or timeout). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
}

export function startOwnProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): OwnProcess {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    signal: (sig) => {
      if (alive()) process.kill(child.pid!, sig);
    },
    signalGroup: (sig) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is gone already
      }
    },
    waitForOutput: (re, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(out)) return resolve();
        const timer = setTimeout(() => done(new Error(`no ${re} in ${timeoutMs} ms:\n${out.slice(-4000)}`)), timeoutMs);
        const onData = () => re.test(out) && done();
        const onExit = () => done(new Error(`exited before ${re}:\n${out.slice(-4000)}`));
        const done = (err?: Error) => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.stderr!.off('data', onData);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', onExit);
      }),
  };
}

/** `node bin/tideflow.mjs <args>` in its own process group. */
export function startTideflow(args: string[], env: Record<string, string>): OwnProcess {
  return startOwnProcess(process.execPath, [BIN, ...args], cliEnv(env));
}

/** Ends a process we started if it still runs (SIGKILL to its group): test cleanup. */
export async function killGroup(p: OwnProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.signalGroup('SIGKILL');
  await p.exited;
}


/**
 * A redis-server of the test's own (AOF on, in `dir`), so a scenario can
 * freeze it (SIGSTOP), kill it and restart it on the same data and port.
 */
export class OwnRedis {
  proc?: OwnProcess;
  port = 0;

  constructor(private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<string> {
    mkdirSync(this.dir, { recursive: true });
    this.port ||= await freeLoopbackPort();
    const bin = findExecutable('redis-server');
    if (!bin) throw new Error('redis-server is not installed (apt-get install redis-server)');
    this.proc = startOwnProcess(bin, [
      '--bind', '127.0.0.1', '--port', String(this.port), '--dir', path.resolve(this.dir),
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--loglevel', 'warning',
    ], process.env);
    await waitForRedis(this.url, 10_000);
    return this.url;
  }

  freeze(): void {
    this.proc?.signal('SIGSTOP');
  }

  thaw(): void {
    this.proc?.signal('SIGCONT');
  }

  async kill(): Promise<void> {
    if (!this.proc) return;
    this.proc.signal('SIGCONT');
    this.proc.signal('SIGKILL');
    await this.proc.exited;
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    this.proc.signal('SIGCONT');
    this.proc.signal('SIGTERM');
    await this.proc.exited;
  }

  /** Stop and delete its data. */
  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Unix-socket proxy in front of the Docker engine that a test can cut: new
 * connections are refused and the open ones (event streams, long calls)
 * destroyed, then restored. Point the processes at it with
 * DOCKER_HOST=unix://<socketPath>.
 */
export class DockerProxy {
  private server?: net.Server;
  private readonly open = new Set<net.Socket>();
  private cut = false;

  constructor(readonly socketPath: string, private readonly target = '/var/run/docker.sock') {}

  get dockerHost(): string {
    return `unix://${this.socketPath}`;
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = net.createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target);
      this.open.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.open.delete(client);
        this.open.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => this.server!.once('error', reject).listen(this.socketPath, resolve));
  }

  /** Refuse new connections and break the open ones. */
  cutNow(): void {
    this.cut = true;
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  restore(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.cutNow();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
