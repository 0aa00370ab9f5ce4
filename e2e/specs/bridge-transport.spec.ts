// The renderer's Electron-mode transport without Electron: a fake `window.bridge` (installed
// before the page loads) answers connect() with a MessagePort posted as 'rpc:port', relaying to
// the WebSocket backend the way main relays to the service. The window must pick the port.
import { expect, test } from '../fixtures';
import { KilnApp } from '../pages/kiln-app';

test('with window.bridge the window talks over a MessagePort', async ({ backend, page }) => {
  await page.addInitScript(
    `(() => {
      const token = ${JSON.stringify(backend.token)};
      let relayed = 0;
      window.__bridgeStats = () => ({ relayed });
      window.bridge = {
        connect() {
          const ch = new MessageChannel();
          const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/rpc');
          ws.onmessage = (ev) => { relayed++; ch.port1.postMessage(JSON.parse(ev.data)); };
          ch.port1.onmessage = (ev) => {
            const msg = ev.data;
            // Transport receipts are main's (rpc-port.ts back-pressure), never the RPC's: dropped
            // here as main drops them.
            if (msg && msg.t === 'rcv') return;
            // Main would not need a token; the WebSocket backend does, so the relay adds it.
            if (msg && msg.method === 'hello') msg.params = { ...msg.params, token };
            ws.send(JSON.stringify(msg));
          };
          ws.onopen = () => window.postMessage('rpc:port', location.origin, [ch.port2]);
        },
      };
    })();`,
  );
  // No #token in the URL: only the bridge can make this window work.
  const app = new KilnApp(page);
  await app.open(backend.origin + '/');
  await app.tasks.compile('kitchen-plug.yaml');
  await app.tasks.expectStatus(app.tasks.row('Kitchen Plug'), 'completed');
  const stats = await page.evaluate<{ relayed: number }>('window.__bridgeStats()');
  expect(stats.relayed).toBeGreaterThan(3);
  expect(app.cspViolations()).toEqual([]);
});

test('without the token the browser window gets no data', async ({ backend, page }) => {
  await page.goto(backend.origin + '/');
  const banner = page.getByTestId('connection-banner');
  await expect(banner).toHaveAttribute('data-state', 'refused');
  await expect(banner).toContainText('token');
  await expect(page.getByTestId('configuration')).toHaveCount(0);
  await expect(page.getByTestId('task-row')).toHaveCount(0);
});
