// Issue 18 §3 (P7): a window connecting right after the server started gets the configuration
// list at once — every name, rows the server's one cold scan has not parsed yet marked `reading` —
// and the parsed entries arrive as configurationsChanged deltas until the list is complete.
// Real files, a real `kiln serve` server (createApp + startKilnServer), the renderer's RpcClient
// over a real WebSocket.
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigurationEntry } from '../../../../preload/contract';
import { waitUntil } from '../../../../test/support/wait-until';
import { startKilnServer, type KilnServer } from '../../../headless/server';
import { openClient } from '../../../headless/test/ws-client';
import { createApp, type KilnApp } from '../../app';
import { cleanupDirs, SIM, tempConfigDir } from './helpers';
import { must } from '../../../../test/support/must';

const TOKEN = 'test-token-0123456789';
/** Enough files that the cold scan (one YAML parse each) outlasts starting the server and connecting. */
const FILES = 2000;

function yaml(i: number): string {
  const sensors = Array.from({ length: 8 }, (_, k) => `  - platform: template\n    name: "Sensor ${k}"\n    lambda: return ${k};\n    update_interval: 60s`).join('\n');
  return `substitutions:\n  name: dev-${i}\n  friendly: Device ${i}\nesphome:\n  name: \${name}\n  friendly_name: \${friendly}\nesp32:\n  board: esp32dev\nwifi:\n  ssid: x\napi:\nlogger:\nsensor:\n${sensors}\n`;
}

let app: KilnApp | undefined;
let server: KilnServer | undefined;
afterEach(async () => {
  await server?.close();
  await app?.stop();
  server = app = undefined;
  cleanupDirs();
});

describe('first window connect right after a start', () => {
  it('lists every name before the cold scan is done; deltas complete the list', async () => {
    const files: Record<string, string> = { 'secrets.yaml': 'x: y\n' };
    for (let i = 0; i < FILES; i++) files[`dev-${String(i).padStart(4, '0')}.yaml`] = yaml(i);
    const configDir = tempConfigDir(files);
    app = await createApp({ configDir, esphome: [SIM], peerLink: false, report: () => undefined });
    server = await startKilnServer({ service: app.service, port: 0, token: TOKEN, staticDir: configDir, helloTimeoutMs: 5000 });
    const c = await openClient(`ws://127.0.0.1:${server.port}/rpc`);
    const deltas: Array<{ changed?: ConfigurationEntry[]; removed?: string[] }> = [];
    c.client.on('configurationsChanged', (e) => deltas.push(e));
    await c.client.hello(TOKEN);
    const first = await c.client.api.listConfigurations({});
    const scannedWhenAnswered = app.service.configurations.primed;

    // Usable at once: every file is a row (name, actions), secrets.yaml is not.
    expect(first.map((e) => e.name)).toEqual(Object.keys(files).filter((n) => n !== 'secrets.yaml').sort());
    expect(scannedWhenAnswered).toBe(false);
    const reading = first.filter((e) => e.reading);
    expect(reading.length).toBeGreaterThan(0);
    expect(reading[0]).toEqual({ name: must(reading[0]).name, deviceName: '', friendlyName: '', platform: '', error: '', reading: true });

    // The deltas complete it, merged by name (as renderer/src/sync.ts mergeConfigurations does).
    let list = first;
    const merge = (changed: ConfigurationEntry[], removed: string[]): ConfigurationEntry[] => {
      const byName = new Map(list.map((e) => [e.name, e]));
      for (const n of removed) byName.delete(n);
      for (const e of changed) byName.set(e.name, e);
      return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    };
    await waitUntil(
      () => {
        for (const d of deltas.splice(0)) list = merge(d.changed ?? [], d.removed ?? []);
        return list.every((e) => !e.reading);
      },
      { timeoutMs: 60_000, what: () => `deltas for ${list.filter((e) => e.reading).length} entries still reading` },
    );
    expect(list).toHaveLength(FILES);
    expect(list.find((e) => e.name === 'dev-1234.yaml')).toEqual({ name: 'dev-1234.yaml', deviceName: 'dev-1234', friendlyName: 'Device 1234', platform: 'esp32', error: '' });
    // Each file was read once: a connect during the scan does not start another one.
    expect(app.service.configurations.stats.reads).toBe(FILES);
    // A reconnect now gets the complete list, nothing reading.
    const again = await c.client.api.listConfigurations({});
    expect(again).toEqual(list);
    c.ws.close();
  }, 120_000);
});
