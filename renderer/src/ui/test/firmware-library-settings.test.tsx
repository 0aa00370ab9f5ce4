// @vitest-environment happy-dom
// Settings → Firmware library: shows the stored retention and the size in use; a value out of
// range gets the plain-words message and no call; a valid change is saved through
// setFirmwareRetention and the form shows what the backend kept; a backend refusal is shown.
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { FirmwareRetention } from '../../../../preload/contract';
import type { BackendClient } from '../../backend/backend';
import { startSync } from '../../sync';
import { FirmwareLibrarySettings, retentionProblem } from '../FirmwareLibrarySettings';
import { scriptedApi, type RecordedCall } from './scripted-api';

const GIB = 1024 ** 3;

function backendWith(impl: Record<string, (p: Record<string, unknown>) => unknown>) {
  const calls: Array<RecordedCall<Record<string, unknown>>> = [];
  const backend = {
    api: scriptedApi(impl, calls),
    mode: 'electron',
    status: () => ({ state: 'connecting' }),
    onStatus: () => () => undefined,
    on: () => () => undefined,
    onConnected: () => () => undefined,
    close: () => undefined,
  } as unknown as BackendClient;
  startSync(backend);
  return calls;
}

afterEach(() => cleanup());

describe('FirmwareLibrarySettings', () => {
  it('shows N, the size limit and the size used; saves a valid change', async () => {
    let stored: FirmwareRetention = { keepPerDevice: 3, maxBytes: GIB, usedBytes: 52_428_800 };
    const calls = backendWith({
      getFirmwareRetention: () => stored,
      setFirmwareRetention: (p) => (stored = { keepPerDevice: p.keepPerDevice as number, maxBytes: p.maxBytes as number, usedBytes: 10_485_760 }),
    });
    render(<FirmwareLibrarySettings />);
    const keep = await screen.findByTestId<HTMLInputElement>('fw-keep');
    expect(screen.getByText('Keep the last N builds per device')).toBeTruthy();
    expect(screen.getByText('Total size limit')).toBeTruthy();
    expect(keep.value).toBe('3');
    expect(screen.getByTestId<HTMLInputElement>('fw-max-size').value).toBe('1');
    expect(screen.getByTestId<HTMLSelectElement>('fw-max-unit').value).toBe('GiB');
    expect(screen.getByTestId('fw-used').textContent).toContain('In use: 50 MiB of 1 GiB');

    fireEvent.change(keep, { target: { value: '5' } });
    fireEvent.change(screen.getByTestId('fw-max-size'), { target: { value: '512' } });
    fireEvent.change(screen.getByTestId('fw-max-unit'), { target: { value: 'MiB' } });
    await act(async () => fireEvent.click(screen.getByTestId('save-fw-retention')));
    await waitFor(() => expect(screen.getByTestId('fw-retention-note').textContent).toBe('Saved.'));
    expect(calls.filter((c) => c.method === 'setFirmwareRetention').map((c) => c.params)).toEqual([{ keepPerDevice: 5, maxBytes: 512 * 1024 ** 2 }]);
    expect(screen.getByTestId('fw-used').textContent).toContain('In use: 10 MiB of 512 MiB');
  });

  it('out of range: the message names the setting and nothing is sent', async () => {
    const calls = backendWith({ getFirmwareRetention: () => ({ keepPerDevice: 3, maxBytes: GIB, usedBytes: 0 }), setFirmwareRetention: () => ({}) });
    render(<FirmwareLibrarySettings />);
    const keep = await screen.findByTestId('fw-keep');
    fireEvent.change(keep, { target: { value: '0' } });
    await act(async () => fireEvent.click(screen.getByTestId('save-fw-retention')));
    const note = screen.getByTestId('fw-retention-note');
    expect(note.getAttribute('role')).toBe('alert');
    expect(note.textContent).toBe('Keep the last N builds per device: enter a whole number from 1 to 50. Nothing was saved.');
    fireEvent.change(keep, { target: { value: '3' } });
    fireEvent.change(screen.getByTestId('fw-max-size'), { target: { value: '32' } });
    fireEvent.change(screen.getByTestId('fw-max-unit'), { target: { value: 'MiB' } });
    await act(async () => fireEvent.click(screen.getByTestId('save-fw-retention')));
    expect(screen.getByTestId('fw-retention-note').textContent).toBe('Total size limit: enter a size from 64 MiB to 100 GiB. Nothing was saved.');
    expect(calls.some((c) => c.method === 'setFirmwareRetention')).toBe(false);
    expect(retentionProblem('51', '1', 'GiB')).toMatch(/from 1 to 50/);
    expect(retentionProblem('2.5', '1', 'GiB')).toMatch(/whole number/);
    expect(retentionProblem('3', '101', 'GiB')).toMatch(/Total size limit/);
    expect(retentionProblem('50', '100', 'GiB')).toBe('');
  });

  it('a refusal from the backend is shown as the error', async () => {
    backendWith({
      getFirmwareRetention: () => ({ keepPerDevice: 3, maxBytes: GIB, usedBytes: 0 }),
      setFirmwareRetention: () => {
        throw new Error('the firmware library settings cannot be changed in this mode');
      },
    });
    render(<FirmwareLibrarySettings />);
    await screen.findByTestId('fw-keep');
    await act(async () => fireEvent.click(screen.getByTestId('save-fw-retention')));
    await waitFor(() => expect(screen.getByTestId('fw-retention-note').textContent).toBe('the firmware library settings cannot be changed in this mode'));
  });
});
