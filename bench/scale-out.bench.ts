import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { EngineKeys } from '../core/redis/engine-keys.js';
import { RUN_QUEUE, manualRunId } from '../core/queues/run-ids.js';
import type { RunRecord } from '../core/history/run-record.js';
import { BIN, ROOT, cliEnv } from '../test/support/cli-process.js';
import { benchRedis } from './bench-services.js';
import { loadMark, loadPerCore, printLoad, record } from './report.js';

const JOBS = Number(process.env.BENCH_SCALE_JOBS ?? 5000);
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 3);
/** Per process (TIDEFLOW_CONCURRENCY), as the engine part's in-process runner: never the limit for no-op jobs. */
const CONCURRENCY = 50;
const NOOP_PLUGIN = path.join(ROOT, 'test/support/noop-plugin-package.ts');
const ENGINE_HOST = 'bench-engine';
const WORKER_HOST = 'bench-worker';

/** A tideflow process of ours: its own process group, the tail of its output kept; ended by its PID only. */
interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function startTideflow(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => out, exited };
}

async function waitForOutput(p: Proc, re: RegExp, timeoutMs = 120_000): Promise<void> {
  const by = Date.now() + timeoutMs;
  while (!re.test(p.output())) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`exited before ${re}:\n${p.output().slice(-3000)}`);
    if (Date.now() > by) throw new Error(`no ${re} in ${timeoutMs} ms:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM to the process (it finishes its running jobs), SIGKILL to its group after 30 s; then its group, if anything is left. */
async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    process.kill(p.child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }, 30_000);
    await p.exited;
    clearTimeout(timer);
  }
  try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { /* nothing left: expected */ }
}

/**
 * One measurement: `jobs` no-op runs (what a manual trigger enqueues, added
 * in bulk) through whichever tideflow processes serve the queue now; the
 * clock runs from the bulk add until the queue holds none of them. Returns
 * jobs/s and how many runs each host (process) ran, from the run records.
 */
async function measure(queue: Queue, redis: Redis, keys: EngineKeys, jobs: number): Promise<{ rate: number; byHost: Record<string, number> }> {
  const batch = Array.from({ length: jobs }, () => {
    const id = manualRunId('bench', 'noop');
    return { name: 'bench/noop', data: { workflow: 'bench', job: 'noop', trigger: 'manual' as const }, opts: { jobId: id, removeOnComplete: true } };
  });
  const failedBefore = await queue.getFailedCount();
  const t0 = performance.now();
  await queue.addBulk(batch);
  for (;;) {
    const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
    if (Object.values(c).every((n) => n === 0)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const seconds = (performance.now() - t0) / 1000;
  const failed = (await queue.getFailedCount()) - failedBefore;
  if (failed) throw new Error(`${failed} of the bench's no-op runs failed: ${(await queue.getFailed(0, 0))[0]?.failedReason}`);
  const byHost: Record<string, number> = {};
  for (let i = 0; i < batch.length; i += 1000) {
    const values = await redis.hmget(keys.runRecords, ...batch.slice(i, i + 1000).map((j) => j.opts.jobId));
    for (const v of values) {
      const host = v ? ((JSON.parse(v) as RunRecord).host ?? '?') : 'no record';
      byHost[host] = (byHost[host] ?? 0) + 1;
    }
  }
  return { rate: jobs / seconds, byHost };
}

/**
 * Runner throughput with 1 vs 2 worker processes: a real `tideflow start`
 * (its API on a free port) alone, then with one `tideflow worker` process
 * beside it, on the same Redis; both load NoopPlugin through
 * TIDEFLOW_PLUGINS. Rounds alternate which side goes first (the worker is
 * started and stopped each round); the figure is the median round.
 */
export async function runScaleOutBench(): Promise<void> {
  printLoad(`\n## scale-out (${JOBS} no-op jobs; engine alone vs engine + 1 tideflow worker process; concurrency ${CONCURRENCY} per process)`);
  const load = loadPerCore();
  const redisService = await benchRedis();
  const id = randomUUID().slice(0, 8);
  const prefix = `bench-scale-${id}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-bench-scale-'));
  const wfDir = path.join(dir, 'workflows');
  mkdirSync(wfDir);
  writeFileSync(path.join(wfDir, 'bench.json'), JSON.stringify({ name: 'bench', jobs: { noop: { plugin: 'noop', manual: true } } }));
  const env = {
    REDIS_URL: redisService.url,
    TIDEFLOW_QUEUE_PREFIX: prefix,
    TIDEFLOW_PLUGINS: NOOP_PLUGIN,
    TIDEFLOW_CONCURRENCY: String(CONCURRENCY),
    TIDEFLOW_ADMIN_TOKEN: `bench-${randomUUID()}`,
  };
  const redis = new Redis(redisService.url, { maxRetriesPerRequest: null });
  const queue = new Queue(RUN_QUEUE, { connection: redis, prefix });
  const keys = new EngineKeys(prefix);
  const engine = startTideflow(['--data-dir', path.join(dir, 'engine'), 'start', '--workflows', wfDir, '--port', '0'], { ...env, TIDEFLOW_HOST_NAME: ENGINE_HOST });
  let worker: Proc | undefined;
  const startWorker = async () => {
    worker = startTideflow(['--data-dir', path.join(dir, 'worker'), 'worker'], { ...env, TIDEFLOW_HOST_NAME: WORKER_HOST });
    await waitForOutput(worker, /worker ready/);
  };
  const stopWorker = async () => {
    if (worker) await stop(worker);
    worker = undefined;
  };
  try {
    await waitForOutput(engine, /engine ready/);
    // Warm-up of each side (JIT, Redis, the worker's first compile of the plugin).
    await measure(queue, redis, keys, 1000);
    await startWorker();
    await measure(queue, redis, keys, 1000);
    await stopWorker();
    const rounds: Array<{ one: number; two: number; workerShare: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      let one: number;
      let two: { rate: number; byHost: Record<string, number> };
      if (round % 2 === 0) {
        one = (await measure(queue, redis, keys, JOBS)).rate;
        await startWorker();
        two = await measure(queue, redis, keys, JOBS);
        await stopWorker();
      } else {
        await startWorker();
        two = await measure(queue, redis, keys, JOBS);
        await stopWorker();
        one = (await measure(queue, redis, keys, JOBS)).rate;
      }
      const workerShare = (two.byHost[WORKER_HOST] ?? 0) / JOBS;
      rounds.push({ one, two: two.rate, workerShare });
      console.log(
        `  round ${round + 1}/${ROUNDS}: engine alone ${Math.round(one)} jobs/s, engine + worker ${Math.round(two.rate)} jobs/s (ratio ${(two.rate / one).toFixed(3)}; ` +
          `runs by host: ${Object.entries(two.byHost).map(([h, n]) => `${h} ${n}`).join(', ')})`,
      );
    }
    const mid = [...rounds].sort((a, b) => a.two / a.one - b.two / b.one)[Math.floor(rounds.length / 2)]!;
    const mark = loadMark(load);
    const cores = os.cpus().length;
    record({ name: 'scale-out: runner no-op throughput, engine alone', value: mid.one, unit: 'jobs/s', baseline: null, ratio: null,
      note: `one \`tideflow start\` process, concurrency ${CONCURRENCY}; median round of ${ROUNDS}; ${cores} cores`, ...mark });
    record({ name: 'scale-out: runner no-op throughput, engine + 1 worker process', value: mid.two, unit: 'jobs/s', baseline: mid.one, ratio: mid.two / mid.one,
      note: `the same engine plus one \`tideflow worker\` process on the same Redis (the worker ran ${(mid.workerShare * 100).toFixed(0)}% of the runs); ratio = speed-up over the engine alone; ` +
        `${cores} cores shared by both node processes, redis-server and this driver: a ratio near 1 means the machine, not tideflow, is the limit`, ...mark });
  } finally {
    await stopWorker();
    await stop(engine);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    // Everything else the engine wrote under the bench's prefix (run records, catalog, ...).
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (found.length) await redis.del(...found);
    } while (cursor !== '0');
    redis.disconnect();
    await redisService.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
