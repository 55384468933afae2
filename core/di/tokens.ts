/**
 * Injection tokens of what the engine itself provides to every plugin
 * (plugins' own services bring their own tokens: see ServiceProvider).
 * Plugins name these in explicit `@inject(Tokens.X)` decorators: tsyringe's
 * metadata-based injection silently breaks under esbuild/tsx (platform notes).
 */
export const Tokens = {
  /** EngineConfig: data dir, ports, flags. */
  Config: Symbol.for('tideflow.Config'),
  /** ioredis connection for plain commands (never a blocking one). */
  Redis: Symbol.for('tideflow.Redis'),
  /** Clock: `now()` in ms, replaceable in tests. */
  Clock: Symbol.for('tideflow.Clock'),
  /** Root Logger; plugins get a per-run child in PluginContext.log. */
  Logger: Symbol.for('tideflow.Logger'),
  /** EngineKeys: every Redis key of this engine (plugins take theirs from `keys.plugin(name)`). */
  Keys: Symbol.for('tideflow.Keys'),
  /** prom-client Registry for /metrics. */
  Metrics: Symbol.for('tideflow.Metrics'),
} as const;

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
