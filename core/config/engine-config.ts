import path from 'node:path';
import os from 'node:os';
import { Type } from '@sinclair/typebox';
import { ROUTE_PATTERN } from '../workflow/workflow-schema.js';
import { parseEnvSettings } from './env-settings.js';

export interface EngineConfig {
  /** Where the private Redis's AOF, the admin token and the plugins' files live. Default ./data. */
  dataDir: string;
  /** Folder of workflow JSON files. Default ./workflows. */
  workflowsDir: string;
  host: string;
  port: number;
  /** REDIS_URL; unset means "start a private redis-server". */
  redisUrl?: string;
  /** Forbid apt installs (redis-server, and whatever plugins' services would install). */
  noInstall: boolean;
  /** Prefix of every BullMQ key; lets tests share one Redis. */
  queuePrefix: string;
  /** External plugin packages to load by name. */
  plugins: string[];
  /** Admin bearer token (TIDEFLOW_ADMIN_TOKEN). */
  adminToken?: string;
  /** Worker concurrency per process. */
  concurrency: number;
  /**
   * Routes this process serves besides the default one (`tideflow start`) or
   * instead of it (`tideflow worker --serve`): TIDEFLOW_SERVE, comma-separated.
   */
  serve: string[];
  /** TIDEFLOW_HOST_NAME, default os.hostname(): the host name stamped on the runs and records of this process. */
  hostName: string;
  /**
   * The environment the engine was configured from. Plugins and their
   * services read their own settings from it (parseEnvSettings with their
   * schema), so core knows none of them.
   */
  env: NodeJS.ProcessEnv;
}

const list = Type.String({ description: 'must be a comma-separated list' });

/** Every variable the engine itself reads (plugins declare theirs). */
export const EngineEnvSchema = Type.Object({
  TIDEFLOW_DATA_DIR: Type.Optional(Type.String()),
  TIDEFLOW_WORKFLOWS: Type.Optional(Type.String()),
  HOST: Type.Optional(Type.String()),
  PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^(rediss?|unix)://' })),
  TIDEFLOW_NO_INSTALL: Type.Optional(Type.Boolean()),
  TIDEFLOW_QUEUE_PREFIX: Type.Optional(Type.String()),
  TIDEFLOW_PLUGINS: Type.Optional(list),
  TIDEFLOW_ADMIN_TOKEN: Type.Optional(Type.String()),
  TIDEFLOW_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  TIDEFLOW_SERVE: Type.Optional(list),
  TIDEFLOW_HOST_NAME: Type.Optional(Type.String()),
});

/** The host name stamped on runs and records: TIDEFLOW_HOST_NAME, else the OS host name. */
export function defaultHostName(env: NodeJS.ProcessEnv = process.env): string {
  return env.TIDEFLOW_HOST_NAME?.trim() || os.hostname();
}

const splitList = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/**
 * The engine's configuration: the environment read through EngineEnvSchema
 * (an EnvSettingsError names every bad variable), then `overrides` (flags,
 * tests). Relative folders resolve against the working directory.
 */
export function loadEngineConfig(
  overrides: Partial<EngineConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): EngineConfig {
  const cwd = process.cwd();
  const e = parseEnvSettings(EngineEnvSchema, env);
  const cfg: EngineConfig = {
    dataDir: path.resolve(cwd, e.TIDEFLOW_DATA_DIR ?? 'data'),
    workflowsDir: path.resolve(cwd, e.TIDEFLOW_WORKFLOWS ?? 'workflows'),
    host: e.HOST ?? '127.0.0.1',
    port: e.PORT ?? 3000,
    redisUrl: e.REDIS_URL,
    noInstall: e.TIDEFLOW_NO_INSTALL ?? false,
    queuePrefix: e.TIDEFLOW_QUEUE_PREFIX ?? 'tideflow',
    plugins: splitList(e.TIDEFLOW_PLUGINS),
    adminToken: e.TIDEFLOW_ADMIN_TOKEN,
    concurrency: e.TIDEFLOW_CONCURRENCY ?? 8,
    serve: splitList(e.TIDEFLOW_SERVE),
    hostName: defaultHostName(env),
    env,
    ...overrides,
  };
  if (overrides.dataDir) cfg.dataDir = path.resolve(cwd, overrides.dataDir);
  if (overrides.workflowsDir) cfg.workflowsDir = path.resolve(cwd, overrides.workflowsDir);
  const route = new RegExp(ROUTE_PATTERN);
  for (const r of cfg.serve) if (!route.test(r)) throw new Error(`route "${r}" (TIDEFLOW_SERVE / --serve) must match ${ROUTE_PATTERN}`);
  return cfg;
}
