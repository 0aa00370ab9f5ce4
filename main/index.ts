// Electron main entry (bundled to out/main/index.js by electron-vite; package.json "main").
// Everything lives in main/electron; this file only starts it.
import { startDesktopApp } from './electron/main';

startDesktopApp().catch((err: unknown) => {
  console.error('[kiln] failed to start:', err);
  process.exit(1);
});
