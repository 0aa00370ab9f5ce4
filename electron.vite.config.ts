// electron-vite: the three Electron bundles (electron.md §8). `npx electron-vite build` works
// without an Electron binary; `dev`/`preview` need one and cannot run on the build machines.
//   main      main/index.ts        → out/main/index.js (ESM; npm dependencies stay external)
//   preload   preload/index.ts     → out/preload/index.cjs (ONE CommonJS file: sandboxed preloads
//                                    cannot load ESM or other local files)
//   renderer  renderer/index.html  → out/renderer (relative asset URLs, served under app://kiln/)
// The renderer section reuses renderer/vite.config.ts (helper "ui"'s browser dev loop config)
// so the desktop and browser builds of the UI are the same.
import react from '@vitejs/plugin-react';
import { defineConfig, type RendererViteConfig, type UserConfig as ElectronViteConfig } from 'electron-vite';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFromFile, type Plugin, type UserConfig } from 'vite';

const root = dirname(fileURLToPath(import.meta.url));
const r = (...p: string[]) => resolve(root, ...p);

/** Ships the tray icons, the window icon and the hashing worker next to the main bundle (out/main/{tray,icon.png,sha256-worker.cjs}). */
function desktopAssets(): Plugin {
  return {
    name: 'kiln:desktop-assets',
    generateBundle() {
      const trayDir = r('assets', 'tray');
      for (const name of readdirSync(trayDir).filter((n) => n.endsWith('.png'))) {
        this.emitFile({ type: 'asset', fileName: `tray/${name}`, source: readFileSync(join(trayDir, name)) });
      }
      this.emitFile({ type: 'asset', fileName: 'icon.png', source: readFileSync(r('assets', 'icon.png')) });
      // The hashing worker offthread-sha256.ts loads from next to the bundle (a plain file, not eval'd).
      this.emitFile({ type: 'asset', fileName: 'sha256-worker.cjs', source: readFileSync(r('main', 'core', 'peer-link', 'sha256-worker.cjs')) });
    },
  };
}

/** The settings of renderer/vite.config.ts that matter for a production build. */
async function rendererSettings(mode: string): Promise<Pick<UserConfig, 'plugins' | 'resolve' | 'css' | 'define' | 'json'> & { build?: UserConfig['build'] }> {
  const file = r('renderer', 'vite.config.ts');
  if (!existsSync(file)) return { plugins: [react()] };
  const loaded = await loadConfigFromFile({ command: 'build', mode }, file, root, 'silent');
  const cfg = (loaded?.config ?? {});
  return { plugins: cfg.plugins ?? [react()], resolve: cfg.resolve, css: cfg.css, define: cfg.define, json: cfg.json, build: cfg.build };
}

export default defineConfig(async ({ mode }): Promise<ElectronViteConfig> => {
  const hasRenderer = existsSync(r('renderer', 'index.html'));
  let renderer: RendererViteConfig | undefined;
  if (hasRenderer) {
    const s = await rendererSettings(mode);
    renderer = {
      ...s,
      root: r('renderer'),
      base: './',
      build: {
        ...(s.build ?? {}),
        outDir: r('out', 'renderer'),
        emptyOutDir: true,
        sourcemap: false,
        // electron-vite leaves the renderer unminified by default (803 KB vs 364 KB for the web
        // build of the same UI): the desktop window loads the same minified bundle as `kiln serve`.
        minify: true,
        rollupOptions: { input: { index: r('renderer', 'index.html') } },
      },
    };
  } else {
    console.warn('[electron-vite] renderer/index.html does not exist yet: building main and preload only');
  }
  return {
    main: {
      plugins: [desktopAssets()],
      build: {
        outDir: r('out', 'main'),
        emptyOutDir: true,
        sourcemap: false,
        externalizeDeps: true,
        rollupOptions: { input: { index: r('main', 'index.ts') } },
      },
    },
    preload: {
      build: {
        outDir: r('out', 'preload'),
        emptyOutDir: true,
        sourcemap: false,
        // Everything the sandboxed preload needs must be inside the one file.
        externalizeDeps: false,
        rollupOptions: {
          input: { index: r('preload', 'index.ts') },
          output: { format: 'cjs', entryFileNames: '[name].cjs', codeSplitting: false },
        },
      },
    },
    ...(renderer ? { renderer } : {}),
  };
});
