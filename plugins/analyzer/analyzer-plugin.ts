import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { inject, injectable } from 'tsyringe';
import { Tokens, type Clock } from '../../core/di/tokens.js';
import type { PluginContext, PluginMetricsContext, RunCount, TideflowPlugin } from '../../core/plugin/plugin.js';
import analyzerManifest from './analyzer-manifest.js';
import { SharedTokens } from '../shared/tokens.js';
import type { AnalysisResult, AnalyzedContainer } from '../shared/records/container-records.js';
import { parseDuration } from '../../core/workflow/duration.js';
import type { AnalyzerConfig } from './analyzer-config.js';
import { inspectAhead, killContainers, type InspectAhead, type KillOutcome, type KillReport } from './container-killer.js';
import { explainEngineError } from '../shared/containers/docker-errors.js';
import { PROC_MEMINFO, readHostMemory } from './host-memory.js';
import type { ContainerSample, MetricSource } from './metrics/metric-source.js';
import { selectMetricSource } from './metrics/select-source.js';
import { countAnalysisRun, registerAnalyzerMetrics } from './analyzer-metrics.js';
import { LABELS, listManagedContainers } from '../shared/containers/container-labels.js';
import { isLocalEngine } from '../shared/containers/docker-engine.js';
import { KillClaims } from './kill-claims.js';
import type { EngineKeys } from '../../core/redis/engine-keys.js';
import { applyPolicy as applyPolicyFn, type PolicyResult } from './policy.js';

/** Claim attempts per run: each lost race drops the containers another run is killing and decides again. */
const MAX_CLAIM_ATTEMPTS = 5;

/** Phase timings of one run (benchmarks and tests read them; nothing depends on them). */
export interface AnalyzerTimings {
  listMs: number;
  /** Includes the sample window. */
  sampleMs: number;
  windowMs: number;
  /** Until the surplus' processes were dead (includes Docker API fallbacks). */
  killMs: number;
  /**
   * Part of killMs: waiting for the Docker inspect calls (init PID, AutoRemove) before the cgroup kills.
   * They are started during the sample window, so this is only what the window did not cover.
   */
  inspectMs: number;
  /** Reading and taking the kill claims in Redis. */
  claimMs: number;
  /** Listed containers skipped because another run holds their kill claim (killed, Docker not caught up yet). */
  claimedElsewhere: number;
  /** API removal of killed containers that are not AutoRemove (0 when none). */
  removeMs: number;
  killedVia: { cgroup: number; docker: number };
}

/** One run's result and how long its phases took. */
export interface AnalyzerRun {
  result: AnalysisResult;
  timings: AnalyzerTimings;
}

/**
 * Lists the workflow's managed containers (by label only), samples their CPU
 * and memory, reads host memory, applies the pure policy and kills the
 * surplus: SIGKILL through each container's cgroup when local (the
 * spawner's containers are AutoRemove, so Docker then removes them), else
 * through the Docker API (see container-killer.ts). Returns the full record.
 *
 * Exactly once: before killing, the run claims its kill set in Redis
 * (kill-claims.ts, all or nothing). Containers claimed by another run (of any
 * process) are left out of the analysis altogether: not sampled, not counted
 * as alive by the policy, not reported. So a container Docker still lists
 * after its kill is neither killed nor recorded again, and `containers` with
 * decision `killed` are exactly the ones this run claimed and killed.
 *
 * One instance serves every run, concurrent ones included: a run keeps its
 * state in its own locals, never on the instance.
 */
@injectable()
export class AnalyzerPlugin implements TideflowPlugin<AnalyzerConfig, unknown, AnalysisResult> {
  static readonly manifest = analyzerManifest;

  constructor(
    @inject(SharedTokens.Docker) private readonly docker: Docker,
    @inject(Tokens.Clock) private readonly clock: Clock,
    @inject(Tokens.Redis) private readonly redis: Redis,
    @inject(Tokens.Keys) private readonly keys: EngineKeys,
  ) {}

  metrics(ctx: PluginMetricsContext): void {
    registerAnalyzerMetrics(ctx, () => readHostMemory(PROC_MEMINFO));
  }

  countRun(output: AnalysisResult): RunCount[] {
    return countAnalysisRun(output);
  }

  async run(_input: unknown, ctx: PluginContext<AnalyzerConfig>): Promise<AnalysisResult> {
    return (await this.analyze(ctx)).result;
  }

  /** What `run` does, with the run's phase timings (benchmarks and tests read them). */
  async analyze(ctx: PluginContext<AnalyzerConfig>): Promise<AnalyzerRun> {
    const cfg = ctx.config;
    const started = this.clock.now();
    const t0 = performance.now();
    const windowMs = parseDuration(cfg.sampleWindow);

    let listed: Docker.ContainerInfo[];
    try {
      // Running ones of this workflow, by label, double-checked (the rule is ours, not the engine's filter's).
      listed = await listManagedContainers(this.docker, { workflow: ctx.workflow, all: false });
    } catch (err) {
      throw explainEngineError(this.docker, err);
    }
    const t1 = performance.now();

    const claims = new KillClaims(this.redis, this.keys.plugin(AnalyzerPlugin.manifest.name), parseDuration(cfg.killClaimTtl));
    const elsewhere = await claims.heldByOthers(listed.map((c) => c.Id), ctx.runId);
    let managed = listed.filter((c) => !elsewhere.has(c.Id));
    const tClaimRead = performance.now() - t1;
    const t1b = performance.now();

    // The kill path needs each target's inspect (init PID, AutoRemove): started now, for every container
    // that could be killed, so that dockerd answers them while the sample window runs (read-only; the
    // kill path re-checks what they say). Not when nothing can be killed: dry run, the Docker kill
    // method (no inspect), a remote engine, or no more candidates than the smaller keep count.
    const candidates = managed.filter((c) => c.Labels?.[LABELS.protected] !== 'true').map((c) => c.Id);
    const ahead: InspectAhead | undefined =
      !cfg.dryRun && cfg.killMethod !== 'docker' && cfg.maxKillsPerRun !== 0 && isLocalEngine(this.docker) && candidates.length > Math.min(cfg.keep.high, cfg.keep.low)
        ? inspectAhead(this.docker, candidates)
        : undefined;

    const source: MetricSource = await selectMetricSource(cfg.metricSource, { docker: this.docker, cgroupRoot: cfg.cgroupRoot, statsParallelism: cfg.statsParallelism });
    const byId = new Map(managed.map((c) => [c.Id, c]));
    const sampled = managed.length;
    const [samples, hostMemory] = await Promise.all([
      managed.length > 0 ? source.sample(managed.map((c) => c.Id), { windowMs, signal: ctx.signal }) : Promise.resolve(new Map<string, ContainerSample>()),
      readHostMemory(cfg.meminfoPath ?? PROC_MEMINFO),
    ]);
    const t2 = performance.now();

    const decide = () =>
      applyPolicyFn(
        managed.map((c) => ({ id: c.Id, labels: c.Labels, cpuPct: samples.get(c.Id)?.cpuPct, memBytes: samples.get(c.Id)?.memBytes })),
        {
          keep: cfg.keep,
          maxKillsPerRun: cfg.maxKillsPerRun,
          dryRun: cfg.dryRun,
          classify: { highCpuPct: cfg.classify.highCpuPct, highMemBytes: cfg.classify.highMemMiB * 1024 * 1024 },
        },
      );
    let policy: PolicyResult = decide();
    // Claim the kill set; when another run got some of these containers first, they are its to kill and
    // report: leave them out and decide again on what is left.
    for (let attempt = 1; policy.kill.length > 0; attempt++) {
      const r = await claims.claim(managed.map((c) => c.Id), policy.kill, ctx.runId);
      if (r.claimed) break;
      for (const id of r.heldByOthers) elsewhere.add(id);
      managed = managed.filter((c) => !elsewhere.has(c.Id));
      if (attempt >= MAX_CLAIM_ATTEMPTS) {
        ctx.log.warn({ attempts: attempt }, 'other analyses kept claiming these containers: killing nothing this run');
        policy = { ...decide(), kill: [] };
        policy.decisions = policy.decisions.map((d) => (d.decision === 'killed' ? { ...d, decision: 'kept', reason: `${d.reason}; not killed: claims kept changing under this run` } : d));
        break;
      }
      policy = decide();
    }
    const claimMs = tClaimRead + (performance.now() - t2);
    const t2b = performance.now();

    let kills = new Map<string, KillOutcome>();
    let killReport: KillReport | null = null;
    if (policy.kill.length > 0) {
      try {
        if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('aborted before killing');
        killReport = await killContainers(
          this.docker,
          policy.kill.map((id) => ({ id, labels: byId.get(id)!.Labels })),
          { workflow: ctx.workflow, parallelism: cfg.killParallelism, method: cfg.killMethod, cgroupRoot: cfg.cgroupRoot, inspected: ahead },
        );
      } catch (err) {
        // Nothing was reported killed: give the claims back (a retry of this run would keep them anyway).
        await claims.release(policy.kill, ctx.runId).catch(() => undefined);
        throw err;
      }
      kills = killReport.outcomes;
      // A failed kill gives its claim back, so a later analysis tries again instead of skipping a live container.
      const failedIds = [...kills.entries()].filter(([, k]) => !k.ok).map(([id]) => id);
      await claims.release(failedIds, ctx.runId);
      const fellBack = [...kills.entries()].filter(([, k]) => k.fallback);
      if (fellBack.length > 0) ctx.log.info({ fallbacks: fellBack.slice(0, 5).map(([id, k]) => `${id.slice(0, 12)}: ${k.fallback}`), count: fellBack.length }, 'killed through the Docker API instead of the cgroup');
    }
    const t3 = performance.now();

    const containers: AnalyzedContainer[] = policy.decisions.map((d) => {
      const c = byId.get(d.id)!;
      const s = samples.get(d.id);
      const k = kills.get(d.id);
      const reason = s?.error && (s.cpuPct === null || s.memBytes === null) ? `${d.reason}; metrics: ${s.error}` : d.reason;
      return {
        id: d.id,
        name: (c.Names?.[0] ?? '').replace(/^\//, ''),
        image: c.Image,
        class: d.class,
        classSource: d.classSource,
        cpuPct: s?.cpuPct ?? null,
        memBytes: s?.memBytes ?? null,
        decision: d.decision,
        reason: `${reason}${k?.alreadyGone ? '; already gone' : ''}${k?.fallback ? `; killed through the Docker API (${k.fallback})` : ''}`,
        ...(k && !k.ok ? { killError: k.error } : {}),
      };
    });
    const failed = containers.filter((c) => c.killError);
    if (failed.length > 0) ctx.log.warn({ failed: failed.map((c) => `${c.name}: ${c.killError}`) }, 'some kills failed');

    const timings: AnalyzerTimings = {
      listMs: t1 - t0,
      sampleMs: t2 - t1b,
      windowMs: sampled > 0 ? windowMs : 0,
      claimMs,
      claimedElsewhere: elsewhere.size,
      killMs: killReport ? killReport.killMs : t3 - t2b,
      inspectMs: killReport?.inspectMs ?? 0,
      removeMs: killReport?.removeMs ?? 0,
      killedVia: killReport?.byMethod ?? { cgroup: 0, docker: 0 },
    };
    const result: AnalysisResult = {
      kind: 'analysis',
      runId: ctx.runId,
      workflow: ctx.workflow,
      time: started,
      hostMemory,
      metricSource: source.name,
      dryRun: cfg.dryRun,
      containers,
      durationMs: this.clock.now() - started,
    };
    ctx.log.info(
      { containers: containers.length, killed: policy.kill.length, source: source.name, ms: result.durationMs, ...timings },
      'analysis done',
    );
    return { result, timings };
  }
}
