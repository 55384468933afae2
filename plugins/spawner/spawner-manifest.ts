import type { PluginManifest } from '../../core/plugin/plugin.js';
import { dockerService } from '../shared/containers/docker-service.js';
import { SpawnerConfigSchema } from './spawner-config.js';
import { CONTAINERS_SPAWNED } from './spawner-metrics.js';

/** What the engine knows of the spawner without loading it (light: tideflow validate reads only this). */
const spawnerManifest = {
    name: 'spawner',
    version: '1.0.0',
    description: 'Creates labelled, limited, network-less containers from the workflow images',
    configSchema: SpawnerConfigSchema,
    services: [dockerService],
  counters: [CONTAINERS_SPAWNED],
} satisfies PluginManifest;

export default spawnerManifest;
