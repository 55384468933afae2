import type { PluginCli } from '../core/plugin/plugin-cli.js';
import type { PluginModuleLoader } from '../core/plugin/plugin-registry.js';

export interface BuiltinPlugin {
  source: string;
  /** The module default-exporting the plugin class (loaded by the verbs that run or validate workflows). */
  load: PluginModuleLoader;
  /** What it adds to the CLI: a light module, read on every `tideflow` call. */
  cli?: () => Promise<{ default: PluginCli }>;
}

/** The plugins tideflow ships: the composition root's choice, not core's. */
export const BUILTIN_PLUGINS: BuiltinPlugin[] = [
  { source: 'plugins/analyzer', load: () => import('../plugins/analyzer/index.js') },
  { source: 'plugins/charts', load: () => import('../plugins/charts/index.js') },
  { source: 'plugins/logger', load: () => import('../plugins/logger/index.js') },
  { source: 'plugins/spawner', load: () => import('../plugins/spawner/index.js'), cli: () => import('../plugins/spawner/spawner-cli.js') },
];
