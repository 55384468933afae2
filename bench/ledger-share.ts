import { RunLedger } from '../core/runner/run-ledger.js';
import { benchRedis } from './bench-services.js';
import { rawBullmqThroughput, runnerThroughput, type SideResult } from './engine.bench.js';

/**
 * `npx tsx bench/ledger-share.ts`: how much of the runner's cost per no-op
 * job is its run records. Alternates four sides on the same jobs: raw
 * BullMQ, the runner, the runner whose ledger builds each batch but does
 * not send it (its JavaScript alone), and the runner whose ledger writes
 * nothing (no record, no counts). A diagnostic: it replaces two private
 * methods of RunLedger in this process, and prints figures, no verdict.
 */
type LedgerInternals = { queue: (...args: unknown[]) => Promise<void>; send: (batch: LedgerBatch) => void };
type LedgerBatch = { call: { args: unknown[]; commandArgs(): unknown[] }; countAt: number; runs: number; answer(saved: Promise<number[]>): void };

const ROUNDS = Number(process.env.BENCH_ENGINE_ROUNDS ?? 4);
const ledger = RunLedger.prototype as unknown as LedgerInternals;
const { queue, send } = ledger;
let mode: 'full' | 'unsent' | 'none' = 'full';
const written = Promise.resolve();
ledger.queue = function (this: unknown, ...args: unknown[]) {
  return mode === 'none' ? written : queue.apply(this, args);
};
ledger.send = function (this: { store: { addRecordEnd(call: unknown): void } }, batch: LedgerBatch) {
  if (mode !== 'unsent') return send.call(this, batch);
  batch.call.args[batch.countAt] = batch.runs;
  this.store.addRecordEnd(batch.call);
  batch.call.commandArgs();
  batch.answer(Promise.resolve(Array.from({ length: batch.runs }, () => 1)));
};

const redis = await benchRedis();
const sides: Array<[string, () => Promise<SideResult>]> = [
  ['raw BullMQ', () => rawBullmqThroughput(redis.url)],
  ['runner', () => ((mode = 'full'), runnerThroughput(redis.url))],
  ['runner, batches built not sent', () => ((mode = 'unsent'), runnerThroughput(redis.url))],
  ['runner, no records', () => ((mode = 'none'), runnerThroughput(redis.url))],
];
try {
  console.log('warm-up: one round of each side');
  for (const [, run] of sides) await run();
  const results = new Map<string, SideResult[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of round % 2 ? [...sides].reverse() : sides) {
      const r = await run();
      results.set(name, [...(results.get(name) ?? []), r]);
    }
    process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
  }
  console.log('side: jobs/s, node CPU µs per job, Redis CPU µs per job, per round');
  for (const [name, rs] of results) {
    console.log(`  ${name.padEnd(31)} ${rs.map((r) => `${Math.round(r.rate)} ${Math.round(r.traffic.nodeCpuUs)} ${Math.round(r.traffic.redisCpuUs)}`).join(' | ')}`);
  }
} finally {
  await redis.stop();
}
process.exit(0);
