import { defineConfig } from 'vitest/config';

// Native addons crash under worker threads, so every test file runs in its own
// child process. Each process also gets its own C_Initialize and token sessions.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
