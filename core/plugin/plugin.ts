import type { TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import type { RunRecord } from '../history/run-record.js';
import type { Logger } from '../logging/logger.js';

export type RunTrigger = 'schedule' | 'manual' | 'chain';

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
  /** Every job of the loaded workflows that uses this plugin. */
  jobs: Array<{ workflow: string; job: string; config: C }>;
  /** `tideflow start --keep-containers`. */
  keepContainers: boolean;
  log: Logger;
}

/**
 * What a plugin gets to contribute to GET /metrics (the process serving the
 * admin API calls `metrics` once, before it listens).
 */
export interface PluginMetricsContext<O = unknown> {
  /**
   * The engine's prom-client registry behind /metrics. Register metrics on it
   * (`registers: [ctx.registry]`), named `tideflow_<what>_<unit>`; read
   * live state in a gauge's `collect()`. A name already taken fails startup.
   */
  readonly registry: Registry;
  /** The loaded jobs that use this plugin, read when called (e.g. at scrape time). */
  jobs(): Promise<Array<{ workflow: string; job: string }>>;
  /** Called with the output of every succeeded run of this plugin executed in this process. */
  onRunSucceeded(listener: (output: O, run: RunRecord) => void): void;
  readonly log: Logger;
}

/**
 * The plugin contract. A plugin is a class whose constructor takes its
 * services by explicit `@inject(Tokens.X)`; the engine resolves it through
 * tsyringe. A plugin never imports another plugin.
 */
export interface TideflowPlugin<C = any, I = any, O = any> {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  /** TypeBox/JSON Schema of the job `config`; defaults in it are applied on load. */
  readonly configSchema: TSchema;
  run(input: I, ctx: PluginContext<C>): Promise<O>;
  /** HTTP routes the plugin contributes; registered encapsulated on the admin app. */
  readonly routes?: FastifyPluginAsync;
  /** Metrics the plugin owns (its domain's gauges and counters); see PluginMetricsContext. */
  metrics?(ctx: PluginMetricsContext<O>): void;
  /** Called once on graceful shutdown, after in-flight jobs finished. */
  shutdown?(ctx: PluginShutdownContext<C>): Promise<void>;
}

export type PluginClass = new (...args: any[]) => TideflowPlugin;
