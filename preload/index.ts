// The sandboxed preload (bundled to ONE CommonJS file, out/preload/index.cjs). It exposes exactly
// one object, `window.bridge`, and never ipcRenderer, Electron events or process.env
// (electron.md §5 item 20):
//   bridge.capabilities          static flags: this is the desktop shell
//   bridge.connect()             asks main for an RPC MessagePort; main validates this frame and
//                                answers on 'rpc:port', which is forwarded to the page with
//                                window.postMessage('rpc:port', location.origin, [port])
//   bridge.importDroppedFile(f)  resolves the File's disk path HERE (webUtils.getPathForFile) and
//                                sends it straight to main, which reads and validates the file;
//                                this branch never hands the path to the page
//   bridge.pathForDisplay(f)     the File's disk path ('' when it has none), for the page to SHOW
//                                where a dropped file came from ("Imported from …"). Display only:
//                                the page imports the file's content (importYaml, validated by
//                                main as for the browser); nothing is ever read from this path
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { IPC } from '../main/electron/ipc-channels';
import type { PathImportResult } from '../main/electron/drop-import';

/** The page-side view of the bridge (the renderer declares the same shape for window.bridge). */
export interface KilnBridge {
  readonly capabilities: { readonly desktop: true; readonly importPath: true; readonly tray: true; readonly osNotifications: true };
  connect(): void;
  importDroppedFile(file: unknown): Promise<PathImportResult>;
  pathForDisplay(file: unknown): string;
}

// The preload is type-checked with Node types only; these are the two DOM globals it touches.
declare const window: { postMessage(message: unknown, targetOrigin: string, transfer?: unknown[]): void };
declare const location: { origin: string };

/** '' for JS-constructed Files (no disk backing) and for non-File values (webUtils throws). */
function diskPathOf(file: unknown): string {
  try {
    return webUtils.getPathForFile(file as Parameters<typeof webUtils.getPathForFile>[0]);
  } catch {
    return '';
  }
}

const NO_PATH: PathImportResult = {
  status: 'refused',
  code: 'no_path',
  message: 'This file has no path on disk; import its content instead.',
};

const bridge: KilnBridge = Object.freeze({
  capabilities: Object.freeze({ desktop: true, importPath: true, tray: true, osNotifications: true } as const),
  connect(): void {
    ipcRenderer.send(IPC.connect);
  },
  async importDroppedFile(file: unknown): Promise<PathImportResult> {
    const path = diskPathOf(file);
    if (!path) return NO_PATH;
    return (await ipcRenderer.invoke(IPC.importPath, path)) as PathImportResult;
  },
  pathForDisplay(file: unknown): string {
    const path = diskPathOf(file);
    return typeof path === 'string' ? path : '';
  },
});

// Ports come only from main (in answer to connect); hand them to the page, same origin only.
ipcRenderer.on(IPC.port, (event) => {
  if (event.ports.length === 0) return;
  window.postMessage(IPC.port, location.origin, [...event.ports]);
});

contextBridge.exposeInMainWorld('bridge', bridge);
