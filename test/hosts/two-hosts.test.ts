import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorkloadImages } from '../../plugins/spawner/images/workload-images.js';
import { killGroup, type OwnProcess } from '../faults/support/fault-processes.js';
import { waitFor } from '../support/test-engine.js';
import { HostDocker } from './support/host-docker.js';
import { startPostgresInHost, startRedisInHost, startTideflowInHost } from './support/host-services.js';
import { TestNetwork, type NetHost } from './support/test-network.js';

/**
 * Two hosts on one machine, each a network namespace with its own Docker
 * engine. Host A: Redis, PostgreSQL, the engine (API, schedules, route
 * host-a). Host B: a worker serving route host-b, reaching Redis and
 * PostgreSQL over the test network. One container workflow per host.
 */
const TOKEN = 'hosts-test-admin-token-0123456789';
const IMAGES = [
  { name: 'tideflow/cpu-hog', class: 'high' },
  { name: 'tideflow/mem-hog', class: 'high' },
  { name: 'tideflow/sleeper', class: 'low' },
  { name: 'tideflow/ticker', class: 'low' },
];

function fleet(name: string, route: string) {
  return {
    name,
    runsOn: route,
    jobs: {
      spawn: { plugin: 'spawner', every: '5s', config: { count: 3, images: IMAGES }, retry: { attempts: 3, backoff: 'fixed', delay: '1s' }, timeout: '60s', then: ['log'] },
      analyze: { plugin: 'analyzer', every: '2s', config: { keep: { high: 1, low: 1 } }, timeout: '20s', then: ['log'] },
      log: { plugin: 'logger', retry: { attempts: 5, backoff: 'exponential', delay: '500ms' } },
      // Charts are drawn where the API is, from the shared store.
      chart: { plugin: 'charts', every: '5s', runsOn: 'default', timeout: '30s' },
    },
  };
}

interface EngineEvent {
  engine: string;
  action: string;
  id: string;
  workflow?: string;
}

/** Collects create/destroy events of managed containers from one engine. */
async function watchEvents(engine: string, docker: Docker, into: EngineEvent[]): Promise<() => void> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['create', 'destroy'], label: ['tideflow.managed=true'] } })) as NodeJS.ReadableStream & { destroy(): void };
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { Action: string; Actor: { ID: string; Attributes: Record<string, string> } };
      into.push({ engine, action: e.Action, id: e.Actor.ID, workflow: e.Actor.Attributes['tideflow.workflow'] });
    }
  });
  stream.on('error', () => undefined);
  return () => stream.destroy();
}

interface LogRow {
  kind: string;
  source: string;
  workflow: string | null;
  containerId: string | null;
  host?: string | null;
}

interface Run {
  id: string;
  workflow: string;
  job: string;
  status: string;
  host?: string;
}

let net: TestNetwork;
let base: string;
let a: NetHost;
let b: NetHost;
let dockerA: HostDocker;
let dockerB: HostDocker;
const procs: OwnProcess[] = [];
const t0 = Date.now();
/** Progress on long work: each step with its time since the start. */
const step = (m: string) => console.log(`[hosts +${Math.round((Date.now() - t0) / 1000)}s] ${m}`);

beforeAll(async () => {
  TestNetwork.preflight();
  net = new TestNetwork().create();
  base = `/var/tmp/tfhosts-${net.id}`;
  mkdirSync(base, { recursive: true, mode: 0o755 });
  a = net.addHost('a');
  b = net.addHost('b');
  dockerA = new HostDocker(a, `/run/tfh/${net.id}a`, `${base}/docker-a`);
  dockerB = new HostDocker(b, `/run/tfh/${net.id}b`, `${base}/docker-b`);
  await Promise.all([dockerA.start(), dockerB.start()]);
  step('two Docker engines up');
  await Promise.all([buildWorkloadImages(dockerA.docker!), buildWorkloadImages(dockerB.docker!)]);
});

afterAll(async () => {
  for (const p of procs) {
    if (p.child.exitCode === null) console.log(`--- still running: ${p.child.spawnargs.slice(2, 6).join(' ')}\n${p.output().slice(-2500)}`);
    await killGroup(p);
  }
  await dockerA?.destroy();
  await dockerB?.destroy();
  net?.destroy();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('two hosts, one engine', () => {
  it('routes each container workflow to the host whose Docker it drives, shares one PostgreSQL store, and waits for a missing host', async () => {
    const redis = await startRedisInHost(a, `${base}/redis`);
    procs.push(redis.proc);
    const pg = await startPostgresInHost(a, `${base}/pg`);
    procs.push(pg.proc);
    step(`Redis ${redis.url} and PostgreSQL ${pg.url} up on host A`);
    const wfDir = mkdtempSync(path.join(base, 'wf-'));
    writeFileSync(path.join(wfDir, 'fleet-a.json'), JSON.stringify(fleet('fleet-a', 'host-a')));
    writeFileSync(path.join(wfDir, 'fleet-b.json'), JSON.stringify(fleet('fleet-b', 'host-b')));
    const common = { REDIS_URL: redis.url, TIDEFLOW_DATABASE_URL: pg.url, TIDEFLOW_NO_INSTALL: '1' };
    const api = `http://${a.address}:3000`;
    const events: EngineEvent[] = [];
    const unwatch = [await watchEvents('host-a', dockerA.docker!, events), await watchEvents('host-b', dockerB.docker!, events)];

    const engine = startTideflowInHost(a, ['start', '--workflows', wfDir, '--data-dir', `${base}/data-a`, '--host', a.address, '--port', '3000', '--serve', 'host-a'], {
      ...common, DOCKER_HOST: dockerA.dockerHost, TIDEFLOW_HOST_NAME: 'host-a', TIDEFLOW_ADMIN_TOKEN: TOKEN,
    });
    procs.push(engine);
    await engine.waitForOutput(/engine ready/, 120_000);
    step('engine ready on host A');
    const startWorkerB = async () => {
      const w = startTideflowInHost(b, ['worker', '--serve', 'host-b', '--data-dir', `${base}/data-b`], {
        ...common, DOCKER_HOST: dockerB.dockerHost, TIDEFLOW_HOST_NAME: 'host-b',
      });
      procs.push(w);
      await w.waitForOutput(/worker ready/, 120_000);
      return w;
    };
    let workerB = await startWorkerB();
    step('worker ready on host B');

    const get = async <T>(p: string): Promise<T> => {
      const r = await fetch(`${api}${p}`);
      if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
      return (await r.json()) as T;
    };
    const runs = async (q: string) => (await get<{ runs: Run[] }>(`/api/runs?limit=500&${q}`)).runs;
    const succeeded = async (wf: string, job: string) => runs(`workflow=${wf}&job=${job}&status=succeeded`);
    const jobState = async (wf: string, job: string) =>
      (await get<{ jobs: Array<{ job: string; waiting?: string; routeWorkers: number }> }>(`/api/workflows/${wf}`)).jobs.find((j) => j.job === job)!;

    // Both fleets work: spawns, and analyses that kill, on each host.
    await waitFor(async () => {
      const [sa, sb, ka, kb] = await Promise.all([succeeded('fleet-a', 'spawn'), succeeded('fleet-b', 'spawn'), succeeded('fleet-a', 'analyze'), succeeded('fleet-b', 'analyze')]);
      return sa.length >= 3 && sb.length >= 3 && ka.length >= 3 && kb.length >= 3;
    }, 'three spawns and three analyses on each host', 180_000, 500);
    step('both fleets spawned and analysed three times');

    // Host B goes away: its jobs wait and say so; host A's go on.
    const spawnsABefore = (await succeeded('fleet-a', 'spawn')).length;
    workerB.signal('SIGTERM');
    expect((await workerB.exited).code, workerB.output().slice(-3000)).toBe(0);
    const stoppedAt = Date.now();
    step('worker B stopped');
    const waiting = await waitFor(async () => (await jobState('fleet-b', 'spawn')).waiting, 'fleet-b/spawn reported waiting', 30_000, 250);
    expect(waiting).toMatch(/host-b/);
    await waitFor(async () => (await succeeded('fleet-a', 'spawn')).length >= spawnsABefore + 2, 'host A to keep spawning while B is down', 60_000, 500);
    const bRunsWhileDown = (await runs('host=host-b')).filter((r) => r.status === 'running');
    expect(bRunsWhileDown).toEqual([]);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/tideflow_route_workers\{route="host-b"\} 0/);

    // Back again: B's schedule resumes.
    const spawnsBBefore = (await succeeded('fleet-b', 'spawn')).length;
    workerB = await startWorkerB();
    step('worker B started again');
    await waitFor(async () => (await succeeded('fleet-b', 'spawn')).length > spawnsBBefore, 'host B to spawn again after its restart', 180_000, 500);
    expect((await jobState('fleet-b', 'spawn')).waiting).toBeUndefined();
    const downForMs = Date.now() - stoppedAt;
    step('host B spawns again');

    // Let the last chained log runs land, then stop everything the way an operator would.
    workerB.signal('SIGTERM');
    expect((await workerB.exited).code).toBe(0);
    engine.signal('SIGTERM');
    expect((await engine.exited).code, engine.output().slice(-3000)).toBe(0);
    for (const u of unwatch) u();

    // Restart the engine alone to read what was stored (API on host A, PostgreSQL store).
    const reader = startTideflowInHost(a, ['start', '--workflows', mkdtempSync(path.join(base, 'empty-')), '--data-dir', `${base}/data-a2`, '--host', a.address, '--port', '3000'], {
      ...common, DOCKER_HOST: dockerA.dockerHost, TIDEFLOW_HOST_NAME: 'host-a', TIDEFLOW_ADMIN_TOKEN: TOKEN,
    });
    procs.push(reader);
    await reader.waitForOutput(/engine ready/, 120_000);
    step('reading the shared store through the API on host A');
    const rows: LogRow[] = [];
    for (let cursor: string | null = null; ; ) {
      const page: { items: LogRow[]; nextCursor: string | null } = await get(`/api/logs?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      rows.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const allRuns = await runs('');
    reader.signal('SIGTERM');
    await reader.exited;

    const violations: string[] = [];
    const created = (engine: string) => new Set(events.filter((e) => e.engine === engine && e.action === 'create').map((e) => e.id));
    const onA = created('host-a');
    const onB = created('host-b');
    for (const e of events.filter((x) => x.action === 'create')) {
      const want = e.workflow === 'fleet-a' ? 'host-a' : e.workflow === 'fleet-b' ? 'host-b' : undefined;
      if (want !== e.engine) violations.push(`container ${e.id.slice(0, 12)} of ${e.workflow} was created by ${e.engine}'s engine`);
    }
    const byWf = (wf: string, kind: string) => rows.filter((r) => r.workflow === wf && r.kind === kind);
    for (const [wf, ids, host] of [['fleet-a', onA, 'host-a'], ['fleet-b', onB, 'host-b']] as const) {
      for (const kind of ['spawned', 'killed']) {
        for (const r of byWf(wf, kind)) {
          if (!ids.has(r.containerId!)) violations.push(`${wf} ${kind} record of ${r.containerId?.slice(0, 12)} is not a container of ${host}'s engine`);
          if (r.host !== host) violations.push(`${wf} ${kind} record from ${r.source} says host ${String(r.host)}, not ${host}`);
        }
      }
      const kills = byWf(wf, 'killed').map((r) => r.containerId);
      if (new Set(kills).size !== kills.length) violations.push(`${wf}: a container has more than one killed record`);
      const spawns = byWf(wf, 'spawned').map((r) => r.containerId);
      if (new Set(spawns).size !== spawns.length) violations.push(`${wf}: a container has more than one spawned record`);
    }
    for (const r of allRuns) {
      const want = r.job === 'chart' ? 'host-a' : r.workflow === 'fleet-a' ? 'host-a' : 'host-b';
      if (r.host && r.host !== want) violations.push(`run ${r.id} ran on ${r.host}, not ${want}`);
    }
    const ids = allRuns.map((r) => r.id);
    if (new Set(ids).size !== ids.length) violations.push('a run id appears twice in the history');

    const summary = [
      'two-host summary',
      `hosts: host-a ${a.address} (engine, Redis, PostgreSQL, Docker), host-b ${b.address} (worker, Docker); B down ${Math.round(downForMs / 1000)} s`,
      ...['host-a', 'host-b'].map((h) => `${h}: runs ${allRuns.filter((r) => r.host === h).length}, containers created ${created(h).size}, records ${rows.filter((r) => r.host === h).length}`),
      `records: ${rows.length} (spawned ${rows.filter((r) => r.kind === 'spawned').length}, killed ${rows.filter((r) => r.kind === 'killed').length})`,
      `violations: ${violations.length ? violations.slice(0, 20).join('; ') : 'none'}`,
    ].join('\n');
    console.log(summary);
    expect(byWf('fleet-b', 'spawned').length).toBeGreaterThan(0);
    expect(byWf('fleet-a', 'spawned').length).toBeGreaterThan(0);
    expect(byWf('fleet-b', 'killed').length).toBeGreaterThan(0);
    expect(violations).toEqual([]);
  });
});
