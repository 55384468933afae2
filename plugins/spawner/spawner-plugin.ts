import { createHash } from 'node:crypto';
import type { EngineConfig } from '../../core/config/engine-config.js';
import type Docker from 'dockerode';
import { inject, injectable } from 'tsyringe';
import { Tokens, type Clock } from '../../core/di/tokens.js';
import type { Logger } from '../../core/logging/logger.js';
import { NonRetryableError } from '../../core/plugin/errors.js';
import type { PluginContext, PluginMetricsContext, PluginShutdownContext, RunCount, TideflowPlugin } from '../../core/plugin/plugin.js';
import spawnerManifest from './spawner-manifest.js';
import { SharedTokens } from '../shared/tokens.js';
import { parseEnvSettings } from '../../core/config/env-settings.js';
import { isContainerClass, type SpawnedContainer, type SpawnResult } from '../shared/records/container-records.js';
import { mapBounded } from '../../core/util/map-bounded.js';
import { LABELS } from '../shared/containers/container-labels.js';
import { engineUnreachableError, explainEngineError, isEngineUnreachable, pingEngine, statusCode } from '../shared/containers/docker-errors.js';
import { errorMessage } from '../../core/util/error-message.js';
import { buildWorkloadImages, DEFAULT_IMAGE_PREFIX, findWorkload } from './images/workload-images.js';
import { listManagedContainers, removeManagedContainers } from './managed-containers.js';
import { countSpawnRun, registerSpawnerMetrics } from './spawner-metrics.js';
import { MIN_MEMORY_BYTES, parseMemory, RESERVED_LABELS, SpawnerSettingsSchema, type ImageEntry, type SpawnerConfig } from './spawner-config.js';


interface Plan {
  slot: number;
  entry: ImageEntry;
  name: string;
  cpu: CpuLimit;
  memory: number;
}

/** A CFS bandwidth limit: at most `quotaUs` of CPU time per `periodUs`. */
export interface CpuLimit {
  periodUs: number;
  quotaUs: number;
}

/** CFS periods tried, shortest first: each divides 1 s, so a 1 s sample window sees the exact average. */
const CPU_PERIODS_US = [100_000, 200_000, 250_000, 500_000, 1_000_000];
/** The least CPU time a container may use in one go before it is throttled. */
const MIN_CPU_BURST_US = 50_000;

/**
 * The CFS limit for `cpus` cores: the same average as Docker's NanoCpus
 * (quota / period = cpus), with the shortest period whose quota is at least
 * 50 ms. NanoCpus always uses a 100 ms period: at 0.05 cpus that is a 5 ms
 * quota, and runc's container setup, which runs inside the container's
 * cgroup, is throttled across several periods: measured, start took ~0.8 s
 * instead of ~0.4 s, and 100 starts queued behind it. From 0.5 cpus up the
 * period is Docker's 100 ms.
 */
export function cpuLimit(cpus: number): CpuLimit {
  const periodUs = CPU_PERIODS_US.find((p) => cpus * p >= MIN_CPU_BURST_US) ?? CPU_PERIODS_US[CPU_PERIODS_US.length - 1]!;
  // Docker's (and the kernel's) smallest quota is 1 ms.
  return { periodUs, quotaUs: Math.max(1000, Math.round(cpus * periodUs)) };
}

function hash(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Docker container names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
function safeName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 40) || 'wf';
}

/**
 * Creates and starts `count` labelled containers picked at random from the
 * workflow's images. Each run owns slots 0..count-1 (label tideflow.slot);
 * a retried run counts what its earlier attempt left (by tideflow.run) and
 * fills only the missing slots. The image of a slot is chosen by a hash of
 * (run id, slot), so a duplicate execution of the same run picks the same
 * image and name and collides on the name instead of doubling containers.
 */
@injectable()
export class SpawnerPlugin implements TideflowPlugin<SpawnerConfig, unknown, SpawnResult> {
  static readonly manifest = spawnerManifest;

  /** TIDEFLOW_KEEP_CONTAINERS (`tideflow start --keep-containers`): leave managed containers running on shutdown. */
  private readonly keepContainers: boolean;

  constructor(
    @inject(SharedTokens.Docker) private readonly docker: Docker,
    @inject(Tokens.Clock) private readonly clock: Clock,
    @inject(Tokens.Logger) private readonly logger: Logger,
    @inject(Tokens.Config) private readonly engineConfig: EngineConfig,
  ) {
    this.keepContainers = parseEnvSettings(SpawnerSettingsSchema, engineConfig.env).TIDEFLOW_KEEP_CONTAINERS ?? false;
  }

  metrics(ctx: PluginMetricsContext): void {
    registerSpawnerMetrics(ctx, this.docker);
  }

  countRun(output: SpawnResult): RunCount[] {
    return countSpawnRun(output);
  }

  async run(_input: unknown, ctx: PluginContext<SpawnerConfig>): Promise<SpawnResult> {
    const started = this.clock.now();
    const cfg = ctx.config;
    const { workflow, runId } = ctx;
    for (const k of Object.keys(cfg.labels ?? {})) {
      if (RESERVED_LABELS.includes(k)) throw new NonRetryableError(`spawner label "${k}" is reserved`);
    }
    await pingEngine(this.docker);
    await this.ensureImages(cfg, ctx);

    const baseLabels = [`${LABELS.managed}=true`, `${LABELS.workflow}=${workflow}`];
    const mine = await this.call(() => this.docker.listContainers({ all: true, filters: { label: [...baseLabels, `${LABELS.run}=${runId}`] } }));
    const created: SpawnedContainer[] = [];
    const doneSlots = new Set<number>();
    // Containers an earlier attempt created but did not start get started now.
    for (const c of mine) {
      if (c.State === 'created') await this.startContainer(c.Id);
      doneSlots.add(Number(c.Labels[LABELS.slot]));
      const cls = c.Labels[LABELS.class];
      created.push({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), image: c.Image, class: isContainerClass(cls) ? cls : 'low' });
    }
    if (mine.length > 0) ctx.log.info({ existing: mine.length }, 'retry: containers of this run already exist');

    const missing = Array.from({ length: cfg.count }, (_, s) => s).filter((s) => !doneSlots.has(s));
    const running = (await this.call(() => listManagedContainers(this.docker, { workflow, all: false }))).length;
    const room = Math.max(0, cfg.maxManaged - running);
    const slots = missing.slice(0, room);
    const skipped = missing.length - slots.length;

    const plans = slots.map((slot) => this.plan(cfg, workflow, runId, slot));
    const results = await mapBounded(plans, cfg.parallelism, async (p) => {
      if (ctx.signal.aborted) throw new Error('aborted before creating the container');
      return this.createAndStart(p, workflow, runId, cfg.labels ?? {});
    });
    const failures: string[] = [];
    results.forEach((r, i) => {
      const p = plans[i]!;
      if (r.status === 'fulfilled') created.push({ id: r.value, name: p.name, image: p.entry.name, class: p.entry.class });
      else failures.push(`${p.name}: ${errorMessage(r.reason)}`);
    });
    if (failures.length > 0) {
      const unreachable = results.find((r) => r.status === 'rejected' && isEngineUnreachable(r.reason));
      if (unreachable) throw engineUnreachableError(this.docker, (unreachable as PromiseRejectedResult).reason);
      // A plain Error: the retry creates only the slots still missing.
      throw new Error(`spawner created ${results.length - failures.length} of ${plans.length} containers; ${failures.length} failed: ${failures.slice(0, 3).join('; ')}`);
    }
    const result: SpawnResult = {
      kind: 'spawn',
      runId,
      workflow,
      time: started,
      created,
      skipped: skipped > 0 ? { count: skipped, reason: `maxManaged cap: ${running} managed containers running, cap ${cfg.maxManaged}` } : null,
      durationMs: this.clock.now() - started,
    };
    ctx.log.info({ created: created.length, skipped: skipped, ms: result.durationMs }, 'spawned containers');
    return result;
  }

  /** Removes the workflows' managed containers unless --keep-containers. */
  async shutdown(ctx: PluginShutdownContext<SpawnerConfig>): Promise<void> {
    if (this.keepContainers) return;
    for (const wf of new Set(ctx.jobs.map((j) => j.workflow))) {
      try {
        const r = await removeManagedContainers(this.docker, { workflow: wf });
        ctx.log.info({ workflow: wf, removed: r.removed.length, protected: r.keptProtected.length, failed: r.failed.length }, 'removed managed containers');
        for (const f of r.failed) {
          ctx.log.error({ workflow: wf, container: f.name, id: f.id.slice(0, 12), err: f.error }, `could not remove managed container ${f.name} (${f.id.slice(0, 12)}) after retrying: ${f.error}; remove it with \`tideflow cleanup ${wf}\``);
        }
      } catch (err) {
        ctx.log.warn({ workflow: wf, err: errorMessage(err) }, 'could not remove managed containers on shutdown');
      }
    }
  }

  private plan(cfg: SpawnerConfig, workflow: string, runId: string, slot: number): Plan {
    const entry = cfg.images[hash(`${runId}:${slot}`).readUInt32BE(0) % cfg.images.length]!;
    const builtin = findWorkload(entry.name);
    const cpus = entry.cpus ?? builtin?.cpus ?? cfg.defaultCpus;
    const memory = parseMemory(entry.memory ?? builtin?.memory ?? cfg.defaultMemory);
    if (memory < MIN_MEMORY_BYTES) throw new NonRetryableError(`memory limit of ${entry.name} is under Docker's 6 MiB minimum`);
    const short = hash(runId).toString('hex').slice(0, 8);
    return { slot, entry, name: `tf-${safeName(workflow)}-${entry.class}-${short}-${slot}`, cpu: cpuLimit(cpus), memory };
  }

  private async createAndStart(p: Plan, workflow: string, runId: string, extra: Record<string, string>): Promise<string> {
    const labels = { ...extra, [LABELS.managed]: 'true', [LABELS.workflow]: workflow, [LABELS.class]: p.entry.class, [LABELS.run]: runId, [LABELS.slot]: String(p.slot) };
    const spec: Docker.ContainerCreateOptions = {
      name: p.name,
      Image: p.entry.name,
      ...(p.entry.cmd ? { Cmd: p.entry.cmd } : {}),
      Labels: labels,
      NetworkDisabled: true,
      // SIGKILL: busybox sh as PID 1 ignores SIGTERM, so a `docker stop` would wait its full timeout.
      StopSignal: 'SIGKILL',
      HostConfig: {
        NetworkMode: 'none',
        // The CPU limit as period + quota rather than NanoCpus (see cpuLimit): same average, but a
        // tiny limit no longer throttles the container's own start.
        CpuPeriod: p.cpu.periodUs,
        CpuQuota: p.cpu.quotaUs,
        Memory: p.memory,
        MemorySwap: p.memory,
        RestartPolicy: { Name: 'no' },
        // Docker removes the container by itself once it dies: the analyzer kills through the
        // cgroup (no API call) and a container that exits on its own does not linger. A retried
        // run then simply recreates that slot (it counts existing containers by tideflow.run).
        AutoRemove: true,
      },
    };
    let id: string | undefined;
    for (let attempt = 0; id === undefined; attempt++) {
      try {
        id = (await this.docker.createContainer(spec)).id;
      } catch (err) {
        if (statusCode(err) !== 409) throw err;
        // Same name: a duplicate execution of this run made it. Adopt it if it is ours.
        let info: Docker.ContainerInspectInfo;
        try {
          info = await this.docker.getContainer(p.name).inspect();
        } catch (e) {
          // Gone in between (an AutoRemove container that died and was removed): create it again, once.
          if (statusCode(e) === 404 && attempt === 0) continue;
          throw e;
        }
        if (info.Config.Labels?.[LABELS.run] !== runId) throw err;
        id = info.Id;
      }
    }
    await this.startContainer(id);
    return id;
  }

  private async startContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (statusCode(err) !== 304) throw err; // 304: already started
    }
  }

  /** Builds missing tideflow/* workload images; a missing user image is not retryable. */
  private async ensureImages(cfg: SpawnerConfig, ctx: PluginContext<SpawnerConfig>): Promise<void> {
    const names = [...new Set(cfg.images.map((i) => i.name))];
    const missing: string[] = [];
    for (const name of names) {
      try {
        await this.docker.getImage(name).inspect();
      } catch (err) {
        if (statusCode(err) !== 404) throw explainEngineError(this.docker, err);
        missing.push(name);
      }
    }
    if (missing.length === 0) return;
    const buildable = missing.filter((n) => findWorkload(n) && n.startsWith(`${DEFAULT_IMAGE_PREFIX}/`));
    const foreign = missing.filter((n) => !buildable.includes(n));
    if (foreign.length > 0) {
      throw new NonRetryableError(`image(s) not found locally: ${foreign.join(', ')} (no registry is used: build or load them first)`);
    }
    if (!cfg.buildImages) throw new NonRetryableError(`workload image(s) missing: ${buildable.join(', ')}; run \`tideflow images build\``);
    ctx.log.info({ images: buildable }, 'building missing workload images');
    const only = buildable.map((n) => findWorkload(n)!.short);
    const log = (m: string) => this.logger.info(m);
    await buildWorkloadImages(this.docker, { only, log, install: { noInstall: this.engineConfig.noInstall, log } });
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw explainEngineError(this.docker, err);
    }
  }
}
