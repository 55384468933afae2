import type { EngineConfig } from '../config/engine-config.js';

/** What a plugin's command runs with. */
export interface PluginCommandContext {
  config: EngineConfig;
  env: NodeJS.ProcessEnv;
  /** Progress lines (stdout). */
  log: (message: string) => void;
}

/**
 * A verb a plugin adds to the `tideflow` command. Declared in a light module
 * of its own (no heavy imports at its top: the CLI reads every plugin's
 * declarations on each call); `run` imports what it needs when it runs.
 */
export interface PluginCommand {
  /** The verb, possibly nested: `cleanup`, `images build`. */
  name: string;
  description: string;
  /** commander argument syntax: `<file>`, `[workflow]`. */
  arguments?: string[];
  options?: Array<{ flags: string; description: string }>;
  /** Returns what to print, an exit code, or nothing; a thrown error prints `tideflow: <message>` and exits 1. */
  run(args: Array<string | undefined>, options: Record<string, unknown>, ctx: PluginCommandContext): Promise<string | number | void>;
}

/** A flag a plugin adds to `tideflow start`: sets environment settings the plugin reads. */
export interface PluginStartOption {
  /** commander flag syntax, a boolean flag: `--keep-containers`. */
  flags: string;
  description: string;
  /** Settings the flag sets when given (the plugin reads them as it reads the environment). */
  env: Record<string, string>;
}

/** Everything a plugin adds to the CLI. */
export interface PluginCli {
  commands?: PluginCommand[];
  startOptions?: PluginStartOption[];
}
