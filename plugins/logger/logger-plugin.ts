import { configWithDefaults } from '../../core/plugin/config-defaults.js';
import type { EngineConfig } from '../../core/config/engine-config.js';
import type { FastifyPluginAsync } from 'fastify';
import { inject, injectable } from 'tsyringe';
import { Tokens, type Clock } from '../../core/di/tokens.js';
import { NonRetryableError } from '../../core/plugin/errors.js';
import type { PluginContext, TideflowPlugin } from '../../core/plugin/plugin.js';
import { parseEnvSettings } from '../../core/config/env-settings.js';
import loggerManifest from './logger-manifest.js';
import { SharedTokens } from '../shared/tokens.js';
import type { AnalysisResult, SpawnResult } from '../shared/records/container-records.js';
import type { PurgeOutcome, RecordBatch, RecordStore } from '../shared/store/record-store.js';
import { parseDuration } from '../../core/workflow/duration.js';
import { LoggerConfigSchema, LoggerSettingsSchema, type LoggerConfig } from './logger-config.js';
import { logsRoutes } from './logs-routes.js';
import { analysisBatch, inputProblems, spawnBatch } from './record-mapping.js';

export interface LoggerOutput {
  /** The producing run id: the idempotency key. */
  source: string;
  inputKind: (SpawnResult | AnalysisResult)['kind'];
  /** False when this run was stored before (retry or duplicate): nothing was written. */
  stored: boolean;
  records: number;
  /** Set when this run applied retention. */
  purged: PurgeOutcome | null;
}

function describe(input: unknown): string {
  if (input === null || input === undefined) return String(input);
  if (Array.isArray(input)) return 'an array';
  if (typeof input !== 'object') return `a ${typeof input}`;
  const kind = (input as { kind?: unknown }).kind;
  return kind === undefined ? 'an object without "kind"' : `an object of kind ${JSON.stringify(kind)}`;
}

/**
 * Persists what the spawner and analyzer return (chained with `then`) in the
 * injected RecordStore, once per producing run, and applies retention at most
 * once per `purgeEvery`. Also serves /api/logs, its export, and the course
 * project's POST /logs.
 */
@injectable()
export class LoggerPlugin implements TideflowPlugin<LoggerConfig, SpawnResult | AnalysisResult, LoggerOutput> {
  static readonly manifest = loggerManifest;
  readonly routes: FastifyPluginAsync;

  constructor(
    @inject(SharedTokens.RecordStore) private readonly store: RecordStore,
    @inject(Tokens.Clock) private readonly clock: Clock,
    @inject(Tokens.Config) config: EngineConfig,
  ) {
    this.routes = logsRoutes(store, { openIngest: parseEnvSettings(LoggerSettingsSchema, config.env).TIDEFLOW_OPEN_LOG_INGEST ?? false });
  }

  async run(input: SpawnResult | AnalysisResult, ctx: PluginContext<LoggerConfig>): Promise<LoggerOutput> {
    const batch = this.toBatch(input);
    const out = await this.store.ingest(batch);
    if (!out.stored) ctx.log.info({ source: batch.source }, 'run already logged, nothing stored');
    let purged: PurgeOutcome | null = null;
    try {
      purged = await this.applyRetention(ctx.config);
      if (purged) ctx.log.info({ purged }, 'retention applied');
    } catch (err) {
      // The records are stored; a failed purge is retried at the next run, not by failing this one.
      ctx.log.warn({ err }, 'retention purge failed');
    }
    return { source: batch.source, inputKind: batch.sourceKind as LoggerOutput['inputKind'], stored: out.stored, records: out.count, purged };
  }

  /**
   * Deletes records older than `retention` unless a purge ran within
   * `purgeEvery` (tracked in the store, so it holds across workers and
   * restarts). `force` purges now regardless. Returns null when not due.
   */
  async applyRetention(config?: Partial<LoggerConfig>, opts: { force?: boolean } = {}): Promise<PurgeOutcome | null> {
    const cfg = configWithDefaults(LoggerConfigSchema, config ?? {}, 'logger');
    const now = this.clock.now();
    const cutoff = now - parseDuration(cfg.retention);
    if (opts.force) return this.store.purgeOlderThan(cutoff, now);
    return this.store.purgeIfDue(cutoff, now, parseDuration(cfg.purgeEvery));
  }

  private toBatch(input: unknown): RecordBatch {
    const kind = (input as { kind?: unknown } | null | undefined)?.kind;
    if (kind !== 'spawn' && kind !== 'analysis') {
      throw new NonRetryableError(
        `logger expects the result of a spawner run (kind "spawn") or an analyzer run (kind "analysis"), chained with "then"; got ${describe(input)}`,
      );
    }
    const problems = inputProblems(input);
    if (problems.length > 0) {
      throw new NonRetryableError(`logger input of kind "${kind}" is malformed: ${problems.join('; ')}`);
    }
    return kind === 'spawn' ? spawnBatch(input as SpawnResult) : analysisBatch(input as AnalysisResult);
  }
}
