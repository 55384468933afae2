import { configWithDefaults } from '../../core/plugin/config-defaults.js';
import type { FastifyPluginAsync } from 'fastify';
import { inject, injectable } from 'tsyringe';
import type { EngineConfig } from '../../core/config/engine-config.js';
import { Tokens, type Clock } from '../../core/di/tokens.js';
import { NonRetryableError } from '../../core/plugin/errors.js';
import path from 'node:path';
import type { PluginContext, PluginShutdownContext, TideflowPlugin } from '../../core/plugin/plugin.js';
import chartsManifest from './charts-manifest.js';
import { SharedTokens } from '../shared/tokens.js';
import type { RecordStore } from '../shared/store/record-store.js';
import { parseDuration } from '../../core/workflow/duration.js';
import { ChartRenderer, MissingFontError, writeFileAtomic } from './chart-renderer.js';
import { buildSpec, countBucketMs, historyRows, MAX_KILLED_POINTS, type ChartData, type ChartSize, type ChartWindow } from './chart-specs.js';
import { ChartTimeZone, InvalidTimeZoneError } from './chart-time-zone.js';
import { ContainerHistoryQuery } from './container-history.js';
import { ChartsConfigSchema, type ChartName, type ChartsConfig } from './charts-config.js';
import { chartFile, chartsRoutes } from './charts-routes.js';

export interface ChartOutput {
  name: ChartName;
  title: string;
  png: string;
  svg: string;
  spec: string;
  /** PNG size in bytes. */
  bytes: number;
  /** PNG size in pixels: the configured size times pixelRatio. */
  width: number;
  height: number;
  /** Data rows drawn; 0 with `empty`. */
  points: number;
  /** The chart says "no data yet". */
  empty: boolean;
  ms: number;
}

export interface ChartsOutput {
  dir: string;
  window: ChartWindow;
  /** The IANA time zone the charts show times in. */
  timeZone: string;
  charts: ChartOutput[];
  durationMs: number;
}

/**
 * Draws the memory, containers, killed, live and history charts from the injected
 * RecordStore as PNG (plus SVG and the Vega-Lite spec) in <dataDir>/charts,
 * each file replaced atomically. Runs on its schedule and once more on
 * shutdown, as the course project drew its charts when stopped.
 */
@injectable()
export class ChartsPlugin implements TideflowPlugin<ChartsConfig, unknown, ChartsOutput> {
  static readonly manifest = chartsManifest;
  readonly routes: FastifyPluginAsync;
  private readonly renderer = new ChartRenderer();

  constructor(
    @inject(SharedTokens.RecordStore) private readonly store: RecordStore,
    @inject(Tokens.Config) private readonly engine: EngineConfig,
    @inject(Tokens.Clock) private readonly clock: Clock,
  ) {
    this.routes = chartsRoutes(() => this.chartsDir);
  }

  get chartsDir(): string {
    return path.join(this.engine.dataDir, 'charts');
  }

  async run(_input: unknown, ctx: PluginContext<ChartsConfig>): Promise<ChartsOutput> {
    const out = await this.renderAll(ctx.config, ctx.signal);
    ctx.log.debug({ charts: out.charts.map((c) => `${c.name}${c.empty ? ' (empty)' : ''}`), ms: out.durationMs }, 'charts rendered');
    return out;
  }

  /** Renders once more with each chart job's config (the defaults if there is none); never throws. */
  async shutdown(ctx: PluginShutdownContext<ChartsConfig>): Promise<void> {
    const configs = ctx.jobs.length > 0 ? ctx.jobs.map((j) => j.config) : [undefined];
    const seen = new Set<string>();
    for (const config of configs) {
      const key = JSON.stringify(config ?? {});
      if (seen.has(key)) continue;
      seen.add(key);
      try {
        const out = await this.renderAll(config);
        ctx.log.info({ dir: out.dir, charts: out.charts.length, ms: out.durationMs }, 'charts rendered on shutdown');
      } catch (err) {
        ctx.log.error({ err }, 'charts could not be rendered on shutdown');
      }
    }
  }

  /** Queries the window once and renders the configured charts; returns what it wrote. */
  async renderAll(config?: Partial<ChartsConfig>, signal?: AbortSignal): Promise<ChartsOutput> {
    const started = performance.now();
    const cfg = configWithDefaults(ChartsConfigSchema, config ?? {}, 'charts');
    let tz: ChartTimeZone;
    try {
      this.renderer.checkFonts();
      tz = ChartTimeZone.resolve(cfg.timeZone);
    } catch (err) {
      if (err instanceof MissingFontError || err instanceof InvalidTimeZoneError) throw new NonRetryableError(err.message, { cause: err });
      throw err;
    }
    const to = this.clock.now();
    const window: ChartWindow = { from: to - parseDuration(cfg.window), to };
    const size = { width: cfg.width, height: cfg.height };
    const data = await this.query(cfg.charts, window, size);
    const dir = this.chartsDir;
    const charts: ChartOutput[] = [];
    for (const name of cfg.charts) {
      signal?.throwIfAborted();
      const t0 = performance.now();
      const built = buildSpec(name, data, size, tz);
      const rendered = await this.renderer.render(built.spec, { pixelRatio: cfg.pixelRatio });
      const files = { png: chartFile(dir, name, 'png'), svg: chartFile(dir, name, 'svg'), spec: chartFile(dir, name, 'json') };
      // Spec and SVG first, PNG last: the PNG's mtime is the chart's time in /api/charts.
      await writeFileAtomic(files.spec, JSON.stringify(built.spec, null, 2) + '\n');
      await writeFileAtomic(files.svg, rendered.svg);
      await writeFileAtomic(files.png, rendered.png);
      charts.push({
        name, title: built.title, ...files, bytes: rendered.png.length, width: rendered.width, height: rendered.height,
        points: built.points, empty: built.empty, ms: Math.round(performance.now() - t0),
      });
    }
    return { dir, window, timeZone: tz.name, charts, durationMs: Math.round(performance.now() - started) };
  }

  private async query(names: ChartName[], w: ChartWindow, size: ChartSize): Promise<ChartData> {
    const want = new Set(names);
    const bucketMs = countBucketMs(w);
    // The memory chart marks kills per bucket too: one counts query serves both.
    const [memory, points, killed, live, history] = await Promise.all([
      want.has('memory') ? this.store.memorySeries(w.from, w.to, 500) : undefined,
      want.has('containers') || want.has('memory') ? this.store.containerCounts(w.from, w.to, bucketMs) : undefined,
      want.has('killed') ? this.store.killedContainers(w.from, w.to, MAX_KILLED_POINTS) : undefined,
      want.has('live') ? this.store.lastKept(w.to) : undefined,
      want.has('history') ? new ContainerHistoryQuery(this.store).read(w.from, w.to, historyRows(size)) : undefined,
    ]);
    return { window: w, memory, counts: points ? { bucketMs, points } : undefined, killed, live, history };
  }
}
