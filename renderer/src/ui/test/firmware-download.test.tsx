// @vitest-environment happy-dom
// Download in the kept builds: the window always asks saveFirmwareAs; the desktop answers with the
// saved path (shown), a browser backend with "use the download link" (the window then fetches the
// token-protected HTTP download), a cancel shows nothing.
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FirmwareBuild, SaveFirmwareResult } from '../../../../preload/contract';
import type { BackendClient } from '../../backend/backend';
import { startSync } from '../../sync';
import { FirmwareBuilds } from '../FirmwareStatus';
import { scriptedApi, type RecordedCall } from './scripted-api';

const BUILD: FirmwareBuild = {
  id: 'mk1abc-0123abcd', configuration: 'kitchen.yaml', builtAt: '2026-12-05T06:00:00Z', builtOn: 'local', builtOnLabel: 'this computer', esphomeVersion: '2026.11.1',
  platform: 'ESP32', board: 'esp32dev', digest: 'c0ffee12'.repeat(8), pinned: false, size: 1000,
  images: [{ kind: 'ota', size: 1000, sha256: 'a'.repeat(64), fileName: 'kitchen-2026.11.1-c0ffee12.ota.bin' }],
};

function withAnswer(answer: SaveFirmwareResult) {
  const calls: Array<RecordedCall<Record<string, unknown>>> = [];
  startSync({
    api: scriptedApi({ listFirmwareBuilds: () => [BUILD], saveFirmwareAs: () => answer }, calls),
    mode: 'electron',
    status: () => ({ state: 'connecting' }),
    onStatus: () => () => undefined,
    on: () => () => undefined,
    onConnected: () => () => undefined,
    close: () => undefined,
  } as unknown as BackendClient);
  return calls;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('kept builds: Download', () => {
  it('desktop: saved where the user chose, the path is shown; no HTTP fetch', async () => {
    const fetchSpy = vi.fn();
    vi.stubGlobal('fetch', fetchSpy);
    const calls = withAnswer({ outcome: 'saved', path: '/home/me/Downloads/kitchen.ota.bin', bytes: 1000, sha256: 'a'.repeat(64) });
    render(<FirmwareBuilds configuration="kitchen.yaml" onClose={() => undefined} />);
    const button = await screen.findByTestId('download-ota');
    await act(async () => fireEvent.click(button));
    await waitFor(() => expect(screen.getByTestId('firmware-saved').textContent).toBe('Saved /home/me/Downloads/kitchen.ota.bin'));
    expect(calls.filter((c) => c.method === 'saveFirmwareAs').map((c) => c.params)).toEqual([{ buildId: BUILD.id, kind: 'ota' }]);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('browser: "use the download link" → the HTTP download of that image', async () => {
    const fetchSpy = vi.fn(async () => new Response(new Uint8Array([1, 2, 3])));
    vi.stubGlobal('fetch', fetchSpy);
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:x', revokeObjectURL: () => undefined }));
    withAnswer({ outcome: 'use-download-link' });
    render(<FirmwareBuilds configuration="kitchen.yaml" onClose={() => undefined} />);
    const button = await screen.findByTestId('download-ota');
    await act(async () => fireEvent.click(button));
    await waitFor(() => expect(fetchSpy).toHaveBeenCalledTimes(1));
    expect((fetchSpy.mock.calls[0] as unknown[])[0]).toBe(`/firmware/${BUILD.id}/ota`);
    expect(screen.queryByTestId('firmware-saved')).toBeNull();
  });

  it('cancelled: nothing shown, nothing fetched', async () => {
    const fetchSpy = vi.fn();
    vi.stubGlobal('fetch', fetchSpy);
    const calls = withAnswer({ outcome: 'cancelled' });
    render(<FirmwareBuilds configuration="kitchen.yaml" onClose={() => undefined} />);
    const button = await screen.findByTestId('download-ota');
    await act(async () => fireEvent.click(button));
    await waitFor(() => expect(calls.some((c) => c.method === 'saveFirmwareAs')).toBe(true));
    await act(async () => undefined); // the answer is applied
    expect(screen.queryByTestId('firmware-saved')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
