import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDockerClient } from '../plugins/shared/containers/docker-engine.js';
import { LABELS } from '../plugins/shared/containers/container-labels.js';
import { loadMark, loadPerCore, printLoad, record } from './report.js';

/** How long the engine runs the default workflow before it is measured (issue 14 asks for 10 minutes). */
const SECONDS = Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 600);
/** Kernel clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat; 100 on Linux. */
const CLK_TCK = 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is [0], utime [11], stime [12] (man 5 proc: 14 and 15).
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Engine footprint: `tideflow start` (its own process group, a private
 * redis-server) runs the built-in workflow (under a unique name) for
 * SECONDS, then the engine process's RSS and CPU seconds are read from
 * /proc. It is stopped with SIGTERM (which removes its containers and stops
 * its Redis); anything of the workflow left is removed.
 */
export async function runFootprintBench(): Promise<void> {
  printLoad(`engine footprint (default workflow for ${SECONDS} s)`);
  const load = loadPerCore();
  const id = randomUUID().slice(0, 8);
  const workflow = `bench-footprint-${id}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-footprint-'));
  const wfDir = path.join(dir, 'workflows');
  mkdirSync(wfDir);
  const wf = JSON.parse(readFileSync(path.resolve('workflows/container-lifecycle.json'), 'utf8')) as { name: string; $schema?: string };
  wf.name = workflow;
  delete wf.$schema;
  writeFileSync(path.join(wfDir, `${workflow}.json`), JSON.stringify(wf));
  const env = { ...process.env, TIDEFLOW_SKIP_DEPS_CHECK: '1', TIDEFLOW_LOG_PRETTY: '0', REDIS_URL: '', TIDEFLOW_QUEUE_PREFIX: `tf-footprint-${id}` };
  const child = spawn(process.execPath, ['bin/tideflow.mjs', '--data-dir', path.join(dir, 'data'), 'start', '--workflows', wfDir, '--port', '0'], {
    env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString().slice(-100_000)));
  child.stderr.on('data', (d: Buffer) => (out += d.toString().slice(-100_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const docker = createDockerClient(process.env.DOCKER_HOST);
  try {
    const readyBy = Date.now() + 120_000;
    while (!/engine ready in/.test(out)) {
      if (Date.now() > readyBy || child.exitCode !== null) throw new Error(`engine not ready:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const startCpu = cpuSeconds(child.pid!);
    await new Promise((r) => setTimeout(r, SECONDS * 1000)); // the measured period itself
    const rss = rssMiB(child.pid!);
    const cpu = cpuSeconds(child.pid!) - startCpu;
    const mark = loadMark(load);
    const what = `after ${SECONDS} s of the default workflow (spawn 10/min, analyze every 10 s, log, charts/min)` + (SECONDS < 600 ? `; SHORTER than the 10 minutes asked (BENCH_FOOTPRINT_SECONDS=${SECONDS})` : '');
    record({ name: 'engine footprint: RSS (MiB)', value: rss, unit: 'MiB', baseline: null, ratio: null, note: `engine process (node) VmRSS ${what}; redis-server not included; the course daemon's figures are not known (not measured here)`, ...mark });
    record({ name: 'engine footprint: CPU (s)', value: cpu, unit: 's', baseline: null, ratio: null, note: `engine process user+system CPU seconds ${what}, from ready (start-up excluded); ${(cpu / SECONDS * 100).toFixed(1)}% of one core`, ...mark });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 60_000);
      await exited;
      clearTimeout(timer);
    }
    // The engine's own group (its private redis-server included) must be gone; then the workflow's containers.
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* nothing left: expected */ }
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABELS.workflow}=${workflow}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    if (left.length) console.log(`    removed ${left.length} container(s) the engine left`);
    rmSync(dir, { recursive: true, force: true });
  }
}
