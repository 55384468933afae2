import 'reflect-metadata';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { loadEngineConfig } from '../core/config/engine-config.js';
import type { RunEvent } from '../core/control/engine-events.js';
import { Engine } from '../core/engine/engine.js';
import { silentLogger } from '../core/logging/logger.js';
import { RUN_QUEUE, manualRunId } from '../core/queues/run-ids.js';
import { NoopPlugin } from '../test/support/test-plugins.js';
import { benchRedis } from './bench-services.js';
import { record } from './report.js';

const JOBS = Number(process.env.BENCH_ENGINE_JOBS ?? 5000);
const CONCURRENCY = 50;
const DRIFT_SECONDS = Number(process.env.BENCH_DRIFT_SECONDS ?? 60);
const ROUNDS = Number(process.env.BENCH_ENGINE_ROUNDS ?? 5);


/**
 * Both sides get the same jobs: what a manual trigger enqueues (name, data,
 * custom run id), added in bulk, so the difference is only what runs them.
 */
function sameJobs(n: number) {
  return Array.from({ length: n }, () => ({
    name: 'bench/noop',
    data: { workflow: 'bench', job: 'noop', trigger: 'manual' as const },
    opts: { jobId: manualRunId('bench', 'noop'), removeOnComplete: true },
  }));
}

async function rawBullmqThroughput(url: string, jobs = JOBS): Promise<number> {
  const prefix = `bench-raw-${Date.now()}`;
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection: conn, prefix });
  let done = 0;
  const workerConn = new Redis(url, { maxRetriesPerRequest: null });
  const worker = new Worker('raw', async () => null, { connection: workerConn, prefix, concurrency: CONCURRENCY });
  const all = new Promise<void>((resolve) => worker.on('completed', () => ++done === jobs && resolve()));
  // Both sides: worker already running, clock from the bulk add to the last completion.
  const t0 = performance.now();
  await queue.addBulk(sameJobs(jobs));
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await worker.close();
  workerConn.disconnect();
  await queue.obliterate({ force: true });
  await queue.close();
  conn.disconnect();
  return jobs / seconds;
}

async function startEngine(url: string, prefix: string, workflow: unknown): Promise<Engine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-bench-wf-'));
  writeFileSync(path.join(dir, 'bench.json'), JSON.stringify(workflow));
  const engine = new Engine({
    config: loadEngineConfig({ redisUrl: url, queuePrefix: prefix, workflowsDir: dir, dataDir: mkdtempSync(path.join(os.tmpdir(), 'tf-bench-data-')), concurrency: CONCURRENCY }),
    logger: silentLogger(),
    plugins: [NoopPlugin],
    api: false,
    startServices: false,
    watch: false,
  });
  return engine.start();
}

async function runnerThroughput(url: string, jobs = JOBS): Promise<number> {
  const prefix = `bench-tf-${Date.now()}`;
  const engine = await startEngine(url, prefix, { name: 'bench', jobs: { noop: { plugin: 'noop', manual: true } } });
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(RUN_QUEUE, { connection: conn, prefix });
  let done = 0;
  const all = new Promise<void>((resolve) => {
    const onRun = (e: RunEvent) => {
      if (e.type === 'succeeded' && ++done === jobs) {
        engine.runner!.off('run', onRun);
        resolve();
      }
    };
    engine.runner!.on('run', onRun);
  });
  const t0 = performance.now();
  // Same jobs a manual trigger enqueues, added in bulk so only the runner is measured.
  await queue.addBulk(sameJobs(jobs));
  await all;
  const seconds = (performance.now() - t0) / 1000;
  await engine.stop();
  await queue.obliterate({ force: true });
  await queue.close();
  conn.disconnect();
  return jobs / seconds;
}

async function schedulerDrift(url: string): Promise<{ p50: number; p99: number; max: number; n: number }> {
  const prefix = `bench-drift-${Date.now()}`;
  const engine = await startEngine(url, prefix, { name: 'drift', jobs: { tick: { plugin: 'noop', every: '1s' } } });
  const drifts: number[] = [];
  engine.runner!.on('run', (e: RunEvent) => {
    if (e.type !== 'started' || e.run.trigger !== 'schedule') return;
    const fireAt = Number(e.run.id.split('.').pop());
    drifts.push(e.run.startedAt! - fireAt);
  });
  process.stdout.write(`  measuring scheduler drift at every=1s for ${DRIFT_SECONDS} s `);
  for (let s = 0; s < DRIFT_SECONDS; s += 10) {
    await new Promise((r) => setTimeout(r, 10_000));
    process.stdout.write('.');
  }
  process.stdout.write('\n');
  await engine.stop();
  const sorted = drifts.slice(1).sort((a, b) => a - b); // the first fire is immediate on start
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), max: sorted.at(-1) ?? NaN, n: sorted.length };
}

export async function runEngineBench(): Promise<void> {
  console.log(`\n## engine (${JOBS} no-op jobs, concurrency ${CONCURRENCY})`);
  const redis = await benchRedis();
  try {
    // A warm-up of each side, then rounds that alternate which side goes
    // first; the figure is the median round. Single runs on this 2-core VM
    // vary by +-20% and both sides speed up as Redis and the JIT warm.
    await rawBullmqThroughput(redis.url, 1000);
    await runnerThroughput(redis.url, 1000);
    const rounds: Array<{ raw: number; tf: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      let raw: number;
      let tf: number;
      if (round % 2 === 0) {
        raw = await rawBullmqThroughput(redis.url);
        tf = await runnerThroughput(redis.url);
      } else {
        tf = await runnerThroughput(redis.url);
        raw = await rawBullmqThroughput(redis.url);
      }
      rounds.push({ raw, tf });
      console.log(`  round ${round + 1}/${ROUNDS}: raw BullMQ ${Math.round(raw)} jobs/s, tideflow runner ${Math.round(tf)} jobs/s, ratio ${(tf / raw).toFixed(3)}`);
    }
    const mid = [...rounds].sort((a, b) => a.tf / a.raw - b.tf / b.raw)[Math.floor(rounds.length / 2)]!;
    record({ name: 'runner no-op throughput', value: mid.tf, unit: 'jobs/s', baseline: mid.raw, ratio: mid.tf / mid.raw, target: '>= 0.7', note: `baseline: raw BullMQ no-op worker on the same Redis; median of ${ROUNDS} alternating rounds after a warm-up` });
    const drift = await schedulerDrift(redis.url);
    record({ name: 'scheduler drift p50 (every=1s)', value: drift.p50, unit: 'ms', baseline: null, ratio: null, note: `${drift.n} fires` });
    record({ name: 'scheduler drift p99 (every=1s)', value: drift.p99, unit: 'ms', baseline: null, ratio: null, target: '<= 150 ms', note: `max ${drift.max} ms` });
  } finally {
    await redis.stop();
  }
}
