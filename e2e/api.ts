// A Node-side RPC client for checks the UI cannot show (the backend's stored log of a job).
import { openClient } from '../main/headless/test/ws-client';
import type { ServeBackend } from './backends';

export async function backendApi(b: ServeBackend) {
  const c = await openClient(`${b.origin.replace(/^http/, 'ws')}/rpc`);
  await c.client.hello(b.token);
  return { api: c.client.api, close: () => c.ws.close() };
}

/** What "Download output" should contain: the stored log with both ANSI forms removed. */
export function plainLog(lines: string[]): string {
  return lines
    .join('')
    .replace(/\\(?:033|x1b|x1B|u001b|e)\[/g, '\x1b[')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}
