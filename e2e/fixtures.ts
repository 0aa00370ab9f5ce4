// Test fixtures: a fresh `kiln serve` per test (temp config dir, simulator) and the window on it.
import { test as base } from '@playwright/test';
import { startServe, type ServeBackend } from './backends';
import { KilnApp } from './pages/kiln-app';

export const test = base.extend<{ backend: ServeBackend; app: KilnApp }>({
  backend: async ({}, use) => {
    const b = await startServe();
    await use(b);
    await b.stop();
  },
  app: async ({ page, backend }, use) => {
    const app = new KilnApp(page);
    await app.open(backend.url);
    await use(app);
  },
});

export { expect } from '@playwright/test';
