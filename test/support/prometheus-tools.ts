import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const INSTALL = 'apt-get install -y --no-install-recommends prometheus';

/** Fails (never skips) when Debian's prometheus package is not installed, naming the command that installs it. */
export function requirePrometheusTool(tool: 'promtool' | 'prometheus'): string {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${tool} is missing (${r.error?.message ?? `exit ${r.status}`}): install Debian's Prometheus with \`${INSTALL}\``);
  }
  return tool;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs promtool with `args`, `stdin` piped in. */
export function promtool(args: string[], stdin?: string): Promise<ToolResult> {
  requirePrometheusTool('promtool');
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A real Prometheus server of the test's own: its config and TSDB in a temp
 * dir, listening on a free loopback port, stopped by its PID.
 */
export class PrometheusServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private output = '';
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'tf-prom-'));
  url = '';

  /** `config` is the prometheus.yml text; `files` are written next to it first. */
  async start(config: string, files: Record<string, string> = {}): Promise<this> {
    requirePrometheusTool('prometheus');
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(this.dir, name), text);
    const configFile = path.join(this.dir, 'prometheus.yml');
    writeFileSync(configFile, config);
    const port = await freeLoopbackPort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(this.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    return this;
  }

  /** Its log so far (for failure messages). */
  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** GET <url>/api/v1/<path>; throws on a transport error. */
  async api<T>(apiPath: string): Promise<{ status: string; data: T; error?: string }> {
    const res = await fetch(`${this.url}/api/v1/${apiPath}`);
    return (await res.json()) as { status: string; data: T; error?: string };
  }

  async query(promql: string): Promise<{ status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }; error?: string }> {
    return this.api(`query?query=${encodeURIComponent(promql)}`);
  }

  /** SIGTERM to its PID, SIGKILL if it is still there after 10 s; removes its dir. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined && this.running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
