import { spawn } from 'node:child_process';
import { sleep } from '../../../core/util/sleep.js';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { isLoopbackHost } from '../../../core/util/loopback-host.js';
import { aptInstall, findExecutable, type InstallOptions } from '../../../core/services/system-installer.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerEngineOptions extends InstallOptions {
  /** DOCKER_HOST (unix:// or tcp:// on loopback); default the local socket. */
  dockerHost?: string;
  /** Where dockerd's log goes when we have to start it. */
  logDir: string;
  /** How long to wait for a freshly started dockerd. */
  startTimeoutMs?: number;
}

export function createDockerClient(dockerHost?: string): Docker {
  if (!dockerHost) return new Docker({ socketPath: DEFAULT_DOCKER_SOCKET });
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: u.hostname, port: Number(u.port || 2375), protocol: 'http' });
}

/** Whether the engine runs on this host (a socket, or a loopback address): only then are its cgroups and PIDs ours to read. */
export function isLocalEngine(docker: Docker): boolean {
  const m = (docker as unknown as { modem?: { socketPath?: string; host?: string } }).modem;
  if (m?.socketPath) return true;
  return m?.host === undefined || isLoopbackHost(m.host);
}

async function answers(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns a client for a Docker engine that answers. When none does and we
 * use the local socket, starts `dockerd --bridge=none --iptables=false`
 * (installing docker.io first if allowed), then waits for it.
 */
export async function ensureDockerEngine(opts: DockerEngineOptions): Promise<{ docker: Docker; started: boolean; pid?: number }> {
  const docker = createDockerClient(opts.dockerHost);
  if (await answers(docker)) return { docker, started: false };
  if (opts.dockerHost && !opts.dockerHost.startsWith(`unix://${DEFAULT_DOCKER_SOCKET}`)) {
    throw new Error(`No Docker engine answers at DOCKER_HOST=${opts.dockerHost}. Start it, or unset DOCKER_HOST to use the local engine.`);
  }
  let dockerd = findExecutable('dockerd');
  if (!dockerd) {
    aptInstall(['docker.io'], 'the Docker engine (docker.io)', opts);
    dockerd = findExecutable('dockerd');
    if (!dockerd) throw new Error('dockerd still missing after installing docker.io');
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`No Docker engine answers at ${DEFAULT_DOCKER_SOCKET} and starting dockerd needs root. Run: sudo dockerd --bridge=none --iptables=false &`);
  }
  mkdirSync(opts.logDir, { recursive: true });
  const logFile = path.join(opts.logDir, 'dockerd.log');
  opts.log(`starting dockerd --bridge=none --iptables=false (log: ${logFile}) ...`);
  const out = openSync(logFile, 'a');
  // Detached: the engine is a system service that outlives tideflow, as under systemd.
  const child = spawn(dockerd, ['--bridge=none', '--iptables=false'], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dockerd exited with code ${child.exitCode}; see ${logFile}`);
    if (existsSync(DEFAULT_DOCKER_SOCKET) && (await answers(docker))) {
      opts.log(`dockerd (pid ${child.pid}) is up`);
      return { docker, started: true, pid: child.pid };
    }
    await sleep(200);
  }
  throw new Error(`dockerd did not answer within ${(opts.startTimeoutMs ?? 60_000) / 1000} s; see ${logFile}`);
}
