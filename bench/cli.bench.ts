import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchRedis } from './bench-services.js';
import { record } from './report.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tideflow.mjs');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 9);
const CPU_PRELOAD = pathToFileURL(path.join(ROOT, 'bench/cpu-usage-preload.mjs')).href;

/**
 * The old start-up, as the baseline: the TypeScript CLI compiled by tsx on
 * every call (what bin/tideflow.mjs did before it ran a build).
 */
const TSX_START = [
  '--input-type=module',
  '-e',
  `const { register } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/esm/api/index.mjs')).href)});
   register({ tsconfig: ${JSON.stringify(path.join(ROOT, 'tsconfig.json'))} });
   process.argv.splice(1, 0, 'tideflow');
   await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'cli/main.ts')).href)});`,
  // The CLI's arguments follow: after `--`, so node never reads them as its own (`--help`).
  '--',
];

/** Wall time and CPU time (user + system, from the preload) of one CLI process, ms. */
function timeOnce(nodeArgs: string[], env: NodeJS.ProcessEnv): { wall: number; cpu: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-bench-cli-'));
  const cpuFile = path.join(dir, 'cpu');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--import', CPU_PRELOAD, ...nodeArgs], { cwd: ROOT, env: { ...env, BENCH_CPU_FILE: cpuFile }, encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`node ${nodeArgs.slice(0, 1).join(' ')} ... exited ${r.status}:\n${r.stderr}`);
    return { wall, cpu: Number(readFileSync(cpuFile, 'utf8').trim()) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall time of `tideflow <verb>` from process start to exit, compiled vs tsx, alternating runs. */
export async function runCliBench(): Promise<void> {
  console.log(`\n# CLI start-up (median of ${RUNS} runs each, alternating with the tsx baseline)`);
  const redis = await benchRedis();
  const env = { ...process.env, REDIS_URL: redis.url, TIDEFLOW_QUEUE_PREFIX: `bench-cli-${Date.now()}`, TIDEFLOW_LOG_PRETTY: '0' };
  try {
    const verbs: Array<[string, string[]]> = [
      ['--help', ['--help']],
      ['validate workflows/', ['validate', 'workflows/']],
      ['status', ['status']],
    ];
    // Warm-up: the first call builds dist/ if the sources changed (not measured).
    timeOnce([BIN, '--help'], env);
    for (const [name, args] of verbs) {
      const built: Array<{ wall: number; cpu: number }> = [];
      const tsx: Array<{ wall: number; cpu: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        built.push(timeOnce([BIN, ...args], env));
        tsx.push(timeOnce([...TSX_START, ...args], env));
      }
      for (const measure of ['wall', 'cpu'] as const) {
        const value = median(built.map((t) => t[measure]));
        const baseline = median(tsx.map((t) => t[measure]));
        record({
          name: `cli ${name} ${measure === 'wall' ? 'wall time' : 'CPU time (user+sys)'}`,
          value,
          unit: 'ms',
          baseline,
          ratio: baseline / value,
          target: '< 1000 ms',
          note: `baseline: the same CLI compiled by tsx on every start; ratio = speed-up; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`,
        });
      }
    }
  } finally {
    await redis.stop();
  }
}
