import { statSync } from 'node:fs';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { loadWorkflowFiles, workflowFiles } from '../../core/workflow/workflow-loader.js';
import { BUILTIN_PLUGINS } from '../builtin-plugins.js';

/**
 * Checks workflow files (or folders of them) without connecting to anything:
 * plugins are only read (their manifests' schemas), never created.
 * Prints `<file>: <pointer>: <message>` per error; returns the exit code.
 */
export async function validateCommand(paths: string[], out: (line: string) => void = console.log): Promise<number> {
  const config = loadEngineConfig();
  const registry = new PluginRegistry();
  await registry.registerModules(BUILTIN_PLUGINS);
  await registry.registerPackages(config.plugins);
  const files = paths.flatMap((p) => {
    try {
      return statSync(p).isDirectory() ? workflowFiles(p) : [p];
    } catch {
      return [p];
    }
  });
  const result = loadWorkflowFiles(files, registry);
  for (const e of result.errors) out(String(e));
  if (result.errors.length) return 1;
  for (const wf of result.workflows) out(`${wf.file}: ok (workflow "${wf.name}", ${Object.keys(wf.jobs).length} jobs)`);
  return 0;
}
