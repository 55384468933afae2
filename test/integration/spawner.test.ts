import { describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import type { PluginContext } from '../../core/plugin/plugin.js';
import { randomUUID, testDocker, testRunLabel } from '../support/docker.js';
import { useContainerFixtures } from '../support/container-fixtures.js';
import SpawnerPluginDefault, { SpawnerPlugin } from '../../plugins/spawner/index.js';
import { spawnerConfig, type SpawnerConfig } from '../../plugins/spawner/spawner-config.js';
import { WORKLOAD_IMAGES } from '../../plugins/spawner/images/workload-images.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const docker = testDocker();
const mark = testRunLabel();
const workflows = new Set<string>();

function resolveSpawner(d: Docker = docker, env: NodeJS.ProcessEnv = {}): SpawnerPlugin {
  return createContainer({ config: loadEngineConfig({}, env), logger: silentLogger(), extra: [[SharedTokens.Docker, d]] }).resolve(SpawnerPlugin);
}

function newWorkflow(): string {
  const wf = `t-spawn-${randomUUID().slice(0, 8)}`;
  workflows.add(wf);
  return wf;
}

function ctx(workflow: string, config: Partial<SpawnerConfig>, runId = randomUUID(), attempt = 1): PluginContext<SpawnerConfig> {
  return {
    config: spawnerConfig({ ...config, labels: { [mark.key]: mark.value, ...(config.labels ?? {}) } }),
    runId,
    workflow,
    job: 'spawn',
    trigger: 'manual',
    attempt,
    signal: new AbortController().signal,
    log: silentLogger(),
  };
}

async function byRun(runId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`tideflow.run=${runId}`] } });
}

useContainerFixtures(docker, workflows, mark);

describe('spawner plugin (real Docker)', () => {
  it('is the default export and resolves through the DI container', () => {
    expect(SpawnerPluginDefault).toBe(SpawnerPlugin);
    expect(resolveSpawner()).toBeInstanceOf(SpawnerPlugin);
    expect(SpawnerPlugin.manifest.name).toBe('spawner');
  });

  it('accepts the built-in workflow config', async () => {
    const { readFile } = await import('node:fs/promises');
    const wf = JSON.parse(await readFile('workflows/container-lifecycle.json', 'utf8'));
    const cfg = spawnerConfig(wf.jobs.spawn.config);
    expect(cfg.count).toBe(10);
    expect(cfg.maxManaged).toBe(50);
  });

  it('spawns 10 running containers with the right labels, limits, name and no network', async () => {
    const wf = newWorkflow();
    const c = ctx(wf, {});
    const r = await resolveSpawner().run(undefined, c);
    expect(r.kind).toBe('spawn');
    expect(r.created).toHaveLength(10);
    expect(r.skipped).toBeNull();
    expect(r.runId).toBe(c.runId);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);

    const slots = new Set<string>();
    await Promise.all(
      r.created.map(async (sc) => {
        const info = await docker.getContainer(sc.id).inspect();
        const w = WORKLOAD_IMAGES.find((x) => `tideflow/${x.short}` === sc.image)!;
        expect(w, sc.image).toBeDefined();
        expect(info.State.Running).toBe(true);
        expect(info.Config.Labels).toMatchObject({
          'tideflow.managed': 'true',
          'tideflow.workflow': wf,
          'tideflow.class': w.class,
          'tideflow.run': c.runId,
        });
        expect(sc.class).toBe(w.class);
        slots.add(info.Config.Labels['tideflow.slot']!);
        expect(info.Name).toBe(`/${sc.name}`);
        expect(sc.name).toMatch(new RegExp(`^tf-${wf}-${w.class}-[0-9a-f]{8}-\\d+$`));
        expect(info.HostConfig.NetworkMode).toBe('none');
        // The CPU limit as CFS period + quota (cpuLimit): the image's cpus on average, at least 50 ms per period.
        expect(info.HostConfig.CpuQuota! / info.HostConfig.CpuPeriod!).toBeCloseTo(w.cpus, 6);
        expect(info.HostConfig.CpuQuota).toBeGreaterThanOrEqual(50_000);
        expect(info.HostConfig.NanoCpus ?? 0).toBe(0);
        expect(info.HostConfig.Memory).toBe(parseInt(w.memory) * 1024 * 1024);
        expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
        expect(info.HostConfig.AutoRemove).toBe(true);
      }),
    );
    expect(slots.size).toBe(10);
    expect((await byRun(c.runId)).length).toBe(10);
  });

  it('applies per-image cmd, cpus and memory from the workflow', async () => {
    const wf = newWorkflow();
    const r = await resolveSpawner().run(undefined, ctx(wf, { count: 2, images: [{ name: 'tideflow/sleeper', class: 'high', cmd: ['sleep', '300'], cpus: 0.25, memory: '24m' }] }));
    for (const sc of r.created) {
      const info = await docker.getContainer(sc.id).inspect();
      expect(info.Config.Cmd).toEqual(['sleep', '300']);
      expect(info.HostConfig).toMatchObject({ CpuPeriod: 200_000, CpuQuota: 50_000 });
      expect(info.HostConfig.Memory).toBe(24 * 1024 * 1024);
      expect(info.Config.Labels['tideflow.class']).toBe('high');
    }
  });

  it('never exceeds maxManaged and reports what it skipped', async () => {
    const wf = newWorkflow();
    const p = resolveSpawner();
    const img = [{ name: 'tideflow/sleeper', class: 'low' as const }];
    const first = await p.run(undefined, ctx(wf, { count: 3, maxManaged: 4, images: img }));
    expect(first.created).toHaveLength(3);
    const second = await p.run(undefined, ctx(wf, { count: 3, maxManaged: 4, images: img }));
    expect(second.created).toHaveLength(1);
    expect(second.skipped).toMatchObject({ count: 2 });
    expect(second.skipped!.reason).toMatch(/maxManaged/);
    const all = await docker.listContainers({ filters: { label: ['tideflow.managed=true', `tideflow.workflow=${wf}`] } });
    expect(all).toHaveLength(4);
  });

  it('a retry of a half-done run creates only the missing containers', async () => {
    const wf = newWorkflow();
    const runId = randomUUID();
    const p = resolveSpawner();
    const cfg = { count: 5, images: [{ name: 'tideflow/sleeper', class: 'low' as const }, { name: 'tideflow/ticker', class: 'low' as const }] };
    const first = await p.run(undefined, ctx(wf, cfg, runId, 1));
    expect(first.created).toHaveLength(5);
    // Simulate the first attempt dying half-way: two containers never got made, one was created but not started.
    const [gone1, gone2, notStarted] = first.created;
    await docker.getContainer(gone1!.id).remove({ force: true });
    await docker.getContainer(gone2!.id).remove({ force: true });
    const ns = await docker.getContainer(notStarted!.id).inspect();
    await docker.getContainer(notStarted!.id).remove({ force: true });
    const recreated = await docker.createContainer({
      name: ns.Name.slice(1),
      Image: ns.Config.Image,
      Labels: ns.Config.Labels,
      HostConfig: { NetworkMode: 'none', Memory: 16 * 1024 * 1024 },
    });
    const survivors = first.created.slice(3).map((s) => s.id);

    const retry = await p.run(undefined, ctx(wf, cfg, runId, 2));
    const list = await byRun(runId);
    expect(list).toHaveLength(5);
    expect(list.every((c) => c.State === 'running')).toBe(true);
    expect(new Set(list.map((c) => c.Labels['tideflow.slot']))).toEqual(new Set(['0', '1', '2', '3', '4']));
    const ids = retry.created.map((c) => c.id);
    expect(ids).toHaveLength(5);
    for (const id of [...survivors, recreated.id]) expect(ids).toContain(id);
    // The two recreated slots keep their deterministic names (same image per slot).
    expect(retry.created.map((c) => c.name).sort()).toEqual(first.created.map((c) => c.name).sort());

    // A third attempt finds everything and creates nothing.
    const third = await p.run(undefined, ctx(wf, cfg, runId, 3));
    expect(third.created.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(await byRun(runId)).toHaveLength(5);
  });

  it('a missing non-workload image is a non-retryable error', async () => {
    const wf = newWorkflow();
    const err = await resolveSpawner()
      .run(undefined, ctx(wf, { count: 1, images: [{ name: `tftest/nothing-${randomUUID().slice(0, 6)}`, class: 'low' }] }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isNonRetryable(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/not found locally/);
  });

  it.each([
    ['a unix socket where nothing listens', () => new Docker({ socketPath: `/tmp/tf-no-docker-${randomUUID().slice(0, 8)}.sock` })],
    ['a closed loopback port', () => new Docker({ host: '127.0.0.1', port: 1, protocol: 'http' })],
  ])('a stopped engine (%s) gives a clear, retryable error', async (_what, make) => {
    const wf = newWorkflow();
    const err = await resolveSpawner(make()).run(undefined, ctx(wf, { count: 2 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isNonRetryable(err)).toBe(false);
    expect((err as Error).message).toMatch(/^Docker engine not reachable at (unix|tcp):\/\/.*is dockerd running\?$/);
    // The runner says whether it retries (the attempts may be used up): the plugin's error promises nothing.
    expect((err as Error).message).not.toMatch(/retried/);
  });

  it('shutdown removes the workflows\' managed containers unless TIDEFLOW_KEEP_CONTAINERS (--keep-containers), never protected ones', async () => {
    const wf = newWorkflow();
    const p = resolveSpawner();
    await p.run(undefined, ctx(wf, { count: 2, images: [{ name: 'tideflow/sleeper', class: 'low' }] }));
    const prot = await docker.createContainer({
      Image: 'tideflow/sleeper',
      Labels: { 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.protected': 'true', [mark.key]: mark.value },
      HostConfig: { NetworkMode: 'none', Memory: 16 * 1024 * 1024 },
    });
    const jobs = [{ workflow: wf, job: 'spawn', config: spawnerConfig({}) }];
    await resolveSpawner(docker, { TIDEFLOW_KEEP_CONTAINERS: '1' }).shutdown({ jobs, log: silentLogger() });
    expect(await docker.listContainers({ all: true, filters: { label: [`tideflow.workflow=${wf}`] } })).toHaveLength(3);
    await p.shutdown({ jobs, log: silentLogger() });
    const left = await docker.listContainers({ all: true, filters: { label: [`tideflow.workflow=${wf}`] } });
    expect(left.map((c) => c.Id)).toEqual([prot.id]);
  });
});
