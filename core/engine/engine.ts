import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import { Registry } from 'prom-client';
import { buildAdminApp } from '../api/admin-app.js';
import { resolveAdminToken } from '../api/auth/admin-token.js';
import { isLoopbackHost } from '../util/loopback-host.js';
import type { EngineConfig } from '../config/engine-config.js';
import type { EngineControl } from '../control/engine-control.js';
import { RedisEngineControl } from '../control/redis-engine-control.js';
import { createContainer } from '../di/container.js';
import { Tokens } from '../di/tokens.js';
import { RunHistory } from '../history/run-history.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { PluginClass } from '../plugin/plugin.js';
import { PluginRegistry } from '../plugin/plugin-registry.js';
import { JobRunner } from '../runner/job-runner.js';
import type { RunJobData } from '../runner/run-job-data.js';
import { PauseStore } from '../scheduler/pause-store.js';
import { RUN_QUEUE } from '../scheduler/run-ids.js';
import { SchedulerSync } from '../scheduler/scheduler-sync.js';
import { SchedulerWatchdog, type WatchdogOptions } from '../scheduler/scheduler-watchdog.js';
import { createDockerClient, ensureDockerEngine } from '../services/docker-engine.js';
import { EmbeddedRedis } from '../services/embedded-redis.js';
import type { RecordStore } from '../store/record-store.js';
import { openRecordStore } from '../store/sqlite-record-store.js';
import { WorkflowCatalog, type CatalogEntry } from '../workflow/workflow-catalog.js';
import { displayPath, loadWorkflowDir } from '../workflow/workflow-loader.js';
import { engineHealthChecks } from './engine-health.js';
import { removeEngineInfo, writeEngineInfo } from './engine-info.js';
import { WorkflowWatcher } from '../workflow/workflow-watcher.js';

export interface EngineOptions {
  config: EngineConfig;
  logger?: Logger;
  /** 'all' (tideflow start): API, schedules and workers. 'worker': only runs jobs. */
  role?: 'all' | 'worker';
  /** Load plugins/*. Default true. */
  builtinPlugins?: boolean;
  /** Further plugin classes (tests, embedding). */
  plugins?: PluginClass[];
  /** Serve the admin API. Default: role 'all'. */
  api?: boolean;
  /** Make sure a Docker engine answers at start (start/install dockerd if needed). Default true. */
  ensureDocker?: boolean;
  /** Watch the workflows folder. Default: role 'all'. */
  watch?: boolean;
  watchdog?: WatchdogOptions | false;
  /** How long running jobs may take to finish on stop. Default 30 s. */
  shutdownTimeoutMs?: number;
}

/**
 * One tideflow process: Redis (embedded when REDIS_URL is unset), plugins by
 * DI, the workflows published and reconciled with BullMQ schedulers, the
 * runner, the watchdog, the file watcher and the admin API.
 */
export class Engine {
  readonly config: EngineConfig;
  readonly log: Logger;
  private readonly role: 'all' | 'worker';
  private embeddedRedis?: EmbeddedRedis;
  private redis?: Redis;
  private workerConnection?: Redis;
  private historyConnection?: Redis;
  private queue?: Queue<RunJobData>;
  private store?: RecordStore;
  private docker?: Docker;
  private watcher?: WorkflowWatcher;
  private watchdogInstance?: SchedulerWatchdog;
  private sync?: SchedulerSync;
  private catalogInstance?: WorkflowCatalog;
  private pauses?: PauseStore;
  private stopping?: Promise<void>;
  container?: DependencyContainer;
  registry?: PluginRegistry;
  runner?: JobRunner;
  control?: RedisEngineControl;
  app?: FastifyInstance;
  /** Base URL of the admin API once listening. */
  url?: string;
  redisUrl?: string;
  adminToken?: string;

  constructor(private readonly opts: EngineOptions) {
    this.config = opts.config;
    this.role = opts.role ?? 'all';
    this.log = opts.logger ?? createLogger();
  }

  get catalog(): WorkflowCatalog {
    if (!this.catalogInstance) throw new Error('engine not started');
    return this.catalogInstance;
  }

  get watchdog(): SchedulerWatchdog | undefined {
    return this.watchdogInstance;
  }

  async start(): Promise<this> {
    const { config, log } = this;
    const t0 = Date.now();
    mkdirSync(config.dataDir, { recursive: true });
    const progress = (m: string) => log.info(m);

    this.redisUrl = config.redisUrl;
    if (!this.redisUrl) {
      this.embeddedRedis = new EmbeddedRedis({ dir: path.join(config.dataDir, 'redis'), noInstall: config.noInstall, log: progress });
      this.redisUrl = await this.embeddedRedis.start();
    }
    this.redis = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.workerConnection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });

    if (this.opts.ensureDocker ?? true) {
      this.docker = (await ensureDockerEngine({ dockerHost: config.dockerHost, logDir: config.dataDir, noInstall: config.noInstall, log: progress })).docker;
    } else {
      this.docker = createDockerClient(config.dockerHost);
    }

    const prefix = config.queuePrefix;
    // Cap the events stream: BullMQ keeps it unbounded otherwise (platform notes).
    this.queue = new Queue<RunJobData>(RUN_QUEUE, { connection: this.redis, prefix, streams: { events: { maxLen: 1000 } } });
    this.catalogInstance = new WorkflowCatalog(this.redis, prefix);
    this.pauses = new PauseStore(this.redis, prefix);
    // Auto-pipelining batches the bookkeeping of concurrent runs into shared round trips.
    this.historyConnection = new Redis(this.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
    const history = new RunHistory(this.historyConnection, prefix);
    this.sync = new SchedulerSync(this.queue, log);

    const metricsRegistry = new Registry();
    this.container = createContainer({
      config,
      logger: log,
      redis: this.redis,
      docker: this.docker,
      extra: [[Tokens.Metrics, metricsRegistry]],
    });
    // Opened on first use: a worker whose jobs never touch the store never opens it.
    this.container.register(Tokens.RecordStore, {
      useFactory: instanceCachingFactory(() => (this.store = openRecordStore(config.dataDir))),
    });
    this.registry = new PluginRegistry(this.container);
    if (this.opts.builtinPlugins ?? true) await this.registry.registerBuiltins();
    await this.registry.registerPackages(config.plugins);
    for (const cls of this.opts.plugins ?? []) this.registry.register(cls, 'embedded');
    log.info(`plugins: ${this.registry.names().join(', ')}`);

    this.control = new RedisEngineControl({
      queue: this.queue,
      catalog: this.catalogInstance,
      pauses: this.pauses,
      history,
      sync: this.sync,
      healthChecks: engineHealthChecks({
        redis: this.redis,
        docker: this.docker,
        watchdog: () => this.watchdogInstance,
        prefix,
        store: () => this.container!.resolve<RecordStore>(Tokens.RecordStore),
      }),
    });

    if (this.role === 'all') {
      await this.reload();
      if (this.opts.watch ?? true) {
        this.watcher = new WorkflowWatcher(config.workflowsDir, () => this.reload());
        this.watcher.start();
      }
      if (this.opts.watchdog !== false) {
        this.watchdogInstance = new SchedulerWatchdog(
          this.queue, this.redis, prefix, this.sync, () => this.catalog.list(true), this.pauses, log, this.opts.watchdog || {},
        );
        this.watchdogInstance.start();
      }
    }

    this.runner = new JobRunner({
      connection: this.workerConnection,
      prefix,
      queue: this.queue,
      catalog: this.catalogInstance,
      plugins: this.registry,
      history,
      pauses: this.pauses,
      log,
      concurrency: config.concurrency,
    });
    this.runner.start();

    if (this.opts.api ?? this.role === 'all') await this.startApi(metricsRegistry);
    if (this.role === 'all') {
      writeEngineInfo(config.dataDir, { pid: process.pid, redisUrl: this.redisUrl, apiUrl: this.url, queuePrefix: prefix, startedAt: Date.now() });
    }
    log.info(`tideflow ${this.role === 'all' ? 'engine' : 'worker'} ready in ${Date.now() - t0} ms${this.url ? `: ${this.url}` : ''}`);
    return this;
  }

  private async startApi(metricsRegistry: Registry): Promise<void> {
    const { config } = this;
    if (config.openLogIngest && !isLoopbackHost(config.host)) {
      throw new Error(`TIDEFLOW_OPEN_LOG_INGEST=1 accepts logs without a token: allowed only on a loopback HOST, not ${config.host}`);
    }
    const { token } = await resolveAdminToken({ configured: config.adminToken, dataDir: config.dataDir, host: config.host, log: this.log });
    this.adminToken = token;
    const queue = this.queue!;
    this.app = await buildAdminApp({
      control: this.control!,
      events: this.runner,
      plugins: this.registry!.all().map((p) => p.plugin),
      adminToken: token,
      dataDir: config.dataDir,
      // Refused requests and failures are logged (one line each); ordinary requests are not.
      logger: this.log.child({ component: 'api' }),
      metricsRegistry,
      queueCounts: async () => queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'),
    });
    const address = await this.app.listen({ host: config.host, port: config.port });
    this.url = address;
  }

  /** Loads the workflow files, keeps the last good definition of a broken file, publishes, reconciles. */
  async reload(): Promise<void> {
    const { log, config } = this;
    const loaded = loadWorkflowDir(config.workflowsDir, this.registry!);
    const previous = await this.catalog.list(true);
    const entries: CatalogEntry[] = loaded.workflows.map((workflow) => ({ workflow }));
    for (const file of loaded.failedFiles) {
      const errors = loaded.errors.filter((e) => e.file === displayPath(file)).map(String);
      for (const e of errors) log.error(e);
      const last = previous.find((p) => path.resolve(p.workflow.file) === path.resolve(file));
      if (last && !entries.some((e) => e.workflow.name === last.workflow.name)) {
        log.warn(`${displayPath(file)}: keeping the last good definition of "${last.workflow.name}" running`);
        entries.push({ workflow: last.workflow, error: errors.join('\n') });
      }
    }
    await this.catalog.publish(entries);
    await this.sync!.reconcile(entries, await this.pauses!.snapshot());
    log.info(`workflows: ${entries.map((e) => `${e.workflow.name} (${Object.keys(e.workflow.jobs).length} jobs)`).join(', ') || 'none'}`);
  }

  /** A forced exit is coming: stop the child processes we started, now. */
  abandon(): void {
    this.embeddedRedis?.killNow();
  }

  /** Graceful: stop taking jobs, let running ones finish (bounded), run plugin shutdowns, close. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { log } = this;
    log.info('stopping: finishing running jobs ...');
    await this.watcher?.stop();
    await this.watchdogInstance?.stop();
    await this.app?.close();
    await this.runner?.close(this.opts.shutdownTimeoutMs ?? 30_000);
    if (this.role === 'all' && this.registry && this.catalogInstance) await this.shutdownPlugins();
    await this.queue?.close();
    await this.store?.close();
    this.redis?.disconnect();
    this.workerConnection?.disconnect();
    this.historyConnection?.disconnect();
    await this.embeddedRedis?.stop();
    if (this.role === 'all') removeEngineInfo(this.config.dataDir);
    log.info('stopped');
  }

  private async shutdownPlugins(): Promise<void> {
    const entries = await this.catalog.list(true).catch(() => [] as CatalogEntry[]);
    for (const { plugin } of this.registry!.all()) {
      if (!plugin.shutdown) continue;
      const jobs = entries.flatMap(({ workflow }) =>
        Object.values(workflow.jobs).filter((j) => j.plugin === plugin.name).map((j) => ({ workflow: workflow.name, job: j.name, config: j.config })),
      );
      if (!jobs.length) continue;
      try {
        await plugin.shutdown({ jobs, keepContainers: this.config.keepContainers, log: this.log.child({ plugin: plugin.name }) });
      } catch (err) {
        this.log.error(`plugin ${plugin.name} shutdown failed: ${(err as Error).message}`);
      }
    }
  }

  /** The control surface (API, CLI, tests). */
  get engineControl(): EngineControl {
    if (!this.control) throw new Error('engine not started');
    return this.control;
  }
}
