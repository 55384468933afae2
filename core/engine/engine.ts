import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import type { DependencyContainer } from 'tsyringe';
import { Registry } from 'prom-client';
import { buildAdminApp } from '../api/admin-app.js';
import { registerRouteMetrics } from '../api/metrics/route-metrics.js';
import { resolveAdminToken } from '../api/auth/admin-token.js';
import type { EngineConfig } from '../config/engine-config.js';
import type { EngineControl } from '../control/engine-control.js';
import { RedisEngineControl } from '../control/redis-engine-control.js';
import { ClusterEventHub } from '../control/cluster-event-hub.js';
import { publishWorkflowChange } from '../control/cluster-event.js';
import { createContainer } from '../di/container.js';
import { Tokens } from '../di/tokens.js';
import { RunHistory } from '../history/run-history.js';
import { errorMessage } from '../util/error-message.js';
import { createLogger, type Logger } from '../logging/logger.js';
import type { PluginClass } from '../plugin/plugin.js';
import { PluginRegistry, type LazyPluginModule } from '../plugin/plugin-registry.js';
import type { ServiceInstance } from '../plugin/service-provider.js';
import { EngineKeys } from '../redis/engine-keys.js';
import { RedisClusterMetricStore } from '../metrics/redis-cluster-metric-store.js';
import { RunIncrements } from '../metrics/run-metrics.js';
import { RunLedger } from '../runner/run-ledger.js';
import { JobRunner } from '../runner/job-runner.js';
import { OverlapGuard } from '../runner/overlap-guard.js';
import { RunCancellation } from '../runner/run-cancellation.js';
import { RunQueues } from '../queues/run-queues.js';
import { PauseStore } from '../scheduler/pause-store.js';
import { SchedulerSync } from '../scheduler/scheduler-sync.js';
import { SchedulerWatchdog, type WatchdogOptions } from '../scheduler/scheduler-watchdog.js';
import { EmbeddedRedis } from '../services/embedded-redis.js';
import { WorkflowCatalog, type CatalogEntry } from '../workflow/workflow-catalog.js';
import { DEFAULT_ROUTE, routeOf } from '../workflow/loaded-workflow.js';
import { displayPath, loadWorkflowDir } from '../workflow/workflow-loader.js';
import { boundedHealthChecks } from '../health/health-check.js';
import { HEALTH_REDIS_OPTIONS, engineHealthChecks } from './engine-health.js';
import { assertStartConfig } from '../config/start-checks.js';
import { RedisOutageLog } from '../services/redis-outage-log.js';
import { removeEngineInfo, writeEngineInfo } from './engine-info.js';
import { WorkflowWatcher } from '../workflow/workflow-watcher.js';

export interface EngineOptions {
  config: EngineConfig;
  logger?: Logger;
  /** 'all' (tideflow start): API, schedules and workers. 'worker': only runs jobs. */
  role?: 'all' | 'worker';
  /** Modules default-exporting plugin classes: the built-ins, chosen by the composition root (cli/builtin-plugins.ts). */
  pluginModules?: LazyPluginModule[];
  /** Further plugin classes (tests, embedding). */
  plugins?: PluginClass[];
  /** Serve the admin API. Default: role 'all'. */
  api?: boolean;
  /** Start the plugins' services at start (e.g. make sure a Docker engine answers, starting dockerd if needed). Default true. */
  startServices?: boolean;
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
  private healthConnection?: Redis;
  private queues?: RunQueues;
  private services: ServiceInstance[] = [];
  private cancellation?: RunCancellation;
  private watcher?: WorkflowWatcher;
  private watchdogInstance?: SchedulerWatchdog;
  private sync?: SchedulerSync;
  private catalogInstance?: WorkflowCatalog;
  private pauses?: PauseStore;
  private history?: RunHistory;
  private clusterMetrics?: RedisClusterMetricStore;
  private events?: ClusterEventHub;
  private outage?: RedisOutageLog;
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
    const serveApi = this.opts.api ?? this.role === 'all';
    // Plugins are read (manifests only, nothing created) before the start checks: they may refuse too.
    const registry = (this.registry = new PluginRegistry());
    await registry.registerModules(this.opts.pluginModules ?? []);
    await registry.registerPackages(config.plugins);
    for (const cls of this.opts.plugins ?? []) registry.register(cls, 'embedded');
    // Every refusal comes before anything touches the data dir, Redis or a plugin's services.
    assertStartConfig(config, { api: serveApi }, registry.all().flatMap(({ manifest }) => manifest.startProblems?.({ env: config.env, api: serveApi, host: config.host }) ?? []));
    mkdirSync(config.dataDir, { recursive: true });
    const outage = (this.outage = new RedisOutageLog(log));
    const progress = (m: string) => log.info(m);

    this.redisUrl = config.redisUrl;
    if (!this.redisUrl) {
      this.embeddedRedis = new EmbeddedRedis({ dir: path.join(config.dataDir, 'redis'), noInstall: config.noInstall, log: progress });
      this.redisUrl = await this.embeddedRedis.start();
    }
    this.redis = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.workerConnection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.healthConnection = new Redis(this.redisUrl, HEALTH_REDIS_OPTIONS);
    outage.watchClient('main', this.redis);
    outage.watchClient('worker', this.workerConnection);
    outage.watchClient('health', this.healthConnection);

    const prefix = config.queuePrefix;
    const keys = new EngineKeys(prefix);
    this.queues = new RunQueues(this.redis, keys, (err) => outage.report('queue', err));
    this.catalogInstance = new WorkflowCatalog(this.redis, keys);
    this.pauses = new PauseStore(this.redis, keys);
    // Auto-pipelining batches the bookkeeping of concurrent runs into shared round trips.
    this.historyConnection = new Redis(this.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
    outage.watchClient('history', this.historyConnection);
    const history = (this.history = new RunHistory(this.historyConnection, keys));
    // Records of an earlier version moved in, and the bounds applied (also done every 200 saves: a cluster that ran
    // nothing for a while drops its runs past the age limit now). Neither stops a start: the history is readable either way.
    try {
      const moved = await history.moveLegacyRecords();
      if (moved) log.info(`history: moved ${moved} run records of an earlier version into ${keys.runRecords}`);
      await history.trim();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'history: could not move earlier records or apply its bounds at start');
    }
    // Counters and histograms summed over every process that runs jobs: recorded by each runner, read by /metrics.
    this.clusterMetrics = new RedisClusterMetricStore(this.historyConnection, keys);
    this.sync = new SchedulerSync(this.queues, log);

    const metricsRegistry = new Registry();
    this.container = createContainer({ config, logger: log, redis: this.redis, extra: [[Tokens.Metrics, metricsRegistry]] });
    registry.useServices(this.container, config, log);
    this.services = await registry.provideAll();
    if (this.opts.startServices ?? true) for (const service of this.services) await service.start?.(progress);
    await registry.createAll();
    log.info(`plugins: ${registry.names().join(', ')}`);

    this.control = new RedisEngineControl({
      queues: this.queues,
      catalog: this.catalogInstance,
      pauses: this.pauses,
      history,
      sync: this.sync,
      publishCancel: (runId) => RunCancellation.publish(this.redis!, keys, runId),
      publishChange: (change) => publishWorkflowChange(this.redis!, keys, change),
      healthChecks: {
        ...engineHealthChecks({ redis: this.healthConnection, watchdog: () => this.watchdogInstance, keys }),
        ...boundedHealthChecks(Object.assign({}, ...this.services.map((sv) => sv.healthChecks ?? {}), ...registry.all().map((p) => p.instance().healthChecks ?? {}))),
      },
    });

    if (this.role === 'all') {
      await this.reload();
      if (this.opts.watch ?? true) {
        this.watcher = new WorkflowWatcher(config.workflowsDir, () => this.reload());
        this.watcher.start();
      }
      if (this.opts.watchdog !== false) {
        this.watchdogInstance = new SchedulerWatchdog(
          this.queues, this.redis, keys, this.sync, () => this.catalog.list(true), this.pauses, log, this.opts.watchdog || {},
        );
        this.watchdogInstance.start();
      }
    }

    // `tideflow start` serves the default route and any it is told to; a worker serves what it is told (default: the default route).
    const routes = this.role === 'all' || !config.serve.length ? [DEFAULT_ROUTE, ...config.serve] : config.serve;
    this.cancellation = new RunCancellation(this.historyConnection, keys, log);
    await this.cancellation.start();
    this.runner = new JobRunner({
      connection: this.workerConnection,
      prefix,
      queues: this.queues,
      routes,
      host: config.hostName,
      catalog: this.catalogInstance,
      plugins: this.registry,
      history,
      // On the workers' connection: an attempt's final write goes just before BullMQ's completion of its job, in order (see JobRunner.finish).
      ledger: new RunLedger(this.workerConnection, history, this.clusterMetrics, new RunIncrements(log), log),
      pauses: this.pauses,
      overlap: new OverlapGuard(this.historyConnection, keys),
      cancellation: this.cancellation,
      log,
      outage,
      concurrency: config.concurrency,
      name: `${this.role === 'all' ? 'engine' : 'worker'}@${hostname()}:${process.pid}`,
    });
    this.runner.start();

    if (serveApi) await this.startApi(metricsRegistry);
    if (this.role === 'all') {
      writeEngineInfo(config.dataDir, { pid: process.pid, redisUrl: this.redisUrl, apiUrl: this.url, queuePrefix: prefix, startedAt: Date.now() });
    }
    log.info(`serving route${routes.length > 1 ? 's' : ''} ${routes.join(', ')} as host ${config.hostName}`);
    log.info(`tideflow ${this.role === 'all' ? 'engine' : 'worker'} ready in ${Date.now() - t0} ms${this.url ? `: ${this.url}` : ''}`);
    return this;
  }

  private async startApi(metricsRegistry: Registry): Promise<void> {
    const { config } = this;
    const { token } = await resolveAdminToken({ configured: config.adminToken, dataDir: config.dataDir, host: config.host, log: this.log });
    this.adminToken = token;
    const queue = this.queues!.queue();
    const history = this.history!;
    // One subscriber connection for every live client of this API (made when the first one comes).
    this.events = new ClusterEventHub(this.redis!, new EngineKeys(config.queuePrefix), (sub) => this.outage?.watchClient('events', sub));
    this.app = await buildAdminApp({
      events: { feed: this.events },
      control: this.control!,
      clusterMetrics: this.clusterMetrics,
      plugins: this.registry!.all().map((p) => ({ manifest: p.manifest, plugin: p.instance() })),
      adminToken: token,
      // Refused requests and failures are logged (one line each); ordinary requests are not.
      logger: this.log.child({ component: 'api' }),
      metricsRegistry,
      env: config.env,
      // Every route's queue known at start (a route first named later shows after a restart).
      queues: await Promise.all((await this.queues!.known()).map((r) => this.queues!.queue(r))),
      queueCounts: async () => queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'),
      queuePaused: () => queue.isPaused(),
      lastSuccesses: () => history.lastSuccesses(),
    });
    registerRouteMetrics(metricsRegistry, this.queues!, () => this.queues!.known());
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
    await publishWorkflowChange(this.redis!, new EngineKeys(config.queuePrefix), { change: 'reload' }).catch(() => undefined);
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
    await this.events?.close();
    await this.runner?.close(this.opts.shutdownTimeoutMs ?? 30_000);
    await this.cancellation?.stop();
    if (this.registry && this.catalogInstance && this.runner) await this.shutdownPlugins(this.runner.routes);
    await this.queues?.close();
    for (const service of [...this.services].reverse()) await service.close?.().catch((err: unknown) => log.error(`closing a service failed: ${(err as Error).message}`));
    this.redis?.disconnect();
    this.workerConnection?.disconnect();
    this.historyConnection?.disconnect();
    this.healthConnection?.disconnect();
    // Last: everything above may still need Redis.
    await this.embeddedRedis?.stop();
    if (this.role === 'all') removeEngineInfo(this.config.dataDir);
    log.info('stopped');
  }

  /** Plugin shutdown work (final charts, container cleanup) for the jobs on the routes this process served. */
  private async shutdownPlugins(routes: string[]): Promise<void> {
    const entries = await this.catalog.list(true).catch(() => [] as CatalogEntry[]);
    for (const registered of this.registry!.all()) {
      const plugin = registered.instance();
      const name = registered.manifest.name;
      if (!plugin.shutdown) continue;
      const jobs = entries.flatMap(({ workflow }) =>
        Object.values(workflow.jobs).filter((j) => j.plugin === name && routes.includes(routeOf(j))).map((j) => ({ workflow: workflow.name, job: j.name, config: j.config })),
      );
      if (!jobs.length) continue;
      try {
        await plugin.shutdown({ jobs, log: this.log.child({ plugin: name }) });
      } catch (err) {
        this.log.error(`plugin ${name} shutdown failed: ${(err as Error).message}`);
      }
    }
  }

  /** The control surface (API, CLI, tests). */
  get engineControl(): EngineControl {
    if (!this.control) throw new Error('engine not started');
    return this.control;
  }
}
