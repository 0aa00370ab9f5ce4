// The typed API over a MessagePort: the port is handed out only to the trusted frame, then the
// real RPC server + ApiService + JobEngine answer over it (fake MessageChannelMain with
// structured clone), and a reload replaces the old connection.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('electron', () => import('./fake-electron'));

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../../../preload/contract';
import { serveRpc } from '../../core/api/rpc-server';
import { ApiService } from '../../core/api/api-service';
import { SettingsStore } from '../../core/api/settings-store';
import { JobEngine } from '../../core/jobs/engine';
import { IPC } from '../constants';
import { RECEIPT, handleRpcPortRequests, portChannel } from '../rpc-port';
import { waitUntil } from '../../../test/support/wait-until';
import { BrowserWindow, IpcMainEventLike, MessageChannelMain, WebContents, WebFrameMain, ipcMain, resetFakeElectron, type MessagePortMain } from './fake-electron';
import { must } from '../../../test/support/must';

let dir: string;
let engine: JobEngine;
let service: ApiService;
let stop: (() => void) | null = null;
const refused: string[] = [];

beforeEach(async () => {
  resetFakeElectron();
  refused.length = 0;
  dir = mkdtempSync(join(tmpdir(), 'kiln-rpcport-'));
  engine = new JobEngine({ configDir: dir, persist: false, esphome: ['/bin/false'] });
  await engine.start();
  service = new ApiService({ jobs: engine, settings: SettingsStore.forDataDir(join(dir, '.kiln')), defaultEsphome: ['/bin/false'], desktop: true });
});
afterEach(async () => {
  stop?.();
  stop = null;
  service.dispose();
  await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

function start() {
  const win = new BrowserWindow();
  void win.loadURL('app://kiln/index.html');
  stop = handleRpcPortRequests({
    getWindow: () => win as never,
    serve: (channel) => serveRpc(channel, { service }),
    onRefused: (r) => refused.push(r),
  });
  return win;
}

/** The renderer's side of a port: request/response by id. */
function client(port: MessagePortMain) {
  const waiting = new Map<number, (msg: unknown) => void>();
  const events: unknown[] = [];
  let closed = false;
  port.on('message', (e: { data: { t: string; id: number } }) => {
    if (e.data.t === 'res') waiting.get(e.data.id)?.(e.data);
    else events.push(e.data);
  });
  port.on('close', () => (closed = true));
  port.start();
  let id = 0;
  return {
    events,
    get closed() {
      return closed;
    },
    call(method: string, params: unknown = {}) {
      const myId = ++id;
      return new Promise<{ ok: boolean; result?: unknown; error?: { code: string } }>((resolve) => {
        waiting.set(myId, resolve as never);
        port.postMessage({ t: 'req', id: myId, method, params });
      });
    },
  };
}

describe('RPC over MessagePort', () => {
  it('hands a port to the trusted main frame and serves the typed API over it', async () => {
    const win = start();
    const frame = win.webContents.mainFrame;
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    expect(frame.posted).toHaveLength(1);
    expect(must(frame.posted[0]).channel).toBe('rpc:port');
    const c = client(must(must(frame.posted[0]).transfer[0]));

    const hello = await c.call('hello', { protocol: PROTOCOL_VERSION, client: 'test' });
    expect(hello).toMatchObject({ ok: true, result: { protocol: PROTOCOL_VERSION, capabilities: { desktop: true } } });
    expect(await c.call('getJobs', {})).toEqual({ t: 'res', id: 2, ok: true, result: [] });
    const bad = await c.call('getJob', { jobId: '../../etc' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_args' } });
  });

  it('refuses port requests from other windows, sub-frames and foreign origins', () => {
    const win = start();
    const top = win.webContents.mainFrame;
    const attempts = [
      new IpcMainEventLike(new WebContents(), new WebFrameMain('app://kiln/index.html')),
      new IpcMainEventLike(win.webContents, new WebFrameMain('app://kiln/frame.html', top)),
      new IpcMainEventLike(win.webContents, new WebFrameMain('https://evil.example/')),
      new IpcMainEventLike(win.webContents, null),
    ];
    for (const ev of attempts) ipcMain.simulateSend(IPC.connect, ev);
    expect(refused).toHaveLength(4);
    for (const ev of attempts) expect(ev.senderFrame?.posted ?? []).toEqual([]);
    expect(top.posted).toEqual([]);
  });

  it('a reload (new request) closes the previous connection; stopping closes all', async () => {
    const win = start();
    const frame = win.webContents.mainFrame;
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    const first = client(must(must(frame.posted[0]).transfer[0]));
    expect((await first.call('hello', { protocol: PROTOCOL_VERSION })).ok).toBe(true);
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    await new Promise((r) => setTimeout(r, 5));
    expect(first.closed).toBe(true);
    const second = client(must(must(frame.posted[1]).transfer[0]));
    expect((await second.call('hello', { protocol: PROTOCOL_VERSION })).ok).toBe(true);
    stop!();
    stop = null;
    await new Promise((r) => setTimeout(r, 5));
    expect(second.closed).toBe(true);
    expect(ipcMain.listenerCount(IPC.connect)).toBe(0);
  });

  it('events reach the renderer after hello (job lifecycle over the port)', async () => {
    const win = start();
    const frame = win.webContents.mainFrame;
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    const c = client(must(must(frame.posted[0]).transfer[0]));
    await c.call('hello', { protocol: PROTOCOL_VERSION });
    service.broadcast('toast', { kind: 'info', title: 'Kiln', body: 'hello over the port' });
    await new Promise((r) => setTimeout(r, 5));
    expect(c.events).toContainEqual({ t: 'evt', event: 'toast', data: { kind: 'info', title: 'Kiln', body: 'hello over the port' } });
  });
});

describe('RPC port: listeners and back-pressure', () => {
  it('reloads do not pile up `destroyed` listeners (one per webContents, removed on stop)', async () => {
    const win = start();
    const frame = win.webContents.mainFrame;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    for (let i = 0; i < 25; i++) ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(win.webContents.listenerCount('destroyed')).toBe(1);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    stop!();
    stop = null;
    expect(win.webContents.listenerCount('destroyed')).toBe(0);
  });

  it('backlog() counts bytes posted and not yet acknowledged by the page\'s receipts', async () => {
    const { port1, port2 } = new MessageChannelMain();
    const ch = portChannel(port1);
    const seen: unknown[] = [];
    ch.onMessage((m) => seen.push(m));
    port1.start();
    port2.start();
    ch.send({ t: 'evt', event: 'logBatch', data: { jobId: 'j', firstSeq: 0, lines: ['x'.repeat(1000)] } });
    expect(ch.backlog()).toBe(0); // no receipt yet: the page may not send them; no throttling
    port2.postMessage({ t: RECEIPT, n: 0 });
    await waitUntil(() => ch.backlog() > 1000);
    ch.send({ t: 'evt', event: 'logBatch', data: { jobId: 'j', firstSeq: 1, lines: ['y'.repeat(2000)] } });
    expect(ch.backlog()).toBeGreaterThan(3000);
    port2.postMessage({ t: RECEIPT, n: 1 });
    await waitUntil(() => ch.backlog() > 0 && ch.backlog() < 2100);
    port2.postMessage({ t: RECEIPT, n: 2 });
    await waitUntil(() => ch.backlog() === 0);
    // receipts are transport-level: the RPC never sees them; garbage receipts change nothing
    port2.postMessage({ t: RECEIPT, n: -1 });
    port2.postMessage({ t: RECEIPT, n: 'x' });
    port2.postMessage({ t: 'req', id: 1, method: 'hello', params: {} });
    await waitUntil(() => seen.length === 1);
    expect(seen).toEqual([{ t: 'req', id: 1, method: 'hello', params: {} }]);
    expect(ch.backlog()).toBe(0);
  });

  it('a page that stops reading gets a gap instead of more log batches (the WebSocket throttling, over the port)', async () => {
    // A running job that prints a lot; the page acknowledges once (receipts on) and then stalls.
    const script = join(dir, 'chatty');
    writeFileSync(script, '#!/bin/sh\ncase " $* " in *" version "*|*" --version "*) echo "Version: 2026.1.0"; exit 0;; esac\ni=0\nwhile [ $i -lt 400 ]; do head -c 20000 /dev/zero | tr "\\\\0" "a"; echo; i=$((i+1)); done\nsleep 30\n');
    chmodSync(script, 0o755);
    writeFileSync(join(dir, 'kitchen.yaml'), 'esphome:\n  name: kitchen\n');
    await engine.stop();
    engine = new JobEngine({ configDir: dir, persist: false, esphome: [script] });
    await engine.start();
    service.dispose();
    service = new ApiService({ jobs: engine, settings: SettingsStore.forDataDir(join(dir, '.kiln')), defaultEsphome: [script], desktop: true });
    const win = start();
    const frame = win.webContents.mainFrame;
    ipcMain.simulateSend(IPC.connect, new IpcMainEventLike(win.webContents, frame));
    const port = frame.posted[0]!.transfer[0]!;
    const c = client(port);
    port.postMessage({ t: RECEIPT, n: 0 });
    await c.call('hello', { protocol: PROTOCOL_VERSION });
    const res = (await c.call('compile', { configuration: 'kitchen.yaml' })) as { result: { job_id: string } };
    await c.call('followLog', { jobId: res.result.job_id });
    const gap = await waitUntil(() => c.events.find((e) => (e as { event?: string }).event === 'logGap'), { what: 'a logGap event' });
    expect(gap).toMatchObject({ t: 'evt', event: 'logGap', data: { jobId: res.result.job_id } });
    await engine.cancel(res.result.job_id);
  });
});
