// Test fixtures: a fresh `kiln serve` per test (temp config dir, simulator) and the window on it.
// Every test fails on any console error in any window it opened (KilnApp.instances), unless the
// test allowed that error explicitly (app.allowed).
import { test as base, expect } from '@playwright/test';
import { startServe, type ServeBackend } from './backends';
import { KilnApp } from './pages/kiln-app';

export const test = base.extend<{ backend: ServeBackend; app: KilnApp; consoleGuard: void }>({
  consoleGuard: [
    async ({}, use) => {
      KilnApp.instances.length = 0;
      await use();
      for (const a of KilnApp.instances) a.recording = false;
      const errors = KilnApp.instances.flatMap((a) => a.unexpectedConsoleErrors());
      KilnApp.instances.length = 0;
      expect(errors, 'console errors in the window').toEqual([]);
    },
    { auto: true },
  ],
  backend: async ({}, use) => {
    const b = await startServe();
    await use(b);
    await b.stop();
  },
  app: async ({ page, backend }, use) => {
    const app = new KilnApp(page);
    await app.open(backend.url);
    await use(app);
    // The test body is over: what follows (backends stopping under open pages) is teardown.
    for (const a of KilnApp.instances) a.recording = false;
  },
});

export { expect };
