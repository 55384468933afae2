import type { DependencyContainer } from 'tsyringe';
import type { EngineConfig } from '../config/engine-config.js';
import type { HealthCheck } from '../health/health-check.js';
import type { Logger } from '../logging/logger.js';

/** What a service provider is handed when an engine registers it. */
export interface ServiceContext {
  /** The engine's DI container: register the service's tokens on it. */
  container: DependencyContainer;
  config: EngineConfig;
  /** The environment the engine reads settings from (parse yours with core/config/env-settings.ts). */
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** A registered service: what the engine calls on it over its life. All optional. */
export interface ServiceInstance {
  /** At engine start, before jobs run: make sure what it fronts answers (may install or start it). */
  start?(progress: (message: string) => void): Promise<void>;
  /** Checks of GET /api/health (bounded by the engine). */
  healthChecks?: Record<string, () => Promise<HealthCheck>>;
  /** After the plugins' shutdown work: close what it opened. */
  close?(): Promise<void>;
}

/**
 * Something plugins inject that the engine does not know (a Docker client, a
 * database): declared by each plugin that needs it in its manifest's
 * `services`, registered once per engine (by identity) before any plugin is
 * created. `register` opens nothing (register factories); it may import
 * what it needs then, so the provider's own module stays light (it is loaded
 * with the manifests, e.g. by `tideflow validate`).
 */
export interface ServiceProvider {
  readonly name: string;
  register(ctx: ServiceContext): ServiceInstance | Promise<ServiceInstance>;
}
