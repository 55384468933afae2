import { defineConfig } from 'vitest/config';

/**
 * The fault-injection suite (`npm run test:faults`): real engine, worker and
 * redis-server processes and a Docker engine behind a cuttable proxy, broken
 * on purpose. Scenarios run one at a time: each owns the machine's cores.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    setupFiles: ['reflect-metadata'],
    globalSetup: ['test/faults/faults-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
