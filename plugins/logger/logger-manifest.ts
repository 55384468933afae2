import { fileURLToPath } from 'node:url';
import { parseEnvSettings } from '../../core/config/env-settings.js';
import type { PluginManifest } from '../../core/plugin/plugin.js';
import { isLoopbackHost } from '../../core/util/loopback-host.js';
import { recordStoreService } from '../shared/store/record-store-service.js';
import { LoggerConfigSchema, LoggerSettingsSchema } from './logger-config.js';

/** What the engine knows of the logger without loading it (light: tideflow validate reads only this). */
const loggerManifest = {
    name: 'logger',
    version: '1.0.0',
    description: 'Stores spawned, killed and kept containers and host memory; serves /api/logs and POST /logs',
    configSchema: LoggerConfigSchema,
    services: [recordStoreService],
    apiTags: [{ name: 'logs', description: 'Stored spawn, kill and memory records (logger plugin)' }],
    dashboardPanels: [{ id: 'killed', script: fileURLToPath(new URL('dashboard-panel.js', import.meta.url)) }],
    startProblems({ env, api, host }) {
      const open = parseEnvSettings(LoggerSettingsSchema, env).TIDEFLOW_OPEN_LOG_INGEST ?? false;
      return api && open && !isLoopbackHost(host) ? [`TIDEFLOW_OPEN_LOG_INGEST=1 accepts logs without a token: allowed only on a loopback HOST, not ${host}`] : [];
    },
} satisfies PluginManifest;

export default loggerManifest;
