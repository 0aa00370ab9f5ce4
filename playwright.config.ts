// Browser e2e: Debian chromium (never `npx playwright install`) against `kiln serve` children
// running Kiln's esphome simulator. The `electron` project exists only when a real Electron
// binary is found (tools/electron-bin.mjs); on build/CI machines there is none.
import { defineConfig, type PlaywrightTestConfig } from '@playwright/test';
import { findElectron } from './tools/electron-bin.mjs';

const chromium = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const electron = findElectron();

const projects: PlaywrightTestConfig['projects'] = [
  {
    name: 'web',
    testDir: 'e2e/specs',
    grepInvert: /@electron/,
    use: {
      browserName: 'chromium',
      headless: true,
      viewport: { width: 1280, height: 800 },
      launchOptions: {
        executablePath: chromium,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      },
    },
  },
];
if (electron.bin) {
  projects.push({ name: 'electron', testDir: 'e2e', testMatch: ['electron/**/*.spec.ts'], workers: 1 });
}

export default defineConfig({
  outputDir: 'test-results',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  // Two cores shared with other work: one browser at a time keeps timings honest.
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [['list']],
  globalSetup: './e2e/global-setup.ts',
  projects,
});
