import type { Redis } from 'ioredis';
import type { EngineKeys } from '../redis/engine-keys.js';
import type { LoadedWorkflow } from './loaded-workflow.js';

export interface CatalogEntry {
  workflow: LoadedWorkflow;
  /** Set when the file's latest edit was refused and this is the last good definition. */
  error?: string;
}

/**
 * The running workflow definitions, published in Redis by the engine that
 * loaded them. Workers on other hosts and the CLI read them from there, so
 * they need no copy of the files.
 */
export class WorkflowCatalog {
  private cache?: { at: number; entries: Map<string, CatalogEntry> };

  constructor(
    private readonly redis: Redis,
    private readonly keys: EngineKeys,
    /** How long a read is reused (the runner reads on every job). */
    private readonly cacheMs = 1000,
  ) {}

  private get key(): string {
    return this.keys.workflows;
  }

  /** Replaces the published set with these definitions. */
  async publish(entries: CatalogEntry[]): Promise<void> {
    const multi = this.redis.multi().del(this.key);
    for (const e of entries) multi.hset(this.key, e.workflow.name, JSON.stringify(e));
    await multi.exec();
    this.cache = { at: Date.now(), entries: new Map(entries.map((e) => [e.workflow.name, e])) };
  }

  async entries(fresh = false): Promise<Map<string, CatalogEntry>> {
    if (!fresh && this.cache && Date.now() - this.cache.at < this.cacheMs) return this.cache.entries;
    const raw = await this.redis.hgetall(this.key);
    const entries = new Map<string, CatalogEntry>();
    for (const [name, json] of Object.entries(raw)) entries.set(name, JSON.parse(json) as CatalogEntry);
    this.cache = { at: Date.now(), entries };
    return entries;
  }

  /** The entry from a read still fresh enough to reuse, without an await (the runner's per-job path); undefined otherwise. */
  cached(name: string): CatalogEntry | undefined {
    return this.cache && Date.now() - this.cache.at < this.cacheMs ? this.cache.entries.get(name) : undefined;
  }

  async get(name: string, fresh = false): Promise<CatalogEntry | undefined> {
    return (await this.entries(fresh)).get(name);
  }

  async list(fresh = false): Promise<CatalogEntry[]> {
    return [...(await this.entries(fresh)).values()].sort((a, b) => a.workflow.name.localeCompare(b.workflow.name));
  }
}
