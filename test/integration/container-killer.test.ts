import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { silentLogger } from '../../core/logging/logger.js';
import { isNonRetryable } from '../../core/plugin/errors.js';
import type { PluginContext } from '../../core/plugin/plugin.js';
import { randomUUID, removeLabelled, startSleeper, testDocker, testRunLabel } from '../support/docker.js';
import { pollUntil } from '../support/poll.js';
import { sigkillPendingIn } from '../support/proc-signals.js';
import { AnalyzerPlugin } from '../../plugins/analyzer/analyzer-plugin.js';
import { analyzerConfig } from '../../plugins/analyzer/analyzer-config.js';
import { inspectAhead, killContainers, type KillTarget } from '../../plugins/analyzer/container-killer.js';
import { DEFAULT_CGROUP_ROOT, detectCgroupLayout, findContainerProcsDir } from '../../plugins/analyzer/metrics/cgroup-paths.js';
import { SpawnerPlugin } from '../../plugins/spawner/spawner-plugin.js';
import { spawnerConfig } from '../../plugins/spawner/spawner-config.js';
import { buildWorkloadImages } from '../../plugins/spawner/images/workload-images.js';
import { removeManagedContainers } from '../../plugins/spawner/managed-containers.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const docker = testDocker();
const workflows = new Set<string>();
const marks: Array<{ key: string; value: string }> = [];

// The analyzer takes its kill claims in Redis (kill-claims.ts).
const claimRedis = testRedis();
const claimPrefix = uniquePrefix('kill-claims');
afterAll(async () => {
  await deletePrefix(claimRedis, claimPrefix);
  await claimRedis.quit();
});

function di() {
  return createContainer({ config: loadEngineConfig({ queuePrefix: claimPrefix }), logger: silentLogger(), redis: claimRedis, extra: [[SharedTokens.Docker, docker]] });
}

/** A fresh workflow name and container label for one test. */
function fresh(): { wf: string; mark: { key: string; value: string } } {
  const wf = `t-kill-${randomUUID().slice(0, 8)}`;
  workflows.add(wf);
  const mark = testRunLabel();
  marks.push(mark);
  return { wf, mark };
}

function ctx<C>(workflow: string, config: C, job = 'analyze'): PluginContext<C> {
  return { config, runId: randomUUID(), workflow, job, trigger: 'manual', attempt: 1, signal: new AbortController().signal, log: silentLogger() };
}

/** `count` sleepers of class `cls` through the real spawner (AutoRemove containers). */
async function spawn(wf: string, mark: { key: string; value: string }, count: number, cls: 'high' | 'low' = 'low'): Promise<string[]> {
  const cfg = spawnerConfig({ count, images: [{ name: 'tideflow/sleeper', class: cls }], maxManaged: 100, labels: { [mark.key]: mark.value } });
  const r = await di().resolve(SpawnerPlugin).run(undefined, ctx(wf, cfg, 'spawn'));
  return r.created.map((c) => c.id);
}

const raw = (mark: { key: string; value: string }, labels: Record<string, string>) => startSleeper(docker, mark, labels);

async function labelsOf(id: string): Promise<Record<string, string>> {
  return (await docker.getContainer(id).inspect()).Config.Labels ?? {};
}

async function targets(ids: string[]): Promise<KillTarget[]> {
  return Promise.all(ids.map(async (id) => ({ id, labels: await labelsOf(id) })));
}

/** The PIDs in the container's cgroup (null when its cgroup is gone). */
async function procs(id: string): Promise<number[] | null> {
  const layout = (await detectCgroupLayout(DEFAULT_CGROUP_ROOT))!;
  const dir = await findContainerProcsDir(DEFAULT_CGROUP_ROOT, layout, id);
  if (!dir) return null;
  try {
    return (await readFile(`${dir}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).map(Number);
  } catch {
    return null;
  }
}


const listAll = (mark: { key: string; value: string }) => docker.listContainers({ all: true, filters: { label: [`${mark.key}=${mark.value}`] } });

beforeAll(async () => {
  await buildWorkloadImages(docker);
});

afterEach(async () => {
  for (const wf of workflows) await removeManagedContainers(docker, { workflow: wf, includeProtected: true });
  for (const m of marks) await removeLabelled(docker, m.key, m.value);
});

afterAll(async () => {
  for (const m of marks) await removeLabelled(docker, m.key, m.value);
});

describe('container killer (real Docker)', () => {
  it('the cgroup path kills managed containers at once, and Docker removes them (AutoRemove)', async () => {
    const { wf, mark } = fresh();
    const ids = await spawn(wf, mark, 3);
    const [a, b, keep] = ids as [string, string, string];
    expect((await procs(a))!.length).toBeGreaterThan(0);

    const t = performance.now();
    const report = await killContainers(docker, await targets([a, b]), { workflow: wf, parallelism: 4 });
    const ms = performance.now() - t;
    expect(report.outcomes.get(a)).toEqual({ ok: true, method: 'cgroup' });
    expect(report.outcomes.get(b)).toEqual({ ok: true, method: 'cgroup' });
    expect(report.byMethod).toEqual({ cgroup: 2, docker: 0 });
    expect(report.removeMs).toBe(0);
    expect(ms).toBeLessThan(2000);
    // When the killer returns, none of their processes can run user code again, and each then dies.
    await expectKilled([a, b]);
    // Docker notices the exits and removes the containers by itself.
    const list = await pollUntil(() => listAll(mark), (l) => l.length === 1, 15_000);
    expect(list.map((c) => c.Id)).toEqual([keep]);
    expect(list[0]!.State).toBe('running');
    expect((await procs(keep))!.length).toBeGreaterThan(0);
  });

  it('a container already gone counts as done', async () => {
    const { wf, mark } = fresh();
    const [a] = await spawn(wf, mark, 1);
    const tg = await targets([a!]);
    await docker.getContainer(a!).remove({ force: true });
    const report = await killContainers(docker, tg, { workflow: wf, parallelism: 4 });
    expect(report.outcomes.get(a!)).toMatchObject({ ok: true, alreadyGone: true });
  });

  it('a cgroup-killed container that is not AutoRemove is removed through the API in the same call', async () => {
    const { wf, mark } = fresh();
    const old = await raw(mark, { 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.class': 'low' });
    const report = await killContainers(docker, await targets([old]), { workflow: wf, parallelism: 4 });
    expect(report.outcomes.get(old)).toEqual({ ok: true, method: 'cgroup' });
    expect(report.removeMs).toBeGreaterThan(0);
    expect(await listAll(mark)).toHaveLength(0);
  });

  it('protected, unmanaged and other-workflow containers are refused and never signalled, whatever the method', async () => {
    const { wf, mark } = fresh();
    const prot = await raw(mark, { 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.protected': 'true' });
    const unmanaged = await raw(mark, { 'tideflow.workflow': wf });
    const foreign = await raw(mark, { 'tideflow.managed': 'true', 'tideflow.workflow': `${wf}-other` });
    const before = new Map(await Promise.all([prot, unmanaged, foreign].map(async (id) => [id, await procs(id)] as const)));
    for (const method of ['auto', 'cgroup', 'docker'] as const) {
      const report = await killContainers(docker, await targets([prot, unmanaged, foreign]), { workflow: wf, parallelism: 4, method });
      expect(report.outcomes.get(prot)!.error).toBe('refused to kill: protected');
      expect(report.outcomes.get(unmanaged)!.error).toBe('refused to kill: not managed by tideflow');
      expect(report.outcomes.get(foreign)!.error).toMatch(/^refused to kill: belongs to workflow/);
      expect(report.byMethod).toEqual({ cgroup: 0, docker: 0 });
    }
    const list = await listAll(mark);
    expect(list).toHaveLength(3);
    expect(list.every((c) => c.State === 'running')).toBe(true);
    // Every process seen before is still there (a workload may have forked one more since: that is not a signal).
    for (const [id, pids] of before) {
      expect(pids?.length).toBeGreaterThan(0);
      expect(await procs(id)).toEqual(expect.arrayContaining(pids!));
    }
  });

  it('killMethod "docker" keeps the old path: remove({force:true}), gone when the run returns', async () => {
    const { wf, mark } = fresh();
    await spawn(wf, mark, 6, 'low');
    const analyzer = di().resolve(AnalyzerPlugin);
    const { result: r, timings } = await analyzer.analyze(ctx(wf, analyzerConfig({ killMethod: 'docker', sampleWindow: '200ms' })));
    const killed = r.containers.filter((c) => c.decision === 'killed');
    expect(killed).toHaveLength(3);
    expect(timings.killedVia).toEqual({ cgroup: 0, docker: 3 });
    const left = await listAll(mark);
    expect(left).toHaveLength(3);
    for (const c of killed) expect(left.map((l) => l.Id)).not.toContain(c.id);
  });

  it('the analyzer defaults to the cgroup path; without a cgroup hierarchy auto falls back to Docker, and "cgroup" is a config error', async () => {
    const { wf, mark } = fresh();
    await spawn(wf, mark, 5, 'low');
    await spawn(wf, mark, 3, 'high');
    const analyzer = di().resolve(AnalyzerPlugin);
    const { result: r, timings } = await analyzer.analyze(ctx(wf, analyzerConfig({ sampleWindow: '200ms', keep: { high: 2, low: 4 } })));
    expect(r.containers.filter((c) => c.decision === 'killed')).toHaveLength(2);
    expect(timings.killedVia).toEqual({ cgroup: 2, docker: 0 });
    await pollUntil(() => listAll(mark), (l) => l.length === 6, 15_000);

    const report = await killContainers(docker, await targets([(await listAll(mark))[0]!.Id]), { workflow: wf, parallelism: 4, cgroupRoot: '/nonexistent' });
    const [only] = [...report.outcomes.values()];
    expect(only).toMatchObject({ ok: true, method: 'docker', fallback: 'no usable cgroup hierarchy at /nonexistent' });
    expect(await listAll(mark)).toHaveLength(5);

    const err = await killContainers(docker, await targets([(await listAll(mark))[0]!.Id]), { workflow: wf, parallelism: 4, method: 'cgroup', cgroupRoot: '/nonexistent' }).catch((e: unknown) => e);
    expect(isNonRetryable(err)).toBe(true);
    expect((err as Error).message).toMatch(/killMethod "cgroup"/);
    expect(await listAll(mark)).toHaveLength(5);
  });

  it('30 managed killed in one sweep: a protected, an unlabelled and another workflow\'s container among them are never signalled', async () => {
    const { wf, mark } = fresh();
    const managed = await spawn(wf, mark, 30, 'low');
    const prot = await raw(mark, { 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.class': 'low', 'tideflow.protected': 'true' });
    const unlabelled = await raw(mark, {});
    const foreign = await raw(mark, { 'tideflow.managed': 'true', 'tideflow.workflow': `${wf}-other`, 'tideflow.class': 'low' });
    const spared = [prot, unlabelled, foreign];
    // A sleeper is its shell and, a moment after the start, its `sleep`: wait for both before taking the PIDs.
    const before = new Map(await Promise.all(spared.map(async (id) => [id, await pollUntil(() => procs(id), (p) => (p?.length ?? 0) >= 2, 15_000)] as const)));

    const { result: r, timings } = await di().resolve(AnalyzerPlugin).analyze(ctx(wf, analyzerConfig({ sampleWindow: '300ms', keep: { high: 0, low: 3 } })));
    const killed = r.containers.filter((c) => c.decision === 'killed').map((c) => c.id);
    expect(killed).toHaveLength(27);
    expect(r.containers.filter((c) => c.killError)).toEqual([]);
    expect(timings.killedVia).toEqual({ cgroup: 27, docker: 0 });
    expect(killed.every((id) => managed.includes(id))).toBe(true);
    expect(r.containers.find((c) => c.id === prot)?.decision).toBe('protected');
    expect(r.containers.map((c) => c.id)).not.toContain(unlabelled);
    expect(r.containers.map((c) => c.id)).not.toContain(foreign);
    // When the analyzer returns, none of the killed processes can run user code again, and each then dies.
    await expectKilled(killed);
    // The three are untouched: same processes, still running, once Docker has forgotten the killed ones.
    const left = await pollUntil(() => listAll(mark), (l) => l.length === 6, 60_000);
    for (const id of spared) expect(left.find((c) => c.Id === id)?.State).toBe('running');
    for (const [id, pids] of before) expect(await procs(id)).toEqual(pids);
  });

  it('an inspect taken ahead that went stale (container restarted or removed since) never leads to a wrong signal', async () => {
    const { wf, mark } = fresh();
    const labels = { 'tideflow.managed': 'true', 'tideflow.workflow': wf, 'tideflow.class': 'low' };
    const restarted = await raw(mark, labels);
    const removed = await raw(mark, labels);
    const ahead = inspectAhead(docker, [restarted, removed]);
    const oldPid = ((await ahead.get(restarted)!) as PromiseFulfilledResult<{ State: { Pid: number } }>).value.State.Pid;
    await ahead.get(removed);
    const tg = await targets([restarted, removed]);
    await docker.getContainer(restarted).restart({ t: 0 });
    await docker.getContainer(removed).remove({ force: true });
    expect((await procs(restarted))!).not.toContain(oldPid);

    const report = await killContainers(docker, tg, { workflow: wf, parallelism: 4, inspected: ahead });
    // The init PID Docker gave before the restart is not in the group: nothing signalled, Docker kills it.
    expect(report.outcomes.get(restarted)).toMatchObject({ ok: true, method: 'docker', fallback: expect.stringMatching(/init PID .* not in/) });
    expect(report.outcomes.get(removed)).toMatchObject({ ok: true, alreadyGone: true });
    expect(await listAll(mark)).toHaveLength(0);
  });
});

/**
 * Asserts that no process of these containers can run user code again: each
 * is gone, a zombie, exiting (PF_EXITING), or runnable / sleeping with its
 * SIGKILL pending (woken for it, it dies when next scheduled); then that
 * every one of them does die, with no one asking again. A process read in
 * the microseconds between taking its SIGKILL and marking itself exiting
 * shows none of these: it is read again, and is exiting or gone within the
 * second (a process never signalled stays alive and fails this).
 */
async function expectKilled(ids: string[]): Promise<void> {
  const fate = async (pid: number): Promise<string> => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (stat === undefined || status === undefined) return 'gone';
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || (Number(f[6]) & 4) !== 0 || ((f[0] === 'R' || f[0] === 'S') && sigkillPendingIn(status))) return 'killed';
    return `${f[0]}, flags ${f[6]}, ${status.match(/^(SigPnd|ShdPnd):.*$/gm)?.join(' ')}`;
  };
  const pids: number[] = [];
  for (const id of ids) {
    for (const pid of (await procs(id)) ?? []) {
      const seen = await pollUntil(() => fate(pid), (f) => f === 'gone' || f === 'killed', 1000, 20);
      expect(seen === 'gone' || seen === 'killed', `pid ${pid} of ${id.slice(0, 12)}: ${seen}`).toBe(true);
      pids.push(pid);
    }
  }
  const stateOf = (pid: number) => readFile(`/proc/${pid}/stat`, 'utf8').then((st) => st[st.lastIndexOf(')') + 2]!, () => 'gone');
  const stillRunning = async () => (await Promise.all(pids.map(stateOf))).filter((st) => st !== 'gone' && st !== 'Z');
  expect(await pollUntil(stillRunning, (alive) => alive.length === 0, 30_000)).toEqual([]);
}
