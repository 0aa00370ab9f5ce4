// Client transports for the RPC layer: WebSocket (browser / `kiln serve`) and MessagePort
// (Electron: the preload's `window.bridge.connect()` makes main post a port to the page as
// window message 'rpc:port'). Both yield a ClientChannel carrying plain objects.
import type { ClientChannel } from './rpc-client';

export interface KilnBridge {
  /** Asks main for a fresh MessagePort; it arrives as window message 'rpc:port'. */
  connect(): void;
  /**
   * Desktop: a dropped File's disk path ('' when it has none), for showing where it came from.
   * Display only — the import itself always sends the file's content (preload/index.ts).
   */
  pathForDisplay?(file: File): string;
}

declare global {
  interface Window {
    bridge?: KilnBridge;
  }
}

export function openWebSocket(url: string | URL, timeoutMs = 10_000): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error('timed out connecting to the Kiln backend'));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(wsChannel(ws));
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error('cannot reach the Kiln backend'));
    };
  });
}

function wsChannel(ws: WebSocket): ClientChannel {
  return {
    send: (msg) => ws.send(JSON.stringify(msg)),
    onMessage: (fn) => {
      const h = (ev: MessageEvent) => {
        if (typeof ev.data !== 'string') return;
        try {
          fn(JSON.parse(ev.data));
        } catch {
          /* a malformed frame is ignored */
        }
      };
      ws.addEventListener('message', h);
      return () => ws.removeEventListener('message', h);
    },
    onClose: (fn) => {
      const h = (ev: CloseEvent) => fn({ code: ev.code, reason: ev.reason });
      ws.addEventListener('close', h);
      return () => ws.removeEventListener('close', h);
    },
    close: () => ws.close(1000, 'client closing'),
  };
}

/** Electron: request a port through the preload and wrap it. */
export function openMessagePort(bridge: KilnBridge, timeoutMs = 10_000): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      window.removeEventListener('message', onMsg);
      reject(new Error('timed out waiting for the backend port'));
    }, timeoutMs);
    const onMsg = (ev: MessageEvent) => {
      // Only the preload (same window, own origin) delivers the port.
      if (ev.source !== window || ev.data !== 'rpc:port' || ev.ports.length !== 1) return;
      if (ev.origin !== window.location.origin && window.location.origin !== 'null') return;
      clearTimeout(timer);
      window.removeEventListener('message', onMsg);
      resolve(portChannel(ev.ports[0]!)); // exactly one port: checked above
    };
    window.addEventListener('message', onMsg);
    bridge.connect();
  });
}

/** A DOM MessagePort as a ClientChannel (exported for its test). */
export function portChannel(port: MessagePort): ClientChannel {
  const messageFns = new Set<(msg: unknown) => void>();
  const closeFns = new Set<(info: { code: number; reason: string }) => void>();
  let closed = false;
  const fireClose = (reason: string) => {
    if (closed) return;
    closed = true;
    for (const fn of [...closeFns]) fn({ code: 1006, reason });
  };
  // Receipts for main's back-pressure (main/electron/rpc-port.ts): "I have handled the first n
  // messages", at most every 50 ms. A busy page sends them late, so main sees its backlog grow
  // and turns excess log output into a gap, as the WebSocket's bufferedAmount does in a browser.
  let received = 0;
  let receiptTimer: ReturnType<typeof setTimeout> | null = null;
  const sendReceipt = () => {
    receiptTimer = null;
    if (!closed) port.postMessage({ t: 'rcv', n: received });
  };
  port.onmessage = (ev) => {
    received++;
    for (const fn of [...messageFns]) fn(ev.data);
    receiptTimer ??= setTimeout(sendReceipt, 50);
  };
  // MessagePort 'close' events exist in recent Chromium; main also sends nothing after close.
  port.addEventListener('close', () => fireClose('port closed'));
  port.start();
  port.postMessage({ t: 'rcv', n: 0 }); // receipts supported
  return {
    send: (msg) => port.postMessage(msg),
    onMessage: (fn) => {
      messageFns.add(fn);
      return () => messageFns.delete(fn);
    },
    onClose: (fn) => {
      closeFns.add(fn);
      return () => closeFns.delete(fn);
    },
    close: () => {
      port.close();
      fireClose('client closed');
    },
  };
}
