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
  /** Loads the plugin's class and creates it, with its services (once; `useServices` first). */
  create(): Promise<TideflowPlugin>;
  /** The created plugin; throws before `create` (the engine creates every plugin at start). */
  instance(): TideflowPlugin;
}

/** A module that provides a plugin: its default export is the plugin class. */
export type PluginModuleLoader = () => Promise<{ default?: unknown }>;

/** A plugin known by its manifest now and by its class only when created (the built-ins: tideflow validate loads no plugin code). */
export interface LazyPluginModule {
  source: string;
  /** A light module default-exporting the manifest. */
  manifest: () => Promise<{ default: PluginManifest }>;
  /** The module default-exporting the plugin class (whose static manifest is that one). */
  load: PluginModuleLoader;
}

function isPluginClass(value: unknown): value is PluginClass {
  return typeof value === 'function' && isManifest((value as { manifest?: unknown }).manifest);
}

function isManifest(value: unknown): value is PluginManifest {
  const m = value as Partial<PluginManifest> | undefined;
  return typeof m?.name === 'string' && m.name !== '' && typeof m.version === 'string' && typeof m.configSchema === 'object' && m.configSchema !== null;
}

/**
 * Plugins by name. Registering reads a manifest only: validating workflow
 * files and checking a start need no plugin code, no services and create
 * nothing. Once an engine calls `useServices`, `create` loads each plugin's
 * class and creates it through the DI container, after the services its
 * manifest declares.
 */
export class PluginRegistry {
  private readonly plugins = new Map<string, RegisteredPlugin>();
  private readonly ajv = createAjv();
  private readonly services = new Map<ServiceProvider, Promise<ServiceInstance>>();
  private host?: { container: DependencyContainer; config: EngineConfig; log: Logger };

  /** A plugin class (tests, embedding, external packages): its static manifest. */
  register(cls: unknown, source: string): RegisteredPlugin {
    if (!isPluginClass(cls)) {
      throw new Error(`${source}: not a tideflow plugin class (needs a static manifest with name, version and configSchema, and a run() method)`);
    }
    return this.add(cls.manifest, source, async () => cls);
  }

  /** A plugin by its manifest; its class is loaded when the plugin is created. */
  registerLazy(manifest: PluginManifest, source: string, load: PluginModuleLoader): RegisteredPlugin {
    if (!isManifest(manifest)) throw new Error(`${source}: not a tideflow plugin manifest (needs name, version and configSchema)`);
    return this.add(manifest, source, async () => {
      const cls = (await load()).default;
      if (!isPluginClass(cls) || cls.manifest.name !== manifest.name) {
        throw new Error(`${source}: must default-export the class of plugin "${manifest.name}" (with that static manifest)`);
      }
      return cls;
    });
  }

  /** Registers the built-ins (chosen by the composition root) by their manifests. */
  async registerModules(modules: LazyPluginModule[]): Promise<void> {
    for (const m of modules) this.registerLazy((await m.manifest()).default, m.source, m.load);
  }

  private add(manifest: PluginManifest, source: string, loadClass: () => Promise<PluginClass>): RegisteredPlugin {
    if (this.plugins.has(manifest.name)) {
      throw new Error(`${source}: a plugin named "${manifest.name}" is already registered (${this.plugins.get(manifest.name)!.source})`);
    }
    const validate: ValidateFunction = this.ajv.compile(manifest.configSchema);
    let created: Promise<TideflowPlugin> | undefined;
    let instance: TideflowPlugin | undefined;
    const entry: RegisteredPlugin = {
      manifest,
      source,
      validateConfig: (config) => {
        const copy = structuredClone(config ?? {});
        return validate(copy) ? { ok: true, value: copy } : { ok: false, issues: describeErrors(validate.errors, copy) };
      },
      create: () =>
        (created ??= (async () => {
          const host = this.host;
          if (!host) throw new Error(`plugin ${manifest.name}: no services yet (an engine calls useServices before creating plugins)`);
          const cls = await loadClass();
          if (typeof cls.prototype?.run !== 'function') throw new Error(`${source}: plugin "${manifest.name}" has no run() method`);
          for (const provider of manifest.services ?? []) await this.provide(provider);
          instance = host.container.resolve(cls);
          return instance;
        })()),
      instance: () => {
        if (!instance) throw new Error(`plugin ${manifest.name} is not created yet`);
        return instance;
      },
    };
    this.plugins.set(manifest.name, entry);
    return entry;
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
  async provideAll(): Promise<ServiceInstance[]> {
    for (const { manifest } of this.plugins.values()) for (const p of manifest.services ?? []) await this.provide(p);
    return Promise.all(this.services.values());
  }

  /** Creates every plugin (the engine, at start: one that cannot be created fails the start, not its first run). */
  async createAll(): Promise<void> {
    for (const p of this.plugins.values()) await p.create();
  }

  private provide(provider: ServiceProvider): Promise<ServiceInstance> {
    let s = this.services.get(provider);
    if (!s) {
      const { container, config, log } = this.host!;
      s = (async () => {
        try {
          return await provider.register({ container, config, env: config.env, log: log.child({ service: provider.name }) });
        } catch (err) {
          throw new Error(`service ${provider.name}: ${(err as Error).message}`, { cause: err });
        }
      })();
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
