import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most tests wait on PostgreSQL or on a child process, not on the CPU: three workers keep a 2-core
    // machine busy (vitest's default, cores - 1, runs them one at a time there).
    maxWorkers: 3,
  },
});
