/**
 * Every Redis key tideflow itself writes, built in this one place (as
 * BullMQ's QueueKeys, src/classes/queue-keys.ts, builds a queue's keys).
 * All live under the queue prefix, next to BullMQ's own keys, which BullMQ
 * builds (`<prefix>:<queue name>:<type>`; our queues are `runs` and
 * `runs-<route>`, so none of the names below is one of BullMQ's).
 *
 * The engine's key names are those of earlier versions: an existing Redis
 * keeps its history, catalog and pauses.
 */
export class EngineKeys {
  constructor(
    /** The queue prefix (config `queuePrefix`); also the prefix of BullMQ's queues. */
    readonly prefix: string,
  ) {}

  /** `<prefix>:<part>:<part>...` */
  toKey(...parts: string[]): string {
    // Built by hand, not by join: a run's own keys are built on every write.
    let key = this.prefix;
    for (const part of parts) key += `:${part}`;
    return key;
  }

  /** Hash: workflow name -> published catalog entry (JSON). */
  get workflows(): string {
    return this.toKey('workflows');
  }

  /** Hash: pause target (`*`, a workflow, or `<workflow>/<job>`) -> pause time. */
  get paused(): string {
    return this.toKey('paused');
  }

  /**
   * Hash: run id -> its record (JSON), bounded by the history's trim. One
   * hash, not a key per run: a key per run grew Redis's keyspace by one entry
   * (and one in its expiry table) per run, which made every command of the
   * cluster dearer (see RunHistory).
   */
  get runRecords(): string {
    return this.toKey('run-records');
  }

  /** String: one run record (JSON) as versions before `runRecords` kept it, expiring by itself; moved into that hash at start. */
  legacyRun(id: string): string {
    return this.toKey('run', id);
  }

  /** List: one run's log lines (JSON each, the newest kept), expiring with its record. */
  runLog(id: string): string {
    return this.toKey('run-log', id);
  }

  /** String: how many lines one run has logged in all (so the API can say how many were dropped), expiring with its record. */
  runLogCount(id: string): string {
    return this.toKey('run-log-count', id);
  }

  /** Hash: one run's capped `input` and `output` and a summary per ended attempt (`attempt:<n>`), expiring with its record. */
  runDetails(id: string): string {
    return this.toKey('run-details', id);
  }

  /** Sorted set: run ids by queue time (the history's index). */
  get runs(): string {
    return this.toKey('runs');
  }

  /** Hash: `<workflow>/<job>` -> id of its last run. */
  get lastRun(): string {
    return this.toKey('last-run');
  }

  /** Hash: `<workflow>/<job>` -> finish time (ms) of its last succeeded run. */
  get lastSuccess(): string {
    return this.toKey('last-success');
  }

  /** Set: every route a definition has used. */
  get routes(): string {
    return this.toKey('routes');
  }

  /**
   * Sorted set: the runs of one job going on now (run id -> lease expiry in ms),
   * for its overlap policy and its concurrency limit; also a lease handed to
   * the fire waiting behind the running one (overlap "queue").
   */
  activeRuns(jobKey: string): string {
    return this.toKey('active-runs', jobKey);
  }

  /** Sorted set: the runs of all the jobs of one workflow going on now (run id -> lease expiry in ms), for its concurrency limit. */
  workflowActiveRuns(workflow: string): string {
    return this.toKey('workflow-active-runs', workflow);
  }

  /**
   * String: the one scheduled fire of a job waiting for the running one
   * (overlap "queue" / "cancel-previous"), as `<run id>|<waiting since ms>|<fire time ms>`.
   */
  waitingFire(jobKey: string): string {
    return this.toKey('waiting-fire', jobKey);
  }

  /** Pub/sub channel: ids of runs to cancel, heard by every runner (the one running it aborts it). */
  get cancelChannel(): string {
    return this.toKey('cancel');
  }

  /**
   * Pub/sub channel: what changed in the cluster, as JSON, for the live API
   * (GET /api/events): every saved run record (published by the history's
   * save script, whichever process saved it; the records of one batch in
   * one message, a line each) and workflow/pause changes.
   */
  get eventsChannel(): string {
    return this.toKey('events');
  }

  /** String: the scheduler watchdog's last status (JSON), for processes without a watchdog. */
  get watchdog(): string {
    return this.toKey('watchdog');
  }

  /**
   * Hash of one sample name of a cluster-wide metric (e.g. `tideflow_runs_total`,
   * `tideflow_run_duration_seconds_bucket`): field = its label set (JSON of the
   * sorted [name, value] pairs), value = the sample's value summed over every
   * process that runs jobs.
   */
  metricSamples(sample: string): string {
    return this.toKey('metrics', sample);
  }

  /** The keys of one plugin: `<prefix>:plugin:<name>:...`, so plugins never collide with the engine or each other. */
  plugin(name: string): PluginKeys {
    return new PluginKeys(this.toKey('plugin', name));
  }
}

/** Key builder of one plugin, from EngineKeys.plugin(name). */
export class PluginKeys {
  constructor(
    /** `<prefix>:plugin:<name>` */
    readonly base: string,
  ) {}

  /** `<prefix>:plugin:<name>:<part>:<part>...` */
  key(...parts: string[]): string {
    return [this.base, ...parts].join(':');
  }
}
