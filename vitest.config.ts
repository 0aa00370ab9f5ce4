import { defineConfig } from 'vitest/config';

// Unit and integration tests run in plain Node (no Electron binary exists on these machines).
// Renderer component tests opt into a DOM with a `// @vitest-environment happy-dom` header.
export default defineConfig({
  test: {
    include: ['main/**/*.test.ts', 'preload/**/*.test.ts', 'renderer/**/*.test.{ts,tsx}', 'tools/**/*.test.ts', 'test/**/*.test.ts'],
    // test/real needs the pinned Python environments: its own stage and config (test/real/vitest.config.ts).
    exclude: ['node_modules/**', 'out/**', 'e2e/**', 'test/real/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: keep parallelism modest so timing-sensitive process tests stay honest.
    maxWorkers: 2,
  },
});
