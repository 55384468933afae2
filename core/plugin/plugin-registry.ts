import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DependencyContainer } from 'tsyringe';
import type { ValidateFunction } from 'ajv';
import { createAjv, describeErrors, type SchemaIssue } from '../workflow/schema-validator.js';
import type { PluginClass, TideflowPlugin } from './plugin.js';
import { importPluginModule } from './plugin-import.js';

export const BUILTIN_PLUGINS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../plugins');

export interface RegisteredPlugin {
  readonly plugin: TideflowPlugin;
  readonly source: string;
  /** Validates a job's config, applying the schema's defaults to a copy. */
  validateConfig(config: unknown): { ok: true; value: unknown } | { ok: false; issues: SchemaIssue[] };
}

/**
 * Plugins by name. Built-ins are the default exports of plugins/<name>/index.ts;
 * external ones are npm packages named in config whose default export is a
 * plugin class. Instances come from the DI container, so their services are
 * injected.
 */
export class PluginRegistry {
  private readonly plugins = new Map<string, RegisteredPlugin>();
  private readonly ajv = createAjv();

  constructor(private readonly container: DependencyContainer) {}

  register(cls: PluginClass, source: string): RegisteredPlugin {
    const plugin = this.container.resolve(cls);
    if (!plugin.name || typeof plugin.run !== 'function' || !plugin.configSchema) {
      throw new Error(`${source}: not a tideflow plugin (needs name, version, configSchema and run())`);
    }
    if (this.plugins.has(plugin.name)) {
      throw new Error(`${source}: a plugin named "${plugin.name}" is already registered (${this.plugins.get(plugin.name)!.source})`);
    }
    const validate: ValidateFunction = this.ajv.compile(plugin.configSchema);
    const entry: RegisteredPlugin = {
      plugin,
      source,
      validateConfig: (config) => {
        const copy = structuredClone(config ?? {});
        return validate(copy) ? { ok: true, value: copy } : { ok: false, issues: describeErrors(validate.errors, copy) };
      },
    };
    this.plugins.set(plugin.name, entry);
    return entry;
  }

  /** Imports plugins/<name>/index.ts for every plugin folder. */
  async registerBuiltins(dir = BUILTIN_PLUGINS_DIR): Promise<void> {
    const names = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    for (const name of names) {
      const file = ['index.ts', 'index.js'].map((f) => path.join(dir, name, f)).find((f) => existsSync(f));
      if (!file) continue;
      const mod = (await import(pathToFileURL(file).href)) as { default?: PluginClass };
      if (typeof mod.default !== 'function') throw new Error(`${file}: must default-export the plugin class`);
      this.register(mod.default, `plugins/${name}`);
    }
  }

  /** Imports external plugins: package names, or paths (relative to the working directory) to .js or .ts files. */
  async registerPackages(packages: string[]): Promise<void> {
    for (const pkg of packages) {
      let mod: { default?: PluginClass };
      try {
        mod = (await importPluginModule(pkg)) as { default?: PluginClass };
      } catch (err) {
        throw new Error(`plugin package "${pkg}" could not be loaded: ${(err as Error).message}`);
      }
      if (typeof mod.default !== 'function') throw new Error(`plugin package "${pkg}" must default-export a plugin class`);
      this.register(mod.default, pkg);
    }
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
