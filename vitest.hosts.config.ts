import { defineConfig } from 'vitest/config';

/**
 * The multi-host proof (`npm run test:hosts`): hosts made as network
 * namespaces on a test bridge, each with its own Docker engine; Redis and
 * PostgreSQL on host A, reached by host B over the network. Root only.
 */
export default defineConfig({
  test: {
    include: ['test/hosts/**/*.test.ts'],
    setupFiles: ['reflect-metadata'],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
