// IPC channel names shared by main and the preload (kept in their own file so the preload bundle
// contains nothing else from main).
export const IPC = {
  /** renderer → main (send): "give me an RPC port" */
  connect: 'kiln:rpc-connect',
  /** main → renderer (postMessage with the port) and preload → page (window.postMessage) */
  port: 'rpc:port',
} as const;
