import { SpawnerPlugin } from './spawner-plugin.js';

export default SpawnerPlugin;
export { SpawnerPlugin };
export { buildWorkloadImages, listWorkloadImages, removeWorkloadImages, WORKLOAD_IMAGES } from './images/workload-images.js';
export { removeManagedContainers, listManagedContainers } from './managed-containers.js';
export { SpawnerConfigSchema, spawnerConfig, type SpawnerConfig } from './spawner-config.js';
