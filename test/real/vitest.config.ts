import { defineConfig } from 'vitest/config';

// The "real things" suites: the real esphome CLI and upstream esphome-device-builder as processes.
// globalSetup creates or reuses the pinned venvs (tools/python-envs.mjs) so the suites also run
// on their own: `npx vitest run -c test/real/vitest.config.ts`.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/real/**/*.test.ts'],
    globalSetup: ['test/real/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Upstream processes are heavy (one Python process with a 1000-board catalog each); on two
    // shared cores one file at a time keeps timings honest.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
