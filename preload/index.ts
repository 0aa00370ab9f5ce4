// The sandboxed preload (bundled to ONE CommonJS file, out/preload/index.cjs). It exposes exactly
// one object, `window.bridge`, and never ipcRenderer, Electron events or process.env
// (electron.md §5 item 20):
//   bridge.capabilities          static flags: this is the desktop shell
//   bridge.connect()             asks main for an RPC MessagePort; main validates this frame and
//                                answers on 'rpc:port', which is forwarded to the page with
//                                window.postMessage('rpc:port', location.origin, [port])
//   bridge.pathForDisplay(f)     the File's disk path ('' when it has none), for the page to SHOW
//                                where a dropped file came from ("Imported from …"). Display only:
//                                the page imports the file's content (importYaml, validated by
//                                main as for the browser); nothing is ever read from this path
// contextBridge copies this object into the page (functions proxied, the copy frozen).
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { IPC } from '../main/electron/ipc-channels';

/** The page-side view of the bridge (the renderer declares the same shape for window.bridge). */
export interface KilnBridge {
  readonly capabilities: { readonly desktop: true; readonly tray: true; readonly osNotifications: true };
  connect(): void;
  pathForDisplay(file: File): string;
}

// The preload is type-checked with Node types only; these are the DOM globals it touches.
declare const window: { postMessage(message: unknown, targetOrigin: string, transfer?: unknown[]): void };
declare const location: { origin: string };

/** '' for JS-constructed Files (no disk backing) and for non-File values (webUtils throws). */
function pathForDisplay(file: File): string {
  try {
    const path = webUtils.getPathForFile(file);
    return typeof path === 'string' ? path : '';
  } catch {
    return '';
  }
}

const bridge: KilnBridge = {
  capabilities: { desktop: true, tray: true, osNotifications: true },
  connect(): void {
    ipcRenderer.send(IPC.connect);
  },
  pathForDisplay,
};

// Ports come only from main (in answer to connect); hand them to the page, same origin only.
ipcRenderer.on(IPC.port, (event) => {
  if (event.ports.length === 0) return;
  // Electron types `ports` with the DOM's MessagePort, which tsconfig.node.json does not load.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
  window.postMessage(IPC.port, location.origin, [...event.ports]);
});

contextBridge.exposeInMainWorld('bridge', bridge);
