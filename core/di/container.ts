import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { Redis } from 'ioredis';
import { Tokens, systemClock, type Clock } from './tokens.js';
import type { EngineConfig } from '../config/engine-config.js';
import type { Logger } from '../logging/logger.js';
import { EngineKeys } from '../redis/engine-keys.js';

export interface ContainerServices {
  config: EngineConfig;
  logger: Logger;
  redis?: Redis;
  clock?: Clock;
  /** Any further token -> value registrations (Metrics, a test's stand-ins for plugin services, ...). */
  extra?: Array<[symbol, unknown]>;
}

/** A child container per engine, so two engines in one process (tests) never share state. */
export function createContainer(services: ContainerServices): DependencyContainer {
  const c = rootContainer.createChildContainer();
  c.registerInstance(Tokens.Config, services.config);
  c.registerInstance(Tokens.Logger, services.logger);
  c.registerInstance(Tokens.Clock, services.clock ?? systemClock);
  c.registerInstance(Tokens.Keys, new EngineKeys(services.config.queuePrefix));
  if (services.redis) c.registerInstance(Tokens.Redis, services.redis);
  for (const [token, value] of services.extra ?? []) c.registerInstance(token, value);
  return c;
}
