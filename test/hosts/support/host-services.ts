import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { BIN, cliEnv } from '../../support/cli-process.js';
import path from 'node:path';
import { findExecutable } from '../../../core/services/system-installer.js';
import { postgresBinDir } from '../../support/postgres.js';
import { startOwnProcess, type OwnProcess } from '../../faults/support/fault-processes.js';
import type { NetHost } from './test-network.js';

/** Runs a command inside a test host's network, as its own process group (ended by us, by PID). */
export function startInHost(host: NetHost, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): OwnProcess {
  const [enter, ...rest] = host.enter(cmd, ...args);
  return startOwnProcess(enter!, rest, env);
}

/** `node bin/tideflow.mjs <args>` on a test host. */
export function startTideflowInHost(host: NetHost, args: string[], env: Record<string, string>): OwnProcess {
  return startInHost(host, process.execPath, [BIN, ...args], cliEnv(env));
}

/** A redis-server on the host's address (reached by other hosts over the network, not loopback). */
export async function startRedisInHost(host: NetHost, dir: string, port = 6379): Promise<{ proc: OwnProcess; url: string }> {
  const bin = findExecutable('redis-server');
  if (!bin) throw new Error('redis-server is missing: apt-get install redis-server');
  mkdirSync(dir, { recursive: true });
  const proc = startInHost(host, bin, [
    '--bind', host.address, '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', '', '--protected-mode', 'no', '--daemonize', 'no',
  ]);
  const url = `redis://${host.address}:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return { proc, url };
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on ${host.name} did not answer:\n${proc.output()}`);
    } finally {
      r.disconnect();
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}


/**
 * A PostgreSQL server on the host's address, run in the foreground as user
 * postgres (so its PID is ours to stop), trust auth on the test network only.
 */
export async function startPostgresInHost(host: NetHost, dir: string, port = 5432): Promise<{ proc: OwnProcess; url: string }> {
  const bin = postgresBinDir();
  const initdb = path.join(bin, 'initdb');
  const postgres = path.join(bin, 'postgres');
  try {
    execFileSync(postgres, ['--version']);
  } catch {
    throw new Error('PostgreSQL is missing: apt-get install postgresql');
  }
  mkdirSync(dir, { recursive: true });
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, gid);
  execFileSync('runuser', ['-u', 'postgres', '--', initdb, '-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync'], { stdio: 'pipe' });
  // Trust on the test subnet only: it exists on this machine's test bridge alone.
  appendFileSync(`${dir}/pg_hba.conf`, `host all all ${host.address.replace(/\.\d+$/, '.0')}/24 trust\n`);
  // nsenter itself switches to postgres and execs the server: the PID we hold is the postmaster's.
  const [enter, ...rest] = host.enter(postgres, '-D', dir, '-p', String(port), '-k', dir, '-c', `listen_addresses=${host.address}`, '-c', 'fsync=off');
  const proc = startOwnProcess(enter!, [`--setuid=${uid}`, `--setgid=${gid}`, ...rest], process.env);
  await proc.waitForOutput(/database system is ready to accept connections/, 30_000);
  return { proc, url: `postgres://postgres@${host.address}:${port}/postgres` };
}
