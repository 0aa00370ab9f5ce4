// Builds the window to out/renderer with relative asset URLs, so one build works under the
// desktop app's app:// protocol, file:// and `kiln serve`. Dev loop: `npx vite -c
// renderer/vite.config.ts` with a `kiln serve --port 6052` running (the /rpc socket is proxied).
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = import.meta.dirname;

export default defineConfig({
  root,
  base: './',
  plugins: [react()],
  build: {
    outDir: resolve(root, '../out/renderer'),
    emptyOutDir: true,
    target: 'chrome120',
    // No inline scripts or data: module preload polyfill: the CSP allows 'self' scripts only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { '/rpc': { target: 'ws://127.0.0.1:6052', ws: true } },
  },
});
