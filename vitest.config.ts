import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'plugins/**/*.test.ts', 'core/**/*.test.ts', 'cli/**/*.test.ts'],
    // The fault-injection scenarios and the multi-host proof run alone, with their own setup:
    // npm run test:faults, npm run test:hosts.
    exclude: [...configDefaults.exclude, 'test/faults/**', 'test/hosts/**'],
    setupFiles: ['reflect-metadata'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
