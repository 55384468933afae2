import { LoggerPlugin } from './logger-plugin.js';

export { LoggerPlugin } from './logger-plugin.js';
export type { LoggerOutput } from './logger-plugin.js';
export { LoggerConfigSchema, type LoggerConfig } from './logger-config.js';

/** The engine discovers a plugin as the default export of plugins/<name>/index.ts. */
export default LoggerPlugin;
