import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createContainer } from '../../core/di/container.js';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { silentLogger } from '../../core/logging/logger.js';
import type { PluginContext } from '../../core/plugin/plugin.js';
import { randomUUID, testDocker, testRunLabel } from '../support/docker.js';
import { useContainerFixtures } from '../support/container-fixtures.js';
import { deletePrefix, testRedis, uniquePrefix } from '../support/redis.js';
import { AnalyzerPlugin } from '../../plugins/analyzer/analyzer-plugin.js';
import { analyzerConfig } from '../../plugins/analyzer/analyzer-config.js';
import { KillClaims } from '../../plugins/analyzer/kill-claims.js';
import { EngineKeys } from '../../core/redis/engine-keys.js';
import { SpawnerPlugin } from '../../plugins/spawner/spawner-plugin.js';
import { spawnerConfig } from '../../plugins/spawner/spawner-config.js';
import { SharedTokens } from '../../plugins/shared/tokens.js';

const docker = testDocker();
const mark = testRunLabel();
const workflows = new Set<string>();
const prefix = uniquePrefix('kill-once');
/** The keys the analyzer's claims use (its plugin name is `analyzer`). */
const analyzerKeys = new EngineKeys(prefix).plugin('analyzer');
const connections: Redis[] = [];

/** One DI container per simulated process: its own Redis connection, the same key prefix. */
function processDi() {
  const redis = testRedis();
  connections.push(redis);
  return createContainer({ config: loadEngineConfig({ queuePrefix: prefix }), logger: silentLogger(), redis, extra: [[SharedTokens.Docker, docker]] });
}

function ctx<C>(workflow: string, config: C, runId: string = randomUUID(), job = 'analyze'): PluginContext<C> {
  return { config, runId, workflow, job, trigger: 'manual', attempt: 1, signal: new AbortController().signal, log: silentLogger() };
}

function newWorkflow(): string {
  const wf = `t-kill-once-${randomUUID().slice(0, 8)}`;
  workflows.add(wf);
  return wf;
}

async function spawn(wf: string, count: number, cls: 'high' | 'low'): Promise<string[]> {
  const cfg = spawnerConfig({ count, images: [{ name: 'tideflow/sleeper', class: cls }], maxManaged: 100, labels: { [mark.key]: mark.value } });
  const r = await processDi().resolve(SpawnerPlugin).run(undefined, ctx(wf, cfg, randomUUID(), 'spawn'));
  return r.created.map((c) => c.id);
}

const killedIds = (r: { containers: Array<{ id: string; decision: string }> }) => r.containers.filter((c) => c.decision === 'killed').map((c) => c.id);
const cfg = analyzerConfig({ keep: { high: 2, low: 3 }, sampleWindow: '200ms' });

useContainerFixtures(docker, workflows, mark);
afterAll(async () => {
  const r = testRedis();
  await deletePrefix(r, prefix);
  await r.quit();
  await Promise.all(connections.map((c) => c.quit()));
});

describe('each container is killed and reported once (kill claims in Redis)', () => {
  it('concurrent analyses in separate "processes" split the surplus: each container killed by exactly one, the keep counts respected', async () => {
    const wf = newWorkflow();
    await spawn(wf, 6, 'high');
    await spawn(wf, 8, 'low');
    const analyzers = Array.from({ length: 4 }, () => processDi().resolve(AnalyzerPlugin));
    const results = await Promise.all(analyzers.map((a) => a.run(undefined, ctx(wf, cfg))));

    const all = results.flatMap(killedIds);
    expect(new Set(all).size).toBe(all.length);
    // 14 running, 2 high + 3 low kept: 9 surplus, killed once between them, never more.
    expect(all).toHaveLength(9);
    for (const r of results) expect(r.containers.every((c) => !c.killError)).toBe(true);
    const left = await docker.listContainers({ all: true, filters: { label: [`tideflow.workflow=${wf}`] } });
    const alive = left.filter((c) => !all.includes(c.Id));
    expect(alive).toHaveLength(5);
  });

  it('a container claimed by another run is not killed, not counted as alive and not reported, even while Docker still lists it running', async () => {
    const wf = newWorkflow();
    const lows = await spawn(wf, 6, 'low');
    // Another run holds the claim on two running containers (as right after its kill, before Docker forgets them).
    const ghosts = lows.slice(0, 2);
    const other = new KillClaims(connections[0]!, analyzerKeys, 60_000);
    expect(await other.claim(ghosts, ghosts, 'some-other-run')).toEqual({ claimed: true });

    const analyzer = processDi().resolve(AnalyzerPlugin);
    const { result: r, timings } = await analyzer.analyze(ctx(wf, cfg));
    expect(r.containers.map((c) => c.id)).not.toContain(ghosts[0]);
    expect(r.containers.map((c) => c.id)).not.toContain(ghosts[1]);
    // 4 not claimed elsewhere, keep 3 low: exactly one kill, and not a ghost.
    expect(killedIds(r)).toHaveLength(1);
    expect(ghosts).not.toContain(killedIds(r)[0]);
    expect(timings.claimedElsewhere).toBe(2);
    for (const g of ghosts) expect((await docker.getContainer(g).inspect()).State.Running).toBe(true);
  });

  it('the next analysis right after a kill neither kills nor reports the killed containers again', async () => {
    const wf = newWorkflow();
    await spawn(wf, 10, 'low');
    const first = await processDi().resolve(AnalyzerPlugin).run(undefined, ctx(wf, cfg));
    const second = await processDi().resolve(AnalyzerPlugin).run(undefined, ctx(wf, cfg));
    expect(killedIds(first)).toHaveLength(7);
    expect(killedIds(second)).toEqual([]);
    for (const id of killedIds(first)) expect(second.containers.map((c) => c.id)).not.toContain(id);
  });

  it('a retried attempt of the same run keeps its own claims; a failed kill gives its claim back', async () => {
    const wf = newWorkflow();
    const [a, b] = await spawn(wf, 2, 'low');
    const claims = new KillClaims(connections[0]!, analyzerKeys, 60_000);
    expect(await claims.claim([a!, b!], [a!], 'run-1')).toEqual({ claimed: true });
    // Same owner again (a retry): fine. Another owner: refused, told which container is held.
    expect(await claims.claim([a!, b!], [a!, b!], 'run-1')).toEqual({ claimed: true });
    expect(await claims.claim([a!, b!], [b!], 'run-2')).toEqual({ claimed: false, heldByOthers: [a!, b!] });
    expect([...(await claims.heldByOthers([a!, b!], 'run-2'))].sort()).toEqual([a!, b!].sort());
    await claims.release([a!], 'run-2');
    expect((await claims.heldByOthers([a!], 'run-2')).size).toBe(1);
    await claims.release([a!], 'run-1');
    expect((await claims.heldByOthers([a!, b!], 'run-2'))).toEqual(new Set([b!]));
  });
});
