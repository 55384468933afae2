import { statSync } from 'node:fs';
import { loadEngineConfig } from '../../core/config/engine-config.js';
import { createContainer } from '../../core/di/container.js';
import { Tokens } from '../../core/di/tokens.js';
import { silentLogger } from '../../core/logging/logger.js';
import { PluginRegistry } from '../../core/plugin/plugin-registry.js';
import { createDockerClient } from '../../plugins/shared/containers/docker-engine.js';
import { loadWorkflowFiles, workflowFiles } from '../../core/workflow/workflow-loader.js';

/**
 * Checks workflow files (or folders of them) without connecting to anything.
 * Prints `<file>: <pointer>: <message>` per error; returns the exit code.
 */
export async function validateCommand(paths: string[], out: (line: string) => void = console.log): Promise<number> {
  const config = loadEngineConfig();
  const c = createContainer({ config, logger: silentLogger(), docker: createDockerClient(config.dockerHost) });
  // Plugins are only instantiated to read their schemas: the store and Redis are stand-ins that refuse use.
  const refusing = (what: string) => new Proxy({}, { get: (_t, prop) => () => { throw new Error(`validate opens no ${what} (${String(prop)})`); } });
  c.registerInstance(Tokens.RecordStore, refusing('store'));
  c.registerInstance(Tokens.Redis, refusing('Redis connection'));
  const registry = new PluginRegistry(c);
  await registry.registerBuiltins();
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
