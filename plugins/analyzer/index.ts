import { AnalyzerPlugin } from './analyzer-plugin.js';

export default AnalyzerPlugin;
export { AnalyzerPlugin };
export { AnalyzerConfigSchema, analyzerConfig, type AnalyzerConfig } from './analyzer-config.js';
export { applyPolicy } from './policy.js';
