import { ChartsPlugin } from './charts-plugin.js';

export { ChartsPlugin } from './charts-plugin.js';
export type { ChartsOutput, ChartOutput } from './charts-plugin.js';
export { ChartsConfigSchema, CHART_NAMES, type ChartsConfig, type ChartName } from './charts-config.js';

/** The engine discovers a plugin as the default export of plugins/<name>/index.ts. */
export default ChartsPlugin;
