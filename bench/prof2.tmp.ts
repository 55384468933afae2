import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { benchRedis } from './bench-services.js';
import { runnerThroughput } from './engine.bench.js';
import { RunLedger } from '../core/runner/run-ledger.js';
const L = RunLedger.prototype as any; const q = L.queue; let none = false; const done = Promise.resolve();
L.queue = function (this: unknown, ...a: unknown[]) { return none ? done : q.apply(this, a); };
const redis = await benchRedis();
const session = new Session(); session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
for (const side of ['full', 'none', 'full', 'none']) { none = side === 'none'; await runnerThroughput(redis.url, 5000); }
const profiles: Record<string, any[]> = { full: [], none: [] };
const stats: Record<string, number[]> = { full: [], none: [] };
for (let round = 0; round < 6; round++) for (const side of ['full', 'none'] as const) {
  none = side === 'none';
  // start profiling only around the measured part: runnerThroughput includes engine start; accept it.
  await session.post('Profiler.start');
  const r = await runnerThroughput(redis.url, 8000);
  const { profile } = await session.post('Profiler.stop');
  profiles[side]!.push(profile);
  stats[side]!.push(r.rate, r.traffic.nodeCpuUs);
}
for (const side of ['full', 'none']) writeFileSync(`/tmp/prof2-${side}.json`, JSON.stringify(profiles[side]));
console.log(stats);
await redis.stop(); process.exit(0);
