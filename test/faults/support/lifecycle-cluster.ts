import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { createDockerClient } from '../../../plugins/shared/containers/docker-engine.js';
import { LABELS } from '../../../plugins/shared/containers/container-labels.js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { RunRecord } from '../../../core/history/run-record.js';
import { ROOT } from '../../support/cli-process.js';
import { killGroup, OwnRedis, startTideflow, type OwnProcess } from './fault-processes.js';

/** Intervals of the accelerated built-in workflow (issue 9: spawn every 5 s, analyze every 1-2 s). */
export const SPAWN_EVERY_MS = 5_000;
export const ANALYZE_EVERY = '1500ms';

export interface StoredLog {
  id: number;
  kind: string;
  time: number;
  source: string;
  containerId?: string;
  class?: string;
}

/**
 * The built-in workflow (workflows/container-lifecycle.json) under a unique
 * name at the fault suite's accelerated intervals, run by one engine and
 * `workers` `tideflow worker` processes on the test's own redis-server and
 * one shared data dir, each process in its own process group. Docker is
 * reached through `dockerHost` (a DockerProxy's, to cut it).
 */
export class LifecycleCluster {
  readonly workflow = `fault-${randomUUID().slice(0, 8)}`;
  readonly token = randomBytes(24).toString('hex');
  readonly dir: string;
  readonly redis: OwnRedis;
  readonly docker: Docker;
  engine?: OwnProcess;
  workers: OwnProcess[] = [];
  apiUrl = '';

  constructor(name: string, private readonly dockerHost?: string) {
    this.dir = path.join(ROOT, 'data/faults', `${name}-${this.workflow}`);
    this.redis = new OwnRedis(path.join(this.dir, 'redis'));
    // The test's own view of Docker is direct (never through the cuttable proxy).
    this.docker = createDockerClient(process.env.DOCKER_HOST);
  }

  private env(): Record<string, string> {
    return {
      REDIS_URL: this.redis.url,
      TIDEFLOW_QUEUE_PREFIX: 'tideflow',
      TIDEFLOW_ADMIN_TOKEN: this.token,
      TIDEFLOW_LOG_LEVEL: 'info',
      ...(this.dockerHost ? { DOCKER_HOST: this.dockerHost } : {}),
    };
  }

  /** Writes the workflow file, starts Redis, the engine and the workers; resolves when all are ready. */
  async start(workers: number): Promise<void> {
    const wfDir = path.join(this.dir, 'workflows');
    mkdirSync(wfDir, { recursive: true });
    const wf = JSON.parse(readFileSync(path.join(ROOT, 'workflows/container-lifecycle.json'), 'utf8')) as {
      name: string;
      $schema?: string;
      jobs: Record<string, { every?: string }>;
    };
    wf.name = this.workflow;
    delete wf.$schema;
    wf.jobs.spawn!.every = `${SPAWN_EVERY_MS}ms`;
    wf.jobs.analyze!.every = ANALYZE_EVERY;
    writeFileSync(path.join(wfDir, `${this.workflow}.json`), JSON.stringify(wf, null, 2));
    await this.redis.start();
    const data = path.join(this.dir, 'data');
    this.engine = startTideflow(['--data-dir', data, 'start', '--workflows', wfDir, '--port', '0'], this.env());
    await this.engine.waitForOutput(/engine ready in \d+ ms: (http:\/\/[^\s"]+)/, 90_000);
    this.apiUrl = /engine ready in \d+ ms: (http:\/\/[^\s"]+)/.exec(this.engine.output())![1]!;
    for (let i = 0; i < workers; i++) this.workers.push(startTideflow(['--data-dir', data, 'worker'], this.env()));
    await Promise.all(this.workers.map((w) => w.waitForOutput(/worker ready in/, 90_000)));
  }

  async api<T>(method: 'GET' | 'POST', route: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.apiUrl}${route}`, { method, headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Every run of the workflow in the run history (paged). */
  async runs(job?: string): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for (let offset = 0; ; offset += 500) {
      const q = new URLSearchParams({ workflow: this.workflow, limit: '500', offset: String(offset), ...(job ? { job } : {}) });
      const { body } = await this.api<{ runs: RunRecord[]; total: number }>('GET', `/api/runs?${q}`);
      out.push(...body.runs);
      if (body.runs.length < 500) return out;
    }
  }

  /** Every stored record (the logger's export, which streams them all). */
  async logs(): Promise<StoredLog[]> {
    const { status, body } = await this.api<StoredLog[]>('GET', '/api/logs/export?format=json');
    if (status !== 200) throw new Error(`GET /api/logs/export answered ${status}`);
    return body;
  }

  /** The workflow's containers as Docker lists them now (any state). */
  async listed(): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: { label: [`${LABELS.workflow}=${this.workflow}`] } });
  }

  /** The series of one family on the engine's /metrics now, read by a Prometheus text parser. */
  private async series(name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
    const res = await fetch(`${this.apiUrl}/metrics`, { headers: { authorization: `Bearer ${this.token}` } });
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    const family = parsePrometheusTextFormat(await res.text()).find((f) => f.name === name);
    return (family?.metrics ?? []).map((s) => ({ labels: s.labels ?? {}, value: Number(s.value) }));
  }

  /** Sums a counter of /metrics over the series of this workflow. */
  async metric(name: string): Promise<number> {
    return (await this.series(name)).filter((s) => s.labels.workflow === this.workflow).reduce((sum, s) => sum + s.value, 0);
  }

  /** Jobs of the engine's queue in a BullMQ state now (tideflow_queue_jobs, read at scrape time). */
  async queueJobs(state: 'active' | 'waiting' | 'delayed'): Promise<number> {
    const found = (await this.series('tideflow_queue_jobs')).find((s) => s.labels.state === state);
    if (!found) throw new Error(`/metrics has no tideflow_queue_jobs{state="${state}"}`);
    return found.value;
  }

  /** Ends everything we started (SIGKILL to our own process groups), removes the workflow's containers and the dir. */
  async destroy(): Promise<void> {
    for (const p of [...this.workers, ...(this.engine ? [this.engine] : [])]) await killGroup(p);
    const left = await this.listed().catch(() => []);
    await Promise.all(left.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    await this.redis.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Fire time (ms) of a scheduled run, from its id (`<wf>.<job>.<fire ms>`). */
export function fireTime(run: RunRecord): number | undefined {
  const m = /\.(\d{10,})$/.exec(run.id);
  return m ? Number(m[1]) : undefined;
}

/** Ids that occur more than once. */
export function duplicates<T>(items: T[]): T[] {
  const seen = new Set<T>();
  const dup = new Set<T>();
  for (const i of items) (seen.has(i) ? dup : seen).add(i);
  return [...dup];
}
