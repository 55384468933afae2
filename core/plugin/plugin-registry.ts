import type { DependencyContainer } from 'tsyringe';
import type { ValidateFunction } from 'ajv';
import type { EngineConfig } from '../config/engine-config.js';
import type { Logger } from '../logging/logger.js';
import { createAjv, describeErrors, type SchemaIssue } from '../workflow/schema-validator.js';
import type { PluginClass, PluginManifest, TideflowPlugin } from './plugin.js';
import { importPluginModule } from './plugin-import.js';
import type { ServiceInstance, ServiceProvider } from './service-provider.js';

export interface RegisteredPlugin {
  readonly manifest: PluginManifest;
  readonly source: string;
  /** Validates a job's config, applying the schema's defaults to a copy. */
  validateConfig(config: unknown): { ok: true; value: unknown } | { ok: false; issues: SchemaIssue[] };
  /** The plugin, created (with its services) on first call; needs `useServices` first. */
  instance(): TideflowPlugin;
}

/** A module that provides a plugin: its default export is the plugin class. */
export type PluginModuleLoader = () => Promise<{ default?: unknown }>;

function isPluginClass(value: unknown): value is PluginClass {
  const m = (value as { manifest?: Partial<PluginManifest> } | undefined)?.manifest;
  return typeof value === 'function' && typeof m?.name === 'string' && m.name !== '' && typeof m.version === 'string' && typeof m.configSchema === 'object' && m.configSchema !== null;
}

/**
 * Plugins by name. Registering reads a plugin class's static manifest only:
 * validating workflow files and checking a start need no services and create
 * nothing. Once an engine calls `useServices`, each plugin is created on first
 * use through the DI container, after the services its manifest declares.
 */
export class PluginRegistry {
  private readonly plugins = new Map<string, RegisteredPlugin>();
  private readonly ajv = createAjv();
  private readonly services = new Map<ServiceProvider, ServiceInstance>();
  private host?: { container: DependencyContainer; config: EngineConfig; log: Logger };

  register(cls: unknown, source: string): RegisteredPlugin {
    if (!isPluginClass(cls)) {
      throw new Error(`${source}: not a tideflow plugin class (needs a static manifest with name, version and configSchema, and a run() method)`);
    }
    const manifest = cls.manifest;
    if (typeof cls.prototype?.run !== 'function') throw new Error(`${source}: plugin "${manifest.name}" has no run() method`);
    if (this.plugins.has(manifest.name)) {
      throw new Error(`${source}: a plugin named "${manifest.name}" is already registered (${this.plugins.get(manifest.name)!.source})`);
    }
    const validate: ValidateFunction = this.ajv.compile(manifest.configSchema);
    let instance: TideflowPlugin | undefined;
    const entry: RegisteredPlugin = {
      manifest,
      source,
      validateConfig: (config) => {
        const copy = structuredClone(config ?? {});
        return validate(copy) ? { ok: true, value: copy } : { ok: false, issues: describeErrors(validate.errors, copy) };
      },
      instance: () => {
        if (instance) return instance;
        if (!this.host) throw new Error(`plugin ${manifest.name}: no services yet (an engine calls useServices before creating plugins)`);
        for (const provider of manifest.services ?? []) this.provide(provider);
        instance = this.host.container.resolve(cls);
        return instance;
      },
    };
    this.plugins.set(manifest.name, entry);
    return entry;
  }

  /** Registers the plugin classes default-exported by these modules (the built-ins, loaded by the composition root). */
  async registerModules(modules: Array<{ source: string; load: PluginModuleLoader }>): Promise<void> {
    for (const { source, load } of modules) this.register((await load()).default, source);
  }

  /** Imports external plugins: package names, or paths (relative to the working directory) to .js or .ts files. */
  async registerPackages(packages: string[]): Promise<void> {
    for (const pkg of packages) {
      let mod: { default?: unknown };
      try {
        mod = (await importPluginModule(pkg)) as { default?: unknown };
      } catch (err) {
        throw new Error(`plugin package "${pkg}" could not be loaded: ${(err as Error).message}`);
      }
      if (typeof mod.default !== 'function') throw new Error(`plugin package "${pkg}" must default-export a plugin class`);
      this.register(mod.default, pkg);
    }
  }

  /** Where plugins and their services are created from now on. */
  useServices(container: DependencyContainer, config: EngineConfig, log: Logger): void {
    this.host = { container, config, log };
  }

  /** Registers every service the plugins declare (once each), so the engine can start and health-check them. */
  provideAll(): ServiceInstance[] {
    for (const { manifest } of this.plugins.values()) for (const p of manifest.services ?? []) this.provide(p);
    return [...this.services.values()];
  }

  /** The services registered so far, in registration order. */
  serviceInstances(): Array<{ name: string; service: ServiceInstance }> {
    return [...this.services].map(([p, service]) => ({ name: p.name, service }));
  }

  private provide(provider: ServiceProvider): ServiceInstance {
    let s = this.services.get(provider);
    if (!s) {
      const { container, config, log } = this.host!;
      try {
        s = provider.register({ container, config, env: config.env, log: log.child({ service: provider.name }) });
      } catch (err) {
        throw new Error(`service ${provider.name}: ${(err as Error).message}`, { cause: err });
      }
      this.services.set(provider, s);
    }
    return s;
  }

  get(name: string): RegisteredPlugin | undefined {
    return this.plugins.get(name);
  }

  names(): string[] {
    return [...this.plugins.keys()].sort();
  }

  all(): RegisteredPlugin[] {
    return [...this.plugins.values()];
  }
}
