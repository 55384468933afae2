import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchRedis } from './bench-services.js';
import { record } from './report.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/tideflow.mjs');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 9);

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
   await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'core/cli/main.ts')).href)});`,
];

function timeOnce(nodeArgs: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, nodeArgs, { cwd: ROOT, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${nodeArgs.slice(0, 1).join(' ')} ... exited ${r.status}:\n${r.stderr}`);
  return ms;
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
      const built: number[] = [];
      const tsx: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        built.push(timeOnce([BIN, ...args], env));
        tsx.push(timeOnce([...TSX_START, ...args], env));
      }
      const value = median(built);
      const baseline = median(tsx);
      record({
        name: `cli ${name} wall time`,
        value,
        unit: 'ms',
        baseline,
        ratio: baseline / value,
        target: '< 1000 ms',
        note: 'baseline: the same CLI compiled by tsx on every start; ratio = speed-up',
      });
    }
  } finally {
    await redis.stop();
  }
}
