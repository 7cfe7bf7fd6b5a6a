import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run two test files at once (vitest's default here would be one).
    maxWorkers: 2,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
