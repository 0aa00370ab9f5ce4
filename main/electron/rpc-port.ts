// The Electron transport of the RPC (electron.md §4.2): the renderer asks through the preload
// (`bridge.connect()` → 'kiln:rpc-connect'); main validates the sending frame ONCE here, creates
// a MessageChannelMain, serves the RPC on port1 and posts port2 to that frame. The preload
// forwards it to the page, which then talks over a plain DOM MessagePort (no IPC hop per
// message). Messages main sends before the page starts its port are queued by the port itself.
import { ipcMain, MessageChannelMain, type BrowserWindow, type IpcMainEvent, type MessagePortMain, type WebContents } from 'electron';
import type { RpcServerChannel } from '../core/api/rpc-server';
import { IPC } from './constants';
import { isTrustedSender } from './security';

/**
 * The page's receipt: `{t: 'rcv', n}` = it has handled the first n messages main posted on this
 * port (renderer/src/backend/transports.ts sends it). Transport-level, never seen by the RPC.
 */
export const RECEIPT = 'rcv';

/** Rough structured-clone size of a message: string lengths + 8 per other leaf (log batches dominate). */
export function approxSize(value: unknown, depth = 0): number {
  if (typeof value === 'string') return value.length;
  if (value === null || typeof value !== 'object' || depth > 32) return 8;
  let n = 8;
  if (Array.isArray(value)) for (const v of value) n += approxSize(v, depth + 1);
  else for (const [k, v] of Object.entries(value)) n += k.length + approxSize(v, depth + 1);
  return n;
}

export interface PortChannel extends RpcServerChannel {
  backlog(): number;
}

/**
 * A MessagePortMain as the transport-agnostic channel the RPC server needs, with back-pressure:
 * MessagePorts have no bufferedAmount, so `backlog()` counts the bytes main posted that the page
 * has not yet acknowledged with a receipt. The log batcher then turns excess output into a gap
 * ("N lines skipped — load") instead of flooding a page that cannot keep up, exactly as over
 * the WebSocket. Until the page's first receipt the count is 0 (a page without receipts gets no
 * throttling rather than an always-full channel).
 */
export function portChannel(port: MessagePortMain): PortChannel {
  const inFlight: number[] = []; // sizes of posted, unacknowledged messages, oldest first
  let acked = 0; // messages acknowledged so far
  let pendingBytes = 0;
  let receipts = false;
  const onReceipt = (n: number) => {
    receipts = true;
    while (acked < n && inFlight.length > 0) {
      pendingBytes -= inFlight.shift()!;
      acked++;
    }
  };
  return {
    send: (msg) => {
      const size = approxSize(msg);
      inFlight.push(size);
      pendingBytes += size;
      port.postMessage(msg);
    },
    onMessage: (fn) => {
      const h = (e: Electron.MessageEvent) => {
        const d: unknown = e.data;
        if (d && typeof d === 'object' && (d as { t?: unknown }).t === RECEIPT) {
          const n = (d as { n?: unknown }).n;
          if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) onReceipt(n);
          return;
        }
        fn(d);
      };
      port.on('message', h);
      return () => port.off('message', h);
    },
    onClose: (fn) => {
      port.on('close', fn);
      return () => port.off('close', fn);
    },
    close: () => port.close(),
    backlog: () => (receipts ? pendingBytes : 0),
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
  // One `destroyed` listener per webContents, however often it reconnects (reloads).
  const watched = new Map<WebContents, () => void>();

  const end = (id: number) => {
    const entry = live.get(id);
    if (!entry) return;
    live.delete(id);
    entry.handle.close();
    entry.port.close();
  };

  const watch = (contents: WebContents) => {
    if (watched.has(contents)) return;
    const id = contents.id;
    const onDestroyed = () => {
      watched.delete(contents);
      end(id);
    };
    watched.set(contents, onDestroyed);
    contents.once('destroyed', onDestroyed);
  };

  const onConnect = (event: IpcMainEvent) => {
    const win = opts.getWindow();
    const contents: WebContents | undefined = win && !win.isDestroyed() ? win.webContents : undefined;
    if (!contents || !isTrustedSender(event, contents)) {
      opts.onRefused?.(`RPC port request from an untrusted frame (${event.senderFrame?.url ?? 'no frame'})`);
      return;
    }
    end(contents.id);
    const { port1, port2 } = new MessageChannelMain();
    const handle = opts.serve(portChannel(port1));
    const entry: LivePort = { port: port1, handle };
    live.set(contents.id, entry);
    // `close` reaches port1 when the page's end goes away (reload, crash, window closed).
    port1.on('close', () => {
      if (live.get(contents.id) === entry) {
        live.delete(contents.id);
        handle.close();
      }
    });
    port1.start();
    // Post to the exact frame that asked (validated above), not to whatever the window shows now.
    (event.senderFrame ?? contents).postMessage(IPC.port, null, [port2]);
    watch(contents);
  };

  ipcMain.on(IPC.connect, onConnect);
  return () => {
    ipcMain.off(IPC.connect, onConnect);
    for (const [contents, fn] of watched) if (!contents.isDestroyed()) contents.off('destroyed', fn);
    watched.clear();
    for (const id of [...live.keys()]) end(id);
  };
}
