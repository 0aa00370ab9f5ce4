// The Electron transport of the RPC (electron.md §4.2): the renderer asks through the preload
// (`bridge.connect()` → 'kiln:rpc-connect'); main validates the sending frame ONCE here, creates
// a MessageChannelMain, serves the RPC on port1 and posts port2 to that frame. The preload
// forwards it to the page, which then talks over a plain DOM MessagePort (no IPC hop per
// message). Messages main sends before the page starts its port are queued by the port itself.
import { ipcMain, MessageChannelMain, type BrowserWindow, type IpcMainEvent, type MessagePortMain, type WebContents } from 'electron';
import type { RpcServerChannel } from '../core/api/rpc-server';
import { IPC } from './constants';
import { isTrustedSender, type IpcSenderLike } from './security';

/** A MessagePortMain as the transport-agnostic channel the RPC server needs. */
export function portChannel(port: MessagePortMain): RpcServerChannel {
  return {
    send: (msg) => port.postMessage(msg),
    onMessage: (fn) => {
      const h = (e: Electron.MessageEvent) => fn(e.data);
      port.on('message', h);
      return () => port.off('message', h);
    },
    onClose: (fn) => {
      port.on('close', fn);
      return () => port.off('close', fn);
    },
    close: () => port.close(),
  };
}

export interface RpcPortOptions {
  /** The one window allowed to connect. */
  getWindow(): BrowserWindow | null;
  /** Starts serving the RPC on a channel; returns a handle to end it. */
  serve(channel: RpcServerChannel): { close(): void };
  /** Refused requests (untrusted frame) are reported here. */
  onRefused?(reason: string): void;
}

interface LivePort {
  port: MessagePortMain;
  handle: { close(): void };
}

/**
 * Answers port requests. One live connection per window: a new request from the same window (a
 * reload) ends the previous one. Returns a function that stops answering and closes every port.
 */
export function handleRpcPortRequests(opts: RpcPortOptions): () => void {
  const live = new Map<number, LivePort>();

  const end = (id: number) => {
    const entry = live.get(id);
    if (!entry) return;
    live.delete(id);
    entry.handle.close();
    entry.port.close();
  };

  const onConnect = (event: IpcMainEvent) => {
    const win = opts.getWindow();
    const contents: WebContents | undefined = win && !win.isDestroyed() ? win.webContents : undefined;
    if (!contents || !isTrustedSender(event as unknown as IpcSenderLike, contents)) {
      opts.onRefused?.(`RPC port request from an untrusted frame (${event.senderFrame?.url ?? 'no frame'})`);
      return;
    }
    end(contents.id);
    const { port1, port2 } = new MessageChannelMain();
    const handle = opts.serve(portChannel(port1));
    const entry: LivePort = { port: port1, handle };
    live.set(contents.id, entry);
    port1.on('close', () => {
      if (live.get(contents.id) === entry) {
        live.delete(contents.id);
        handle.close();
      }
    });
    port1.start();
    // Post to the exact frame that asked (validated above), not to whatever the window shows now.
    (event.senderFrame ?? contents).postMessage(IPC.port, null, [port2]);
    contents.once('destroyed', () => end(contents.id));
  };

  ipcMain.on(IPC.connect, onConnect);
  return () => {
    ipcMain.off(IPC.connect, onConnect);
    for (const id of [...live.keys()]) end(id);
  };
}
