import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { RunRecord } from '../../../core/history/run-record.js';
import { EngineKeys } from '../../../core/redis/engine-keys.js';
import { createDockerClient } from '../../../plugins/shared/containers/docker-engine.js';
import { listManagedContainers } from '../../../plugins/shared/containers/container-labels.js';
import { openRecordStore } from '../../../plugins/shared/store/sqlite-record-store.js';
import type { StoredRecord } from '../../../plugins/shared/store/record-store.js';
import { readEngineInfo } from '../../../core/engine/engine-info.js';

/** The admin token every fault scenario's engine uses (long enough to be accepted). */
export const FAULT_TOKEN = 'faults-admin-token-0123456789abcdef';

export const docker = createDockerClient(process.env.DOCKER_HOST);

export interface FaultWorkflow {
  /** Unique per test: other helpers' tests share the Docker engine. */
  name: string;
  workflowsDir: string;
  dataDir: string;
  spawnEveryMs: number;
  analyzeEveryMs: number;
}

/**
 * The built-in container-lifecycle workflow at accelerated intervals
 * (spawn every 5 s, analyze every 2 s), under a unique name, with a fresh
 * workflows folder and data dir under data/faults/.
 */
export function faultWorkflow(tag: string, opts: { spawnEverySec?: number; analyzeEverySec?: number; count?: number } = {}): FaultWorkflow {
  const name = `faults-${tag}-${randomUUID().slice(0, 8)}`;
  const root = path.resolve('data/faults', name);
  rmSync(root, { recursive: true, force: true });
  const workflowsDir = path.join(root, 'workflows');
  const dataDir = path.join(root, 'data');
  mkdirSync(workflowsDir, { recursive: true });
  const spawnEverySec = opts.spawnEverySec ?? 5;
  const analyzeEverySec = opts.analyzeEverySec ?? 2;
  const workflow = {
    name,
    description: `fault scenario ${tag}: the built-in workflow, accelerated`,
    jobs: {
      spawn: {
        plugin: 'spawner',
        every: `${spawnEverySec}s`,
        config: { count: opts.count ?? 4 },
        retry: { attempts: 3, backoff: 'exponential', delay: '1s' },
        timeout: '30s',
        then: ['log'],
      },
      analyze: {
        plugin: 'analyzer',
        every: `${analyzeEverySec}s`,
        config: { keep: { high: 2, low: 3 } },
        retry: { attempts: 2, backoff: 'fixed', delay: '1s' },
        timeout: '9s',
        then: ['log'],
      },
      log: { plugin: 'logger', retry: { attempts: 5, backoff: 'exponential', delay: '500ms' } },
      chart: { plugin: 'charts', every: '1h', timeout: '30s' },
    },
  };
  writeFileSync(path.join(workflowsDir, `${name}.json`), JSON.stringify(workflow, null, 2));
  return { name, workflowsDir, dataDir, spawnEveryMs: spawnEverySec * 1000, analyzeEveryMs: analyzeEverySec * 1000 };
}

/** `tideflow start` arguments for a fault workflow. */
export function startArgs(wf: FaultWorkflow, extra: string[] = []): string[] {
  return ['start', '--workflows', wf.workflowsDir, '--data-dir', wf.dataDir, '--port', '0', ...extra];
}

export function apiUrl(wf: FaultWorkflow): string {
  const url = readEngineInfo(wf.dataDir)?.apiUrl;
  if (!url) throw new Error(`no engine info in ${wf.dataDir}`);
  return url;
}

export interface HealthAnswer {
  status: number;
  ms: number;
  checks: Record<string, { status: string; reason?: string }>;
}

/** GET /api/health; a request that takes over `timeoutMs` is an answer of status 0. */
export async function getHealth(url: string, timeoutMs = 3_000): Promise<HealthAnswer> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${url}/api/health`, { headers: { authorization: `Bearer ${FAULT_TOKEN}` }, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { checks: HealthAnswer['checks'] };
    return { status: res.status, ms: Math.round(performance.now() - t0), checks: body.checks };
  } catch {
    return { status: 0, ms: Math.round(performance.now() - t0), checks: {} };
  }
}

/** Every run record in the history (newest first). */
export async function readRuns(redis: Redis, prefix = 'tideflow'): Promise<RunRecord[]> {
  const keys = new EngineKeys(prefix);
  const ids = await redis.zrevrange(keys.runs, 0, -1);
  if (!ids.length) return [];
  const values = await redis.hmget(keys.runRecords, ...ids);
  return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as RunRecord);
}

/** Every stored record of the workflow (the SQLite store is safe to read while an engine writes it). */
export async function storedRecords(wf: FaultWorkflow): Promise<StoredRecord[]> {
  const store = openRecordStore(wf.dataDir);
  try {
    const out: StoredRecord[] = [];
    for await (const r of store.exportLogs({})) if (r.workflow === wf.name) out.push(r);
    return out;
  } finally {
    await store.close();
  }
}

/** Container ids recorded more than once as `kind`. */
export function recordedTwice(records: StoredRecord[], kind: 'spawned' | 'killed'): string[] {
  const seen = new Map<string, number>();
  for (const r of records) if (r.kind === kind && r.containerId) seen.set(r.containerId, (seen.get(r.containerId) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
}

export async function managedContainerIds(wf: FaultWorkflow): Promise<string[]> {
  return (await listManagedContainers(docker, { workflow: wf.name })).map((c) => c.Id);
}

/** Removes what a failed scenario left (only this workflow's containers). */
export async function removeWorkflowContainers(wf: FaultWorkflow): Promise<void> {
  for (const id of await managedContainerIds(wf)) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
}
