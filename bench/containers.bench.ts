import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { createContainer } from '../core/di/container.js';
import { loadEngineConfig } from '../core/config/engine-config.js';
import { silentLogger } from '../core/logging/logger.js';
import type { PluginContext } from '../core/plugin/plugin.js';
import { createDockerClient } from '../core/services/docker-engine.js';
import { AnalyzerPlugin } from '../plugins/analyzer/analyzer-plugin.js';
import { analyzerConfig } from '../plugins/analyzer/analyzer-config.js';
import { SpawnerPlugin } from '../plugins/spawner/spawner-plugin.js';
import { spawnerConfig, type SpawnerConfig } from '../plugins/spawner/spawner-config.js';
import { buildWorkloadImages } from '../plugins/spawner/images/workload-images.js';
import { removeManagedContainers } from '../plugins/spawner/managed-containers.js';
import { record } from './report.js';

const run = promisify(execFile);

/** How many containers the course way is measured on when N is larger (then extrapolated linearly). */
const COURSE_SAMPLE = 10;

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

/**
 * Containers part of `npm run bench`, side by side with the course project's
 * way (shell scripts driving the docker CLI one container at a time).
 */
export async function runContainersBench(): Promise<void> {
  const docker = createDockerClient(process.env.DOCKER_HOST);
  await docker.ping();
  await buildWorkloadImages(docker);
  const di = createContainer({ config: loadEngineConfig(), logger: silentLogger(), docker });
  const spawner = di.resolve(SpawnerPlugin);
  const analyzer = di.resolve(AnalyzerPlugin);
  const id = randomUUID().slice(0, 8);
  const benchLabel = `tideflow.bench=${id}`;
  const workflow = `bench-${id}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-bench-'));
  const spawnCfg = (c: Partial<SpawnerConfig>) => spawnerConfig({ maxManaged: 1000, labels: { 'tideflow.bench': id }, ...c });
  const cleanup = async () => {
    await removeManagedContainers(docker, { workflow, includeProtected: true, parallelism: 32 });
    await removeByLabel(docker, benchLabel);
  };

  console.log('containers benchmark (real Docker engine)');
  try {
    // --- Spawn 10 -----------------------------------------------------------
    const t0 = performance.now();
    const spawned = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: 10 }), 'spawn'));
    const tideSpawn = (performance.now() - t0) / 1000;
    if (spawned.created.length !== 10) throw new Error(`spawner created ${spawned.created.length} of 10`);
    await cleanup();

    const courseSpawn = await bash(
      `imgs=(tideflow/cpu-hog tideflow/mem-hog tideflow/sleeper tideflow/ticker)
for i in $(seq 10); do
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
      note: 'tideflow spawner (create+start, parallel 10) vs bash `docker run -d ...; sleep 1` x10',
    });

    // --- Analyze and kill at N ---------------------------------------------
    const sleepers = [
      { name: 'tideflow/sleeper', class: 'high' as const, cpus: 0.05, memory: '8m' },
      { name: 'tideflow/sleeper', class: 'low' as const, cpus: 0.05, memory: '8m' },
    ];
    for (const n of [10, 50, 100]) {
      const made = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: n, images: sleepers, parallelism: 20 }), 'spawn'));
      if (made.created.length !== n) throw new Error(`spawner created ${made.created.length} of ${n}`);
      const t = performance.now();
      const r = await analyzer.run(undefined, ctx(workflow, analyzerConfig({ keep: { high: 2, low: 3 }, sampleWindow: '1s', killParallelism: 32 }), 'analyze'));
      const wall = (performance.now() - t) / 1000;
      const tm = analyzer.lastTimings!;
      const tide = wall - tm.windowMs / 1000;
      const killed = r.containers.filter((c) => c.decision === 'killed').length;
      // Images are picked at random: a run can have fewer than 2 high or 3 low containers.
      const highs = made.created.filter((c) => c.class === 'high').length;
      const keep = Math.min(highs, 2) + Math.min(n - highs, 3);
      // The processes are dead when the analyzer returns; Docker then notices the exits and removes the
      // (AutoRemove) containers at its own serialized pace. Not part of the figure, but wait for it (and
      // report it) so the next measurement does not run against a busy engine.
      const tc = performance.now();
      const deadline = Date.now() + 60_000;
      let left = await docker.listContainers({ all: true, filters: { label: [benchLabel] } });
      while (left.length !== keep && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
        left = await docker.listContainers({ all: true, filters: { label: [benchLabel] } });
      }
      const catchUp = performance.now() - tc;
      console.log(
        `    tideflow at ${n}: list ${Math.round(tm.listMs)} ms, sample ${Math.round(tm.sampleMs - tm.windowMs)} ms (+ ${tm.windowMs} ms window), ` +
          `kill ${n - keep} (${tm.killedVia.cgroup} via cgroup, ${tm.killedVia.docker} via Docker API): ${Math.round(tm.killMs)} ms` +
          `${tm.removeMs ? ` + remove ${Math.round(tm.removeMs)} ms` : ''}; Docker removed them ${Math.round(catchUp)} ms later`,
      );
      for (const c of r.containers.filter((x) => x.reason.includes('Docker API'))) console.log(`      ${c.name}: ${c.reason}`);
      if (killed !== n - keep || left.length !== keep) throw new Error(`analyzer at ${n}: killed ${killed}, left ${left.length}`);
      await cleanup();

      // The course way on the same kind of population: docker stats per container, one after
      // another, then docker stop one after another for the surplus.
      const pop = await spawner.run(undefined, ctx(workflow, spawnCfg({ count: n, images: sleepers, parallelism: 20 }), 'spawn'));
      const ids = pop.created.map((c) => c.id);
      const m = Math.min(n, COURSE_SAMPLE);
      const statsIds = ids.slice(0, m);
      const stopIds = ids.slice(0, n === m ? n - 5 : m);
      const statsSec = await bash(statsIds.map((i) => `docker stats --no-stream --format '{{.ID}} {{.CPUPerc}} {{.MemUsage}}' ${i} >/dev/null`).join('\n'), dir);
      const stopSec = await bash(stopIds.map((i) => `docker stop ${i} >/dev/null`).join('\n'), dir);
      const course = n === m ? statsSec + stopSec : (statsSec / statsIds.length) * n + (stopSec / stopIds.length) * (n - 5);
      await cleanup();
      record({
        name: `containers: analyze+kill ${n} (s)`,
        value: tide,
        unit: 's',
        baseline: course,
        ratio: course / tide,
        target: n === 100 ? '<= 1 s' : undefined,
        note:
          `tideflow analyzer (list + cgroup sample + policy + kill ${n - 5}), excluding the 1 s sample window ` +
          `(list ${Math.round(tm.listMs)} ms, sample ${Math.round(tm.sampleMs - tm.windowMs)} ms, kill ${Math.round(tm.killMs)} ms: ` +
          `killMethod auto = inspect, then SIGKILL to the PIDs in each container's cgroup.procs and wait until they are dead; ` +
          `the containers are AutoRemove, so dockerd removes them afterwards at its own pace (~35-75 ms each, serialized), outside the figure. ` +
          `With killMethod docker (remove({force:true}), parallel 32) the kill phase is engine-bound: ~3.5 s at 100); ` +
          `course: sequential \`docker stats --no-stream\` per container then sequential \`docker stop\` of the surplus` +
          (n === m ? ', measured in full' : `, measured on ${m} of the ${n} running containers and extrapolated linearly`) +
          '; the containers have StopSignal SIGKILL, so `docker stop` does not wait out its 10 s SIGTERM timeout (busybox sh as PID 1 ignores SIGTERM): this favours the course way',
      });
    }
  } finally {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
