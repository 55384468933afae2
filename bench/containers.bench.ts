import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { createContainer } from '../core/di/container.js';
import { loadEngineConfig } from '../core/config/engine-config.js';
import { silentLogger } from '../core/logging/logger.js';
import type { PluginContext } from '../core/plugin/plugin.js';
import { AnalyzerPlugin, type AnalyzerTimings } from '../plugins/analyzer/analyzer-plugin.js';
import { analyzerConfig } from '../plugins/analyzer/analyzer-config.js';
import { SpawnerPlugin } from '../plugins/spawner/spawner-plugin.js';
import { spawnerConfig, type SpawnerConfig } from '../plugins/spawner/spawner-config.js';
import { buildWorkloadImages } from '../plugins/spawner/images/workload-images.js';
import { removeManagedContainers } from '../plugins/spawner/managed-containers.js';
import { LABELS } from '../plugins/shared/containers/container-labels.js';
import { benchDocker, benchRedis } from './bench-services.js';
import { cpuDemandPerCore, loadMark, printLoad, record, writeResults } from './report.js';
import { dockerDaemonsCpu, settleDocker, shimsCpu } from './host-cpu.js';
import { SharedTokens } from '../plugins/shared/tokens.js';

const run = promisify(execFile);

/** Population sizes of the analyze+kill benchmark, and rounds per size (median, min and max printed). */
const SIZES = (process.env.BENCH_KILL_SIZES ?? '10,50,100,300').split(',').map((s) => Number(s.trim()));
const ROUNDS = Number(process.env.BENCH_KILL_ROUNDS ?? 3);
/** Containers the course way is measured on (then extrapolated linearly to larger counts). */
const COURSE_SAMPLE = 10;
const SPAWN_MANY = 100;
const KEEP = { high: 2, low: 3 };
/**
 * Tiny, idle containers: 300 of them fit this machine and cost it nothing
 * while they run (limits, not use: a sleeper is a busybox shell waiting on
 * `sleep 3600`, well under 1 MiB), so the analyze+kill figures measure
 * tideflow and Docker, not the bench's own load. Half-labelled high, half
 * low (picked at random per slot), so the policy keeps 2 + 3 as with real
 * workloads.
 */
const SLEEPERS = [
  { name: 'tideflow/sleeper', class: 'high' as const, cpus: 0.05, memory: '8m' },
  { name: 'tideflow/sleeper', class: 'low' as const, cpus: 0.05, memory: '8m' },
];
const SLEEPERS_SAID = 'idle tideflow/sleeper containers (busybox `sleep`, 0.05 cpus, 8 MiB each; labelled high or low at random)';
/** The longest the bench waits for dockerd/containerd to go quiet after its own spawn or cleanup. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 15_000);
/** How long a round waits for Docker to stop listing the containers it killed. */
const FORGET_DEADLINE_MS = 180_000;

function ctx<C>(workflow: string, config: C, job: string): PluginContext<C> {
  return { config, runId: randomUUID(), workflow, job, trigger: 'manual', attempt: 1, signal: new AbortController().signal, log: silentLogger() };
}

async function removeByLabel(docker: Docker, label: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

async function bash(script: string, dir: string): Promise<number> {
  const file = path.join(dir, `s-${randomUUID().slice(0, 6)}.sh`);
  writeFileSync(file, `set -e\n${script}\n`);
  const t = performance.now();
  await run('bash', [file], { maxBuffer: 16 * 1024 * 1024 });
  return (performance.now() - t) / 1000;
}

/** Median of what is there (null when nothing is). */
function median(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? stats(v).median : null;
}

function stats(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s[s.length - 1]! };
}

const ms = (n: number) => `${Math.round(n)} ms`;

/** Each phase of the median rounds at 100 and 300, per container, and which one bounds the cost. */
function phasesPerContainer(rounds: Map<number, KillRound>): string {
  const parts: string[] = [];
  let biggest = '';
  for (const n of [100, 300]) {
    const r = rounds.get(n);
    if (!r) continue;
    const t = r.timings;
    const phases: Array<[string, number]> = [
      ['list', t.listMs],
      ['claims', t.claimMs],
      ['sample (beyond the window)', t.sampleMs - t.windowMs],
      ['waiting for inspects', t.inspectMs],
      ['signal+confirm', t.killMs - t.inspectMs],
    ];
    parts.push(`at ${n}, ms per container: ${phases.map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')}`);
    biggest = phases.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  }
  const why =
    biggest === 'signal+confirm'
      ? ': the signals go out in one sweep (0.1-0.3 s at 300 on a loaded host); the rest is the processes dying, which takes CPU time in the kernel (exit, their namespaces torn down) that the host shares with everything else'
      : '';
  return parts.join('; ') + (biggest ? `; the largest phase at the largest size: ${biggest}${why}` : '');
}

interface KillRound {
  /** Analyzer wall time without the sample window, seconds. */
  seconds: number;
  timings: AnalyzerTimings;
  killed: number;
  /** From the analyzer's return until Docker no longer listed any killed container; null if it still did at the deadline. */
  forgetMs: number | null;
  /** Share of all the host's cores busy in the half second before the analysis (other work than the bench's). */
  hostBusy: number | null;
}

/**
 * Containers part of `npm run bench`, side by side with the course project's
 * way (shell scripts driving the docker CLI one container at a time).
 */
export async function runContainersBench(): Promise<void> {
  printLoad('containers benchmark (real Docker engine)');
  const docker = await benchDocker();
  await buildWorkloadImages(docker);
  const id = randomUUID().slice(0, 8);
  const prefix = `tf-bench-${id}`;
  const redisService = await benchRedis();
  const redis = new Redis(redisService.url, { maxRetriesPerRequest: null });
  const di = createContainer({ config: loadEngineConfig({ queuePrefix: prefix }), logger: silentLogger(), redis, extra: [[SharedTokens.Docker, docker]] });
  const spawner = di.resolve(SpawnerPlugin);
  const analyzer = di.resolve(AnalyzerPlugin);
  const benchLabel = `tideflow.bench=${id}`;
  const workflow = `bench-${id}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-'));
  const spawnCfg = (c: Partial<SpawnerConfig>) => spawnerConfig({ maxManaged: 1000, labels: { 'tideflow.bench': id }, ...c });
  const cleanup = async () => {
    await removeManagedContainers(docker, { workflow, includeProtected: true, parallelism: 32 });
    await removeByLabel(docker, benchLabel);
  };
  const listBench = () => docker.listContainers({ all: true, filters: { label: [benchLabel] } });

  try {
    // --- Spawn 10 and 100 (BENCH_SKIP_SPAWN=1 leaves them out) ---------------------
    // CPU demand just before each measurement (runnable tasks per core), not the 1-minute load average:
    // that one stays above the limit for minutes after the bench's own container teardown.
    let load = await cpuDemandPerCore();
    if (process.env.BENCH_SKIP_SPAWN !== '1') {
      const t0 = performance.now();
      const spawned = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: 10 }), 'spawn'));
      const tideSpawn = (performance.now() - t0) / 1000;
      if (spawned.created.length !== 10) throw new Error(`spawner created ${spawned.created.length} of 10`);
      await cleanup();
      const courseSpawn = await bash(
        `imgs=(tideflow/cpu-hog tideflow/mem-hog tideflow/sleeper tideflow/ticker)
for i in $(seq ${COURSE_SAMPLE}); do
  docker run -d --network none --cpus 0.1 --memory 96m --label ${benchLabel} "\${imgs[$((RANDOM % 4))]}" >/dev/null
  sleep 1
done`,
        dir,
      );
      await cleanup();
      record({
        name: 'containers: spawn 10 (s)',
        value: tideSpawn,
        unit: 's',
        baseline: courseSpawn,
        ratio: courseSpawn / tideSpawn,
        target: '>= 5x faster',
        note: 'tideflow spawner (create+start, parallel 10, the 4 workload images) vs bash `docker run -d ...; sleep 1` x10',
        ...loadMark(load, load),
      });

      await settleDocker({ maxMs: SETTLE_MS });
      load = await cpuDemandPerCore();
      const daemons0 = dockerDaemonsCpu();
      const t1 = performance.now();
      const many = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: SPAWN_MANY, images: SLEEPERS, parallelism: 20 }), 'spawn'));
      const tideMany = (performance.now() - t1) / 1000;
      if (many.created.length !== SPAWN_MANY) throw new Error(`spawner created ${many.created.length} of ${SPAWN_MANY}`);
      // What Docker's side spent starting them: dockerd + containerd, and each container's shim with the runc
      // processes it ran. On 2 cores this CPU alone bounds the spawn from below.
      const daemons1 = dockerDaemonsCpu();
      const shims = shimsCpu(many.created.map((c) => c.id));
      const dockerCpu = daemons0 !== null && daemons1 !== null && shims !== null ? daemons1 - daemons0 + shims : null;
      if (dockerCpu !== null) {
        console.log(
          `    spawn ${SPAWN_MANY}: Docker's side used ${dockerCpu.toFixed(1)} s of CPU (dockerd+containerd ${(daemons1! - daemons0!).toFixed(1)} s, shims+runc ${shims!.toFixed(1)} s): ` +
            `${Math.round((dockerCpu * 1000) / SPAWN_MANY)} ms per container`,
        );
      }
      await cleanup();
      const courseMany = (courseSpawn / COURSE_SAMPLE) * SPAWN_MANY;
      record({
        name: `containers: spawn ${SPAWN_MANY} (s)`,
        value: tideMany,
        unit: 's',
        baseline: courseMany,
        ratio: courseMany / tideMany,
        target: '<= 8 s',
        note:
          `tideflow spawner, ${SPAWN_MANY} ${SLEEPERS_SAID}, create+start with at most 20 calls in flight; ` +
          (dockerCpu !== null
            ? `Docker's side spent ${dockerCpu.toFixed(1)} s of CPU on them (${Math.round((dockerCpu * 1000) / SPAWN_MANY)} ms per container: dockerd ${(daemons1! - daemons0!).toFixed(1)} s incl. containerd, shims + runc ${shims!.toFixed(1)} s), ` +
              `so on ${cpus().length} cores the spawn cannot take less than ${(dockerCpu / cpus().length).toFixed(1)} s even on an idle host; `
            : '') +
          `baseline: the course way's \`docker run -d; sleep 1\` loop measured on ${COURSE_SAMPLE} containers (${courseSpawn.toFixed(1)} s) and EXTRAPOLATED linearly to ${SPAWN_MANY}`,
        ...loadMark(load, load),
      });
    }

    // --- The course way's analyze+kill, per container ----------------------------
    // docker stats per container, one after another, then docker stop one after another for the surplus;
    // measured once on COURSE_SAMPLE containers and extrapolated to each size.
    const pop = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: COURSE_SAMPLE, images: SLEEPERS, parallelism: 20 }), 'spawn'));
    const ids = pop.created.map((c) => c.id);
    const statsSec = await bash(ids.map((i) => `docker stats --no-stream --format '{{.ID}} {{.CPUPerc}} {{.MemUsage}}' ${i} >/dev/null`).join('\n'), dir);
    const stopIds = ids.slice(0, COURSE_SAMPLE - 5);
    const stopSec = await bash(stopIds.map((i) => `docker stop ${i} >/dev/null`).join('\n'), dir);
    await cleanup();
    const course = (n: number) => (statsSec / ids.length) * n + (stopSec / stopIds.length) * (n - 5);

    // --- Analyze and kill at N ---------------------------------------------
    const perContainer = new Map<number, number>();
    const medianRound = new Map<number, KillRound>();
    const demandAt = new Map<number, number>();
    for (const n of SIZES) {
      const rounds: KillRound[] = [];
      const failedRounds: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const made = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: n, images: SLEEPERS, parallelism: 20 }), 'spawn'));
        if (made.created.length !== n) throw new Error(`spawner created ${made.created.length} of ${n}`);
        // Let Docker finish with the spawn before the analysis: the figure is the analysis, not the spawn's aftermath.
        const settled = await settleDocker({ maxMs: SETTLE_MS });
        const demand = await cpuDemandPerCore(500);
        const t = performance.now();
        const { result: r, timings: tm } = await analyzer.analyze(ctx(workflow, analyzerConfig({ keep: KEEP, sampleWindow: '1s', killParallelism: 32 }), 'analyze'));
        const wall = performance.now() - t;
        const killedIds = new Set(r.containers.filter((c) => c.decision === 'killed').map((c) => c.id));
        // Images are picked at random: a run can have fewer than 2 high or 3 low containers.
        const highs = made.created.filter((c) => c.class === 'high').length;
        const keep = Math.min(highs, KEEP.high) + Math.min(n - highs, KEEP.low);
        // The processes are dead when the analyzer returns; Docker then notices the exits and removes the
        // (AutoRemove) containers at its own serialized pace. Not part of the figure (the kill claims make the
        // next analysis skip them), but measured: it is how long ghosts stay listed.
        // Only this round's containers (by run id): a container an earlier round's Docker is still removing
        // ("Removal In Progress" for minutes on a loaded engine) is not this round's to count.
        const ofRound = (l: Docker.ContainerInfo[]) => l.filter((c) => c.Labels?.[LABELS.run] === made.runId);
        const tc = performance.now();
        const deadline = Date.now() + FORGET_DEADLINE_MS;
        let left = ofRound(await listBench());
        while (left.some((c) => killedIds.has(c.Id)) && Date.now() < deadline) {
          // Not faster: each list is work for the dockerd that is busy forgetting them.
          await new Promise((res) => setTimeout(res, 200));
          left = ofRound(await listBench());
        }
        const ghosts = left.filter((c) => killedIds.has(c.Id)).length;
        const forgetMs = ghosts > 0 ? null : performance.now() - tc;
        const kept = left.filter((c) => !killedIds.has(c.Id));
        const failed = r.containers.filter((c) => c.killError);
        console.log(
          `    round ${round + 1} at ${n} sleepers: ${((wall - tm.windowMs) / 1000).toFixed(3)} s = list ${ms(tm.listMs)}, claims ${ms(tm.claimMs)}, ` +
            `sample ${ms(tm.sampleMs - tm.windowMs)} (+ ${tm.windowMs} ms window), kill ${killedIds.size} ` +
            `(${tm.killedVia.cgroup} via cgroup, ${tm.killedVia.docker} via Docker API) ${ms(tm.killMs)} (waiting for inspects ${ms(tm.inspectMs)}, signal+confirm ${ms(tm.killMs - tm.inspectMs)})` +
            `${tm.removeMs ? ` + remove ${ms(tm.removeMs)}` : ''}; ` +
            (forgetMs === null ? `Docker still listed ${ghosts} of them ${FORGET_DEADLINE_MS / 1000} s later` : `Docker stopped listing them ${ms(forgetMs)} later`) +
            ` [before it: waited ${ms(settled.waitedMs)} for Docker to settle${settled.quiet ? '' : ' (still busy)'}, host ${settled.hostBusy === null ? '?' : `${Math.round(settled.hostBusy * 100)}%`} busy, ${demand.toFixed(2)} runnable per core]`,
        );
        const fellBack = r.containers.filter((c) => c.decision === 'killed' && /Docker API/.test(c.reason));
        if (fellBack.length > 0) console.log(`      ${fellBack.length} through the Docker API, e.g. ${fellBack[0]!.reason.replace(/^.*killed through the Docker API/, '')}`);
        if (killedIds.size !== n - keep || kept.length !== keep || kept.some((c) => c.State !== 'running') || failed.length > 0) {
          // Not a figure: say why (a loaded Docker engine does fail removals) and leave the round out.
          const why = `killed ${killedIds.size} of ${n - keep}, ${kept.length} kept (expected ${keep} running: ${kept.map((c) => c.State).join(' ')}), ${failed.length} failed (${failed[0]?.killError ?? ''})`;
          console.log(`    round ${round + 1} at ${n} FAILED, left out of the figures: ${why}`);
          failedRounds.push(why);
          await cleanup();
          continue;
        }
        rounds.push({ seconds: (wall - tm.windowMs) / 1000, timings: tm, killed: killedIds.size, forgetMs, hostBusy: settled.hostBusy });
        demandAt.set(n, Math.max(demandAt.get(n) ?? 0, demand));
        await cleanup();
      }
      if (rounds.length === 0) {
        console.log(`  analyze+kill ${n}: every round failed, no figure`);
        continue;
      }
      const s = stats(rounds.map((r) => r.seconds));
      const mid = rounds.find((r) => r.seconds === s.median) ?? rounds[0]!;
      const tm = mid.timings;
      const mark = loadMark(demandAt.get(n) ?? 0, demandAt.get(n) ?? 0);
      const busy = median(rounds.map((r) => r.hostBusy));
      record({
        name: `containers: analyze+kill ${n} (s)`,
        value: s.median,
        unit: 's',
        baseline: course(n),
        ratio: course(n) / s.median,
        target: n === 100 ? '<= 0.7 s' : n === 300 ? '<= 2 s' : undefined,
        note:
          (failedRounds.length ? `${failedRounds.length} round(s) FAILED and left out (${failedRounds[0]}); ` : '') +
          `${n} ${SLEEPERS_SAID}, analyzed once Docker had settled after their spawn ` +
          `(host ${busy === null ? '?' : `${Math.round(busy * 100)}%`} busy just before, median; that is other work than the bench's); ` +
          `median of ${rounds.length} rounds (min ${s.min.toFixed(3)} s, max ${s.max.toFixed(3)} s), excluding the 1 s sample window; ` +
          `median round: list ${ms(tm.listMs)}, kill claims in Redis ${ms(tm.claimMs)}, sample ${ms(tm.sampleMs - tm.windowMs)}, kill ${mid.killed} ${ms(tm.killMs)} (waiting for Docker inspects ${ms(tm.inspectMs)}, signal+confirm ${ms(tm.killMs - tm.inspectMs)}) ` +
          `(killMethod auto: the inspects (init PID, AutoRemove) start before the sample window and are answered during it; then SIGKILL to the PIDs in every target's cgroup.procs in one sweep, ` +
          `and one loop waits until none of their processes can run user code again (dead, exiting, or runnable with the SIGKILL pending); AutoRemove does the rest, outside the figure); ` +
          `course: sequential \`docker stats --no-stream\` per container then sequential \`docker stop\` of the surplus, measured on ${COURSE_SAMPLE} containers` +
          (n === COURSE_SAMPLE ? '' : ' and EXTRAPOLATED linearly') +
          '; the containers have StopSignal SIGKILL, so `docker stop` does not wait out its 10 s SIGTERM timeout: this favours the course way',
        ...mark,
      });
      perContainer.set(n, (s.median * 1000) / n);
      medianRound.set(n, mid);
      record({
        name: `containers: analyze+kill cost per container at ${n} (ms)`,
        value: (s.median * 1000) / n,
        unit: 'ms',
        baseline: course(n) * 1000 / n,
        ratio: course(n) / s.median,
        note: `median analyze+kill time / ${n} ${SLEEPERS_SAID} (${mid.killed} killed)`,
        ...mark,
      });
      const forgot = rounds.map((r) => r.forgetMs).filter((x): x is number => x !== null);
      const notForgotten = rounds.length - forgot.length;
      const f = forgot.length > 0 ? stats(forgot) : { median: FORGET_DEADLINE_MS, min: FORGET_DEADLINE_MS, max: FORGET_DEADLINE_MS };
      record({
        name: `containers: kill until Docker stops listing, ${n} (s)`,
        value: f.median / 1000,
        unit: 's',
        baseline: null,
        ratio: null,
        note:
          (notForgotten > 0 ? `in ${notForgotten} of ${rounds.length} rounds Docker still listed some after ${FORGET_DEADLINE_MS / 1000} s (${forgot.length ? 'left out' : 'the figure is that deadline'}); ` : '') +
          `from the analyzer's return (processes dead) until \`docker ps -a\` no longer lists any of the ${mid.killed} killed containers; median of ${forgot.length || rounds.length} ` +
          `(min ${(f.min / 1000).toFixed(2)} s, max ${(f.max / 1000).toFixed(2)} s). The analyzer does not wait for it; its Redis kill claims make later analyses skip these ghosts`,
        ...mark,
      });
      // Each size takes minutes on a loaded machine: keep what is measured even if a later size fails.
      writeResults();
    }
    const c100 = perContainer.get(100);
    const c300 = perContainer.get(300);
    if (c100 !== undefined && c300 !== undefined) {
      record({
        name: 'containers: cost per container, 300 vs 100 (ratio)',
        value: c300 / c100,
        unit: 'x',
        baseline: null,
        ratio: null,
        target: '<= 1.2',
        note: `analyze+kill cost per container at 300 divided by the same at 100 (medians); ${phasesPerContainer(medianRound)}`,
        ...loadMark(demandAt.get(100) ?? 0, demandAt.get(300) ?? 0),
      });
    }
  } finally {
    await cleanup();
    // Leave no container behind: a removal Docker has in progress (AutoRemove after a kill) can take
    // minutes on a loaded engine; wait for it, bounded, and say so if some are still there.
    const end = Date.now() + 300_000;
    let still = await listBench();
    while (still.length > 0 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 1000));
      await cleanup();
      still = await listBench();
    }
    if (still.length > 0) console.log(`  WARNING: ${still.length} bench container(s) still listed (${still.map((c) => `${c.Id.slice(0, 12)} ${c.Status}`).join(', ')}); remove them with docker rm -f`);
    rmSync(dir, { recursive: true, force: true });
    // Leave no Redis key behind (the kill claims), even on a shared REDIS_URL.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
    await redisService.stop();
  }
}
