import { fileURLToPath } from 'node:url';
import type { PluginManifest } from '../../core/plugin/plugin.js';
import { recordStoreService } from '../shared/store/record-store-service.js';
import { ChartsConfigSchema } from './charts-config.js';

/** What the engine knows of the charts plugin without loading it (light: tideflow validate reads only this). */
const chartsManifest = {
    name: 'charts',
    version: '1.0.0',
    description: 'Vega-Lite charts of memory and containers as PNG, SVG and spec JSON; serves /api/charts and /charts/*',
    configSchema: ChartsConfigSchema,
    services: [recordStoreService],
    apiTags: [{ name: 'charts', description: 'Rendered charts (charts plugin)' }],
    dashboardPanels: [{ id: 'charts', script: fileURLToPath(new URL('dashboard-panel.js', import.meta.url)) }],
} satisfies PluginManifest;

export default chartsManifest;
