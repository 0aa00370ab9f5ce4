// The window opens before the backend has started (a slow esphome probe delays it by seconds),
// and its renderer connects at once. The port is handed out immediately; this keeps every
// message that arrives before the backend exists, in order, and replays it to the RPC server
// once it is attached — nothing is dropped, the page's hello is simply answered late.
import type { RpcServerChannel } from '../core/api/rpc-server';

export interface ServeHandle {
  close(): void;
}

export function serveWhenReady<B>(ready: Promise<B>, channel: RpcServerChannel, serve: (backend: B, channel: RpcServerChannel) => ServeHandle): ServeHandle {
  let buffered: unknown[] | null = [];
  const listeners = new Set<(msg: unknown) => void>();
  let closed = false;
  let handle: ServeHandle | null = null;
  const offMessage = channel.onMessage((msg) => {
    if (buffered) buffered.push(msg);
    else for (const fn of [...listeners]) fn(msg);
  });
  const offClose = channel.onClose(() => {
    closed = true;
  });
  const proxy: RpcServerChannel = {
    send: (msg) => channel.send(msg),
    onMessage: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    onClose: (fn) => channel.onClose(fn),
    close: (code, reason) => channel.close?.(code, reason),
    ...(channel.backlog ? { backlog: () => channel.backlog!() } : {}),
  };
  ready.then(
    (backend) => {
      if (closed) return;
      handle = serve(backend, proxy);
      const early = buffered ?? [];
      buffered = null;
      for (const msg of early) for (const fn of [...listeners]) fn(msg);
    },
    () => {
      // The backend failed to start: the shell reports it; end this connection.
      if (!closed) channel.close?.(1011, 'the Kiln backend failed to start');
    },
  );
  return {
    close() {
      closed = true;
      buffered = null;
      offMessage();
      offClose();
      handle?.close();
    },
  };
}
