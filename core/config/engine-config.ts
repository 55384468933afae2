import path from 'node:path';
import os from 'node:os';
import { ROUTE_PATTERN } from '../workflow/workflow-schema.js';

export interface EngineConfig {
  /** Where Redis AOF, SQLite, charts, the admin token live. Default ./data. */
  dataDir: string;
  /** Folder of workflow JSON files. Default ./workflows. */
  workflowsDir: string;
  host: string;
  port: number;
  /** REDIS_URL; unset means "start a private redis-server". */
  redisUrl?: string;
  /** DOCKER_HOST or the default socket. */
  dockerHost?: string;
  /** Remove managed containers on shutdown unless set. */
  keepContainers: boolean;
  /** Forbid apt installs of redis-server / docker.io. */
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
   * Accept the course project's `POST /logs` without a token (an existing
   * course daemon sends none). TIDEFLOW_OPEN_LOG_INGEST=1; loopback hosts only.
   */
  openLogIngest: boolean;
  /** TIDEFLOW_DATABASE_URL: postgres://... puts the record store in PostgreSQL (shared by hosts); unset: SQLite in dataDir. */
  databaseUrl?: string;
  /**
   * Routes this process serves besides the default one (`tideflow start`) or
   * instead of it (`tideflow worker --serve`): TIDEFLOW_SERVE, comma-separated.
   */
  serve: string[];
  /** TIDEFLOW_HOST_NAME, default os.hostname(): the host name stamped on the runs and records of this process. */
  hostName: string;
}

/** The host name stamped on runs and records: TIDEFLOW_HOST_NAME, else the OS host name. */
export function defaultHostName(env: NodeJS.ProcessEnv = process.env): string {
  return env.TIDEFLOW_HOST_NAME?.trim() || os.hostname();
}

export function loadEngineConfig(
  overrides: Partial<EngineConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): EngineConfig {
  const cwd = process.cwd();
  const cfg: EngineConfig = {
    dataDir: path.resolve(cwd, env.TIDEFLOW_DATA_DIR ?? 'data'),
    workflowsDir: path.resolve(cwd, env.TIDEFLOW_WORKFLOWS ?? 'workflows'),
    host: env.HOST ?? '127.0.0.1',
    port: env.PORT ? Number(env.PORT) : 3000,
    redisUrl: env.REDIS_URL || undefined,
    dockerHost: env.DOCKER_HOST || undefined,
    keepContainers: false,
    noInstall: env.TIDEFLOW_NO_INSTALL === '1',
    queuePrefix: env.TIDEFLOW_QUEUE_PREFIX ?? 'tideflow',
    plugins: (env.TIDEFLOW_PLUGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    adminToken: env.TIDEFLOW_ADMIN_TOKEN || undefined,
    concurrency: env.TIDEFLOW_CONCURRENCY ? Number(env.TIDEFLOW_CONCURRENCY) : 8,
    openLogIngest: env.TIDEFLOW_OPEN_LOG_INGEST === '1',
    databaseUrl: env.TIDEFLOW_DATABASE_URL || undefined,
    serve: (env.TIDEFLOW_SERVE ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    hostName: defaultHostName(env),
    ...overrides,
  };
  if (overrides.dataDir) cfg.dataDir = path.resolve(cwd, overrides.dataDir);
  if (overrides.workflowsDir) cfg.workflowsDir = path.resolve(cwd, overrides.workflowsDir);
  const route = new RegExp(ROUTE_PATTERN);
  for (const r of cfg.serve) if (!route.test(r)) throw new Error(`route "${r}" (TIDEFLOW_SERVE / --serve) must match ${ROUTE_PATTERN}`);
  if (!Number.isInteger(cfg.port) || cfg.port < 0 || cfg.port > 65535) {
    throw new Error(`PORT must be an integer 0..65535, got ${String(env.PORT ?? cfg.port)}`);
  }
  return cfg;
}
