// electron-builder configuration (not auto-discovered: every script passes
// `--config electron.config.ts`). Environment flags, read at build time:
//   KILN_ELECTRON_DIST=<dir>   use an unpacked Electron distribution instead of downloading one
//                              (tools/pack-check.mjs points it at a generated stub). Implies fuses off.
//   KILN_FUSES=0|1             force fuse flipping off/on (default: on, except with a stub dist,
//                              where @electron/fuses cannot find the sentinel in the fake binary).
//   KILN_E2E_INSPECT=1         keep the Node inspect fuse on: Playwright's `_electron.launch`
//                              always passes `--inspect=0`, so an e2e flavour needs it.
import type { Configuration } from 'electron-builder';

export const APP_ID = 'io.kiln.app';

/**
 * electron-builder's own deb dependencies (app-builder-lib FpmTarget getDefaultDepends): setting
 * `deb.depends` REPLACES them, so Kiln's list extends this one instead of dropping GTK & co.
 */
export const DEB_DEFAULT_DEPENDS = ['libgtk-3-0', 'libnotify4', 'libnss3', 'libxss1', 'libxtst6', 'xdg-utils', 'libatspi2.0-0', 'libuuid1', 'libsecret-1-0'] as const;
/** Kiln's additions: gdbus, which asks the session bus whether a tray host exists (main/electron/tray-host.ts). */
export const DEB_EXTRA_DEPENDS = ['libglib2.0-bin'] as const;

/** YAML media types "Open with Kiln" is offered for (shared-mime-info names, old and new). */
export const YAML_MIME_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] as const;

const stubDist = process.env.KILN_ELECTRON_DIST?.trim() || undefined;
const fusesOn = process.env.KILN_FUSES ? process.env.KILN_FUSES === '1' : !stubDist;

const config: Configuration = {
  appId: APP_ID, // also the Windows AppUserModelID; main/electron/main.ts sets the same value
  productName: 'Kiln',
  copyright: 'Copyright © Kiln contributors',
  directories: { output: 'release', buildResources: 'assets' },
  // The bundles only: electron-vite writes out/{main,preload,renderer}; out/node is the plain-Node
  // CLI bundle and does not belong in the desktop app. Source maps and tests never ship.
  files: [
    'out/main/**',
    'out/preload/**',
    'out/renderer/**',
    'package.json',
    '!**/*.map',
    '!**/*.{test,spec}.{js,cjs,mjs,ts}',
    '!**/{test,tests,__tests__,e2e}/**',
    // Renderer-only libraries are bundled into out/renderer by Vite; main never loads them.
    '!node_modules/{react,react-dom,scheduler,zustand,anser,react-virtuoso}{,/**}',
  ],
  asar: true,
  // Nothing in the app is spawned from inside the archive (esphome is the user's own install), so
  // nothing needs unpacking; list such files here if that ever changes.
  asarUnpack: [],
  npmRebuild: false, // no native modules (electron.md §11); also keeps packaging offline-capable
  electronDist: stubDist,
  electronFuses: fusesOn
    ? {
        runAsNode: false,
        enableCookieEncryption: true,
        enableNodeOptionsEnvironmentVariable: false,
        enableNodeCliInspectArguments: process.env.KILN_E2E_INSPECT === '1',
        enableEmbeddedAsarIntegrityValidation: true,
        onlyLoadAppFromAsar: true,
        grantFileProtocolExtraPrivileges: false,
      }
    : null,
  linux: {
    target: ['AppImage', 'deb'],
    category: 'Development',
    maintainer: 'Kiln contributors <kiln@example.invalid>',
    synopsis: 'Queue, run and offload ESPHome firmware builds',
    icon: 'assets/icons',
    executableName: 'kiln',
    // The installed .desktop file is named after package.json `desktopName` (io.kiln.app.desktop),
    // which Electron also uses as the window's app id on Linux.
    syncDesktopName: true,
    // "Open with Kiln" for YAML in file managers: the existing media types are listed in the
    // .desktop MimeType (no new type is defined, so the system's YAML type is not overridden and
    // Kiln is offered as an alternative, not made the default editor). The entry's Exec passes
    // file:// URIs (%U); main/electron/single-instance.ts converts them with fileURLToPath.
    mimeTypes: [...YAML_MIME_TYPES],
    desktop: { entry: { StartupWMClass: 'Kiln', Keywords: 'ESPHome;firmware;build;' } },
  },
  deb: { depends: [...DEB_DEFAULT_DEPENDS, ...DEB_EXTRA_DEPENDS] },
  mac: {
    target: ['dmg'],
    category: 'public.app-category.developer-tools',
    icon: 'assets/icon.icns',
    // Finder's "Open With": LSHandlerRank Alternate = offered, never the default app for YAML.
    // (Only here: electron-builder's NSIS association would make Kiln the default .yaml handler
    // on Windows, so Windows registers none.)
    fileAssociations: [{ ext: ['yaml', 'yml'], name: 'ESPHome configuration', role: 'Viewer', rank: 'Alternate' }],
  },
  win: {
    target: ['nsis'],
    icon: 'assets/icon.ico',
  },
  nsis: { oneClick: false, perMachine: false, allowToChangeInstallationDirectory: true },
  publish: null,
};

export default config;
