import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import type { PluginContext } from '../../core/plugin/plugin.js';
import { randomUUID, startSleeper, testDocker, testRunLabel } from '../support/docker.js';
import { useContainerFixtures } from '../support/container-fixtures.js';
import { pollUntil } from '../support/poll.js';
import AnalyzerPluginDefault, { AnalyzerPlugin } from '../../plugins/analyzer/index.js';
import { analyzerConfig } from '../../plugins/analyzer/analyzer-config.js';
import { CgroupMetricSource } from '../../plugins/analyzer/metrics/cgroup-source.js';
import { DockerStatsMetricSource } from '../../plugins/analyzer/metrics/docker-stats-source.js';
import { selectMetricSource } from '../../plugins/analyzer/metrics/select-source.js';
import type { MetricSource } from '../../plugins/analyzer/metrics/metric-source.js';
import { SpawnerPlugin } from '../../plugins/spawner/spawner-plugin.js';
import { spawnerConfig, type ImageEntry } from '../../plugins/spawner/spawner-config.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const docker = testDocker();
const mark = testRunLabel();
const workflows = new Set<string>();
const MiB = 1024 * 1024;

// The analyzer takes its kill claims in Redis (kill-claims.ts).
const claimRedis = testRedis();
const claimPrefix = uniquePrefix('kill-claims');
afterAll(async () => {
  await deletePrefix(claimRedis, claimPrefix);
  await claimRedis.quit();
});

function di(d: Docker = docker) {
  return createContainer({ config: loadEngineConfig({ queuePrefix: claimPrefix }), logger: silentLogger(), redis: claimRedis, extra: [[SharedTokens.Docker, d]] });
}

function newWorkflow(): string {
  const wf = `t-analyze-${randomUUID().slice(0, 8)}`;
  workflows.add(wf);
  return wf;
}

function ctx<C>(workflow: string, config: C, job = 'analyze'): PluginContext<C> {
  return { config, runId: randomUUID(), workflow, job, trigger: 'manual', attempt: 1, signal: new AbortController().signal, log: silentLogger() };
}

/** Spawns `count` containers of one image entry through the real spawner plugin. */
async function spawn(workflow: string, count: number, entry: ImageEntry): Promise<string[]> {
  const r = await di().resolve(SpawnerPlugin).run(undefined, ctx(workflow, spawnerConfig({ count, images: [entry], maxManaged: 100, labels: { [mark.key]: mark.value } }), 'spawn'));
  return r.created.map((c) => c.id);
}

const raw = (labels: Record<string, string>) => startSleeper(docker, mark, labels);


useContainerFixtures(docker, workflows, mark);

describe('analyzer plugin (real Docker)', () => {
  it('is the default export, resolves through DI, and accepts the built-in workflow config through the registry', async () => {
    expect(AnalyzerPluginDefault).toBe(AnalyzerPlugin);
    const registry = new PluginRegistry();
    const a = registry.register(AnalyzerPlugin, 'plugins/analyzer');
    const s = registry.register(SpawnerPlugin, 'plugins/spawner');
    const wf = JSON.parse(await readFile('workflows/container-lifecycle.json', 'utf8'));
    const av = a.validateConfig(wf.jobs.analyze.config);
    expect(av).toMatchObject({ ok: true, value: { keep: { high: 2, low: 3 }, metricSource: 'auto', sampleWindow: '1s', dryRun: false } });
    const sv = s.validateConfig(wf.jobs.spawn.config);
    expect(sv).toMatchObject({ ok: true, value: { count: 10, maxManaged: 50, defaultMemory: '32m' } });
    expect(a.validateConfig({ keep: { high: 2, low: 3 }, bogus: 1 }).ok).toBe(false);
    expect(s.validateConfig({ count: 10, bogus: 1 }).ok).toBe(false);
  });

  it('auto picks the cgroup source on this local cgroup host (no kernel module loaded)', async () => {
    const src = await selectMetricSource('auto', { docker });
    expect(src.name).toBe(existsSync('/proc/tideflow_sysinfo') ? 'kernel' : 'cgroup');
    expect(await new CgroupMetricSource().available()).toBe(true);
  });

  it('auto prefers an available kernel source, and uses the stats API for a remote engine', async () => {
    const fake = (ok: boolean): MetricSource => ({ name: 'kernel', available: async () => ok, sample: async () => new Map() });
    expect((await selectMetricSource('auto', { docker, kernel: () => fake(true) })).name).toBe('kernel');
    expect((await selectMetricSource('auto', { docker, kernel: () => fake(false) })).name).toBe('cgroup');
    const remote = new Docker({ host: 'remote-engine.invalid', port: 2375, protocol: 'http' }); // never contacted
    expect((await selectMetricSource('auto', { docker: remote, kernel: () => fake(true) })).name).toBe('docker');
  });

  it('measures a CPU hog near its CPU limit, a sleeper near 0 and a memory hog near 48 MiB', async () => {
    const wf = newWorkflow();
    const [hog] = await spawn(wf, 1, { name: 'tideflow/cpu-hog', class: 'high', cpus: 0.2 });
    const [sleeper] = await spawn(wf, 1, { name: 'tideflow/sleeper', class: 'low' });
    const [memHog] = await spawn(wf, 1, { name: 'tideflow/mem-hog', class: 'high' });
    const ids = [hog!, sleeper!, memHog!];

    const cgroup = new CgroupMetricSource();
    const s = await pollUntil(
      () => cgroup.sample(ids, { windowMs: 1000 }),
      (m) => Math.abs(m.get(hog!)!.cpuPct! - 20) < 4 && m.get(memHog!)!.memBytes! > 40 * MiB,
      20_000,
    );
    expect(s.get(hog!)!.cpuPct).toBeGreaterThan(16);
    expect(s.get(hog!)!.cpuPct).toBeLessThan(24);
    expect(s.get(sleeper!)!.cpuPct).toBeLessThan(2);
    expect(s.get(sleeper!)!.memBytes).toBeLessThan(4 * MiB);
    expect(s.get(memHog!)!.memBytes).toBeGreaterThan(40 * MiB);
    expect(s.get(memHog!)!.memBytes).toBeLessThan(64 * MiB);

    // The stats API agrees (looser: its window is the engine's own).
    const stats = new DockerStatsMetricSource(docker);
    const d = await pollUntil(() => stats.sample(ids, { windowMs: 1000 }), (m) => Math.abs(m.get(hog!)!.cpuPct! - 20) < 6, 20_000);
    expect(d.get(hog!)!.cpuPct).toBeGreaterThan(14);
    expect(d.get(hog!)!.cpuPct).toBeLessThan(26);
    expect(d.get(sleeper!)!.cpuPct).toBeLessThan(3);
    expect(d.get(memHog!)!.memBytes).toBeGreaterThan(40 * MiB);
  });

  it('on 12 managed + 1 protected + 1 unmanaged (+1 of another workflow) keeps exactly 2 high + 3 low and touches nothing else', async () => {
    const wf = newWorkflow();
    const other = newWorkflow();
    const hogs = await spawn(wf, 2, { name: 'tideflow/cpu-hog', class: 'high', cpus: 0.1 });
    const quietHigh = await spawn(wf, 4, { name: 'tideflow/sleeper', class: 'high' });
    const low = await spawn(wf, 6, { name: 'tideflow/sleeper', class: 'low' });
    const prot = await raw({ 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.class': 'high', 'tideflow.protected': 'true' });
    const unmanaged = await raw({ 'tideflow.workflow': wf, 'tideflow.class': 'high' });
    const foreign = await raw({ 'tideflow.managed': 'true', 'tideflow.workflow': other, 'tideflow.class': 'high' });
    expect(hogs.length + quietHigh.length + low.length).toBe(12);

    const analyzer = di().resolve(AnalyzerPlugin);
    const r = await analyzer.run(undefined, ctx(wf, analyzerConfig({ keep: { high: 2, low: 3 } })));
    expect(r.kind).toBe('analysis');
    expect(r.metricSource).toBe('cgroup');
    expect(r.hostMemory.totalBytes).toBeGreaterThan(0);
    expect(r.containers).toHaveLength(13);
    expect(r.containers.map((c) => c.id)).not.toContain(unmanaged);
    expect(r.containers.map((c) => c.id)).not.toContain(foreign);
    const by = (d: string) => r.containers.filter((c) => c.decision === d);
    expect(by('protected').map((c) => c.id)).toEqual([prot]);
    expect(by('kept')).toHaveLength(5);
    expect(by('killed')).toHaveLength(7);
    expect(by('kept').filter((c) => c.class === 'high').map((c) => c.id).sort()).toEqual([...hogs].sort());
    expect(by('kept').filter((c) => c.class === 'low')).toHaveLength(3);
    for (const c of r.containers) {
      expect(c.cpuPct).not.toBeNull();
      expect(c.memBytes).not.toBeNull();
      expect(c.reason).not.toBe('');
      expect(c.killError).toBeUndefined();
    }

    // The default kill is SIGKILL through the cgroup: the processes are dead when the run returns, and
    // Docker notices and removes the (AutoRemove) containers at its own pace. Wait for that (all: true,
    // so a killed container must be removed, not merely stopped).
    const killedIds = new Set(by('killed').map((c) => c.id));
    expect(r.containers.filter((c) => c.decision === 'killed' && c.reason.includes('already gone'))).toHaveLength(0);
    const alive = await pollUntil(
      () => docker.listContainers({ all: true, filters: { label: [`${mark.key}=${mark.value}`] } }),
      (l) => !l.some((c) => killedIds.has(c.Id)),
      15_000,
    );
    const aliveIds = new Set(alive.map((c) => c.Id));
    for (const c of by('killed')) expect(aliveIds.has(c.id)).toBe(false);
    expect(alive.every((c) => c.State === 'running')).toBe(true);
    for (const c of by('kept')) expect(aliveIds.has(c.id)).toBe(true);
    for (const id of [prot, unmanaged, foreign]) expect(aliveIds.has(id)).toBe(true);
    const managedLeft = alive.filter((c) => c.Labels['tideflow.managed'] === 'true' && c.Labels['tideflow.workflow'] === wf && c.Labels['tideflow.protected'] !== 'true');
    expect(managedLeft.filter((c) => c.Labels['tideflow.class'] === 'high')).toHaveLength(2);
    expect(managedLeft.filter((c) => c.Labels['tideflow.class'] === 'low')).toHaveLength(3);

    // A second pass finds nothing more to kill.
    const again = await analyzer.run(undefined, ctx(wf, analyzerConfig({ sampleWindow: '200ms' })));
    expect(again.containers.filter((c) => c.decision === 'killed')).toHaveLength(0);
  });

  it('dry run decides but kills nothing; the docker source works the same', async () => {
    const wf = newWorkflow();
    const ids = await spawn(wf, 5, { name: 'tideflow/sleeper', class: 'low' });
    const r = await di().resolve(AnalyzerPlugin).run(undefined, ctx(wf, analyzerConfig({ dryRun: true, metricSource: 'docker' })));
    expect(r.dryRun).toBe(true);
    expect(r.metricSource).toBe('docker');
    expect(r.containers.filter((c) => c.decision === 'killed')).toHaveLength(0);
    expect(r.containers.filter((c) => c.reason.startsWith('dry run: would kill'))).toHaveLength(2);
    const alive = await docker.listContainers({ filters: { label: [`tideflow.workflow=${wf}`] } });
    expect(alive.map((c) => c.Id).sort()).toEqual([...ids].sort());
  });

  it('with no managed containers returns an empty record at once (no sample window)', async () => {
    const wf = newWorkflow();
    const r = await di().resolve(AnalyzerPlugin).run(undefined, ctx(wf, analyzerConfig({ sampleWindow: '5s' })));
    expect(r.containers).toEqual([]);
    expect(r.durationMs).toBeLessThan(2000);
  });

  it('keeps each run\'s state to itself: two concurrent runs on one instance see their own meminfo file and timings', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-analyzer-meminfo-'));
    try {
      const meminfo = (totalKb: number) => `MemTotal: ${totalKb} kB\nMemFree: ${totalKb / 4} kB\nMemAvailable: ${totalKb / 2} kB\n`;
      writeFileSync(path.join(dir, 'a'), meminfo(4_000_000));
      writeFileSync(path.join(dir, 'b'), meminfo(8_000_000));
      const withContainer = newWorkflow();
      await spawn(withContainer, 1, { name: 'tideflow/sleeper', class: 'low' });
      const analyzer = di().resolve(AnalyzerPlugin);
      const [a, b] = await Promise.all([
        analyzer.analyze(ctx(withContainer, analyzerConfig({ meminfoPath: path.join(dir, 'a'), sampleWindow: '300ms' }))),
        analyzer.analyze(ctx(newWorkflow(), analyzerConfig({ meminfoPath: path.join(dir, 'b'), sampleWindow: '5s' }))),
      ]);
      expect(a.result.hostMemory).toEqual({ totalBytes: 4_000_000 * 1024, freeBytes: 1_000_000 * 1024, availableBytes: 2_000_000 * 1024, usedBytes: 2_000_000 * 1024 });
      expect(b.result.hostMemory.totalBytes).toBe(8_000_000 * 1024);
      expect(a.result.containers).toHaveLength(1);
      expect(b.result.containers).toEqual([]);
      // The run that sampled waited its own window; the one without containers sampled nothing.
      expect(a.timings.windowMs).toBe(300);
      expect(b.timings.windowMs).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stopped engine gives a clear, retryable error', async () => {
    const wf = newWorkflow();
    const dead = new Docker({ socketPath: `/tmp/tf-no-docker-${randomUUID().slice(0, 8)}.sock` });
    const err = await di(dead).resolve(AnalyzerPlugin).run(undefined, ctx(wf, analyzerConfig({}))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isNonRetryable(err)).toBe(false);
    expect((err as Error).message).toMatch(/^Docker engine not reachable at unix:\/\/.*is dockerd running\?/);
  });

  it('an explicitly chosen source that cannot work is a non-retryable config error', async () => {
    const err = await selectMetricSource('kernel', { docker }).catch((e: unknown) => e);
    expect(isNonRetryable(err)).toBe(true);
    const err2 = await selectMetricSource('cgroup', { docker, cgroupRoot: '/nonexistent' }).catch((e: unknown) => e);
    expect(isNonRetryable(err2)).toBe(true);
  });
});
