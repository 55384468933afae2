import type { PluginCli } from '../core/plugin/plugin-cli.js';
import type { LazyPluginModule } from '../core/plugin/plugin-registry.js';

export interface BuiltinPlugin extends LazyPluginModule {
  /** What it adds to the CLI: a light module, read on every `tideflow` call. */
  cli?: () => Promise<{ default: PluginCli }>;
}

/**
 * The plugins tideflow ships: the composition root's choice, not core's. Each
 * is known by its light manifest module; its code loads only when an engine
 * creates it (`tideflow validate` never loads it).
 */
export const BUILTIN_PLUGINS: BuiltinPlugin[] = [
  {
    source: 'plugins/analyzer',
    manifest: () => import('../plugins/analyzer/analyzer-manifest.js'),
    load: () => import('../plugins/analyzer/index.js'),
  },
  {
    source: 'plugins/charts',
    manifest: () => import('../plugins/charts/charts-manifest.js'),
    load: () => import('../plugins/charts/index.js'),
  },
  {
    source: 'plugins/logger',
    manifest: () => import('../plugins/logger/logger-manifest.js'),
    load: () => import('../plugins/logger/index.js'),
  },
  {
    source: 'plugins/spawner',
    manifest: () => import('../plugins/spawner/spawner-manifest.js'),
    load: () => import('../plugins/spawner/index.js'),
    cli: () => import('../plugins/spawner/spawner-cli.js'),
  },
];
