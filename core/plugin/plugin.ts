import type { TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { HealthCheck } from '../health/health-check.js';
import type { RunRecord, RunTrigger } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';
import type { ServiceProvider } from './service-provider.js';

/** Everything a plugin learns about the run it is executing. */
export interface PluginContext<C = unknown> {
  /** The job's `config`, validated against the plugin's schema with defaults applied. */
  config: C;
  /** Unique id of this run (stable across its retries). */
  runId: string;
  workflow: string;
  job: string;
  trigger: RunTrigger;
  /** 1 for the first attempt. */
  attempt: number;
  /** The run that caused this one through `then`, if any. */
  causedBy?: string;
  /** The job's producing run's plugin name when chained (e.g. "spawner" for a log job). */
  inputFrom?: { job: string; plugin: string; runId: string };
  /** Fires when the job's timeout expires or the engine is shutting down. */
  signal: AbortSignal;
  log: Logger;
}

/** What a plugin is told when the engine stops. */
export interface PluginShutdownContext<C = unknown> {
  /** Every job of the loaded workflows that uses this plugin, on the routes this process served. */
  jobs: Array<{ workflow: string; job: string; config: C }>;
  log: Logger;
}

/**
 * What a plugin gets to contribute to GET /metrics (the process serving the
 * admin API calls `metrics` once, before it listens). For what its runs
 * count, declare `counters`/`histograms` in the manifest and implement
 * `countRun`: those are summed over every process that runs jobs.
 */
export interface PluginMetricsContext {
  /**
   * The engine's prom-client registry behind /metrics. Register metrics on it
   * (`registers: [ctx.registry]`), named `tideflow_<what>_<unit>`; read
   * live state in a gauge's `collect()`. A name already taken fails startup.
   */
  readonly registry: Registry;
  /** The loaded jobs that use this plugin, read when called (e.g. at scrape time). */
  jobs(): Promise<Array<{ workflow: string; job: string }>>;
  readonly log: Logger;
}

/**
 * A counter of what a plugin's runs did, cluster-wide: kept in Redis, added
 * to by whichever process ran the run (the engine or any worker, on any
 * host), read by /metrics at scrape time. Declared in the manifest; the
 * process serving /metrics exposes it as a Prometheus counter (a name
 * already taken fails startup).
 */
export interface ClusterCounterSpec {
  /** `tideflow_<what>_total`. */
  readonly name: string;
  readonly help: string;
  /** Every count names a value for each of these, and for no other label. */
  readonly labelNames: readonly string[];
}

/** A histogram of what a plugin's runs measured, cluster-wide like a ClusterCounterSpec. */
export interface ClusterHistogramSpec {
  /** `tideflow_<what>_<unit>` (e.g. `_seconds`). */
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Upper bounds of the buckets, increasing (`+Inf` is implied). */
  readonly buckets: readonly number[];
}

/**
 * What one succeeded run adds to a declared cluster metric: `value` (default
 * 1, never negative) to a counter, or one observation to a histogram.
 * `labels` names exactly the metric's `labelNames`.
 */
export type RunCount =
  | { readonly counter: string; readonly labels: Readonly<Record<string, string>>; readonly value?: number }
  | { readonly histogram: string; readonly labels: Readonly<Record<string, string>>; readonly value: number };

/** What the engine is about to start, for a plugin's start checks. */
export interface PluginStartCheckContext {
  /** The environment the engine reads its settings from. */
  env: NodeJS.ProcessEnv;
  /** Whether this process serves the admin API, and on which host. */
  api: boolean;
  host: string;
}

/** A panel a plugin adds to the dashboard: a browser ES module the page imports (see core/api/dashboard/README.md). */
export interface DashboardPanel {
  /** Unique within the plugin: the script is served at /dashboard/panels/<plugin>/<id>.js. */
  id: string;
  /** Absolute path of the script (plain browser JavaScript, same-origin only). */
  script: string;
}

/**
 * What the engine knows of a plugin without creating it: enough to validate
 * workflow files, check a start, and list it. A static `manifest` on the
 * plugin class, so reading a schema never needs the plugin's services.
 */
export interface PluginManifest<S extends TSchema = TSchema> {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  /** TypeBox/JSON Schema of the job `config`; defaults in it are applied on load. */
  readonly configSchema: S;
  /**
   * Services the plugin's constructor injects beyond the engine's own
   * (Tokens): each registered once per engine before any plugin is created.
   * Registering is free; a service opens what it needs on first use.
   */
  readonly services?: readonly ServiceProvider[];
  /** OpenAPI tags the plugin's routes use. */
  readonly apiTags?: ReadonlyArray<{ name: string; description: string }>;
  /** Panels the dashboard shows for this plugin. */
  readonly dashboardPanels?: readonly DashboardPanel[];
  /** Cluster-wide counters its runs add to through `countRun`. */
  readonly counters?: readonly ClusterCounterSpec[];
  /** Cluster-wide histograms its runs observe through `countRun`. */
  readonly histograms?: readonly ClusterHistogramSpec[];
  /** Reasons to refuse a start (bad settings), checked before anything is touched; empty when fine. */
  startProblems?(ctx: PluginStartCheckContext): string[];
}

/**
 * A created plugin: what it does per run and what it contributes to a running
 * engine. The class's constructor takes its services by explicit
 * `@inject(token)`; the engine resolves it through tsyringe. A plugin never
 * imports another plugin, and keeps no per-run state on itself.
 */
export interface TideflowPlugin<C = any, I = any, O = any> {
  run(input: I, ctx: PluginContext<C>): Promise<O>;
  /**
   * HTTP routes the plugin contributes, registered encapsulated on the admin
   * app. Host services (the `requireAdmin` decorator) are declared with
   * fastify-plugin's `decorators`, so registration fails without them.
   */
  readonly routes?: FastifyPluginAsync;
  /** Metrics the plugin reads live at scrape time (its domain's gauges); see PluginMetricsContext. */
  metrics?(ctx: PluginMetricsContext): void;
  /**
   * What a succeeded run adds to the plugin's declared `counters` and
   * `histograms`. Called by the runner in whichever process ran the run,
   * once per run (a duplicate or retried record never counts twice); a
   * count naming an undeclared metric or other labels is dropped with a
   * warning.
   */
  countRun?(output: O, run: RunRecord): RunCount[];
  /** Checks of GET /api/health the plugin owns, each bounded by the engine. */
  readonly healthChecks?: Record<string, () => Promise<HealthCheck>>;
  /** Called once on graceful shutdown, after in-flight jobs finished. */
  shutdown?(ctx: PluginShutdownContext<C>): Promise<void>;
}

/** A plugin class: its static manifest, and a constructor the DI container calls. */
export interface PluginClass {
  new (...args: any[]): TideflowPlugin;
  readonly manifest: PluginManifest;
}
