import { loadEngineConfig, type EngineConfig } from '../../core/config/engine-config.js';
import { createLogger } from '../../core/logging/logger.js';
import { watchNpmExecLauncher } from '../launcher-watch.js';

export interface StartFlags {
  workflows?: string;
  dataDir?: string;
  port?: string;
  host?: string;
  /** Routes to serve (--serve, repeatable). */
  serve?: string[];
  /** Settings plugins' start flags set (e.g. --keep-containers: TIDEFLOW_KEEP_CONTAINERS=1), over the environment's. */
  env?: Record<string, string>;
}

export function configFromFlags(flags: StartFlags): EngineConfig {
  const overrides: Partial<EngineConfig> = {};
  if (flags.workflows) overrides.workflowsDir = flags.workflows;
  if (flags.dataDir) overrides.dataDir = flags.dataDir;
  if (flags.host) overrides.host = flags.host;
  if (flags.port !== undefined) {
    const port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer 0..65535, got "${flags.port}"`);
    overrides.port = port;
  }
  const env = { ...process.env, ...flags.env };
  const config = loadEngineConfig(overrides, env);
  // Flags add to TIDEFLOW_SERVE; loadEngineConfig checked the variable's names, these are checked the same way.
  return flags.serve?.length ? loadEngineConfig({ ...overrides, serve: [...new Set([...config.serve, ...flags.serve])] }, env) : config;
}

/**
 * Runs an engine until SIGINT/SIGTERM/SIGHUP (or, under `npx`, until npm
 * exec exits: it does not forward signals); a second signal forces the exit.
 */
export async function runEngine(role: 'all' | 'worker', flags: StartFlags): Promise<void> {
  const config = configFromFlags(flags);
  if (role === 'worker' && !config.redisUrl) {
    throw new Error('tideflow worker joins an engine through its Redis: set REDIS_URL (e.g. redis://10.0.0.5:6379) to the Redis `tideflow start` uses');
  }
  const logger = createLogger();
  // Imported here: the other verbs share configFromFlags and need none of the engine.
  const { Engine } = await import('../../core/engine/engine.js');
  const { BUILTIN_PLUGINS } = await import('../builtin-plugins.js');
  const engine = new Engine({ config, logger, role, pluginModules: BUILTIN_PLUGINS });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals | string) => {
    signals++;
    if (signals > 1) {
      logger.warn(`${sig} again: exiting now`);
      engine.abandon();
      process.exit(130);
    }
    logger.info(`${sig}: shutting down gracefully (send it again to force)`);
    engine.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const launcher = watchNpmExecLauncher((pid) => {
    if (!signals) onSignal(`npm exec (pid ${pid}) exited without forwarding its signal`);
  });
  if (launcher.launcherPid) {
    logger.info(`started through npm exec (pid ${launcher.launcherPid}): shutting down when it exits; for a service run \`node bin/tideflow.mjs start\``);
  }
  try {
    await engine.start();
  } catch (err) {
    await engine.stop().catch(() => undefined);
    throw err;
  }
}
