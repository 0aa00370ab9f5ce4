// @vitest-environment happy-dom
// YAML drop import in the window: the content is always what is imported; in the desktop app a
// (fake) preload bridge says where the file came from, and the install dialog shows it.
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackendClient } from '../../backend/backend';
import type { KilnBridge } from '../../backend/transports';
import { useApp } from '../../store/app';
import { startSync } from '../../sync';
import { droppedFromPath, importDroppedFile, useReplacePrompt } from '../drop';
import { InstallDialog } from '../InstallDialog';
import { scriptedApi } from './scripted-api';

const YAML = 'esphome:\n  name: porch\nesp8266:\n  board: esp01_1m\n';

/** A backend whose importYaml behaves like the API: `exists` unless overwrite. */
function scriptedBackend(existing: string[] = []) {
  const calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  const files = new Set(existing);
  const impl: Record<string, (p: Record<string, unknown>) => unknown> = {
    importYaml: (p) => {
      const name = p.name as string;
      if (files.has(name) && !p.overwrite) throw Object.assign(new Error('exists'), { code: 'precondition_failed', data: { reason: 'exists', configuration: name } });
      const overwritten = files.has(name);
      files.add(name);
      return { configuration: name, deviceName: 'porch', overwritten };
    },
    listConfigurations: () => [...files, 'kitchen.yaml'].map((name) => ({ name, deviceName: name.replace('.yaml', ''), friendlyName: '', platform: 'esp8266', error: '' })),
  };
  const api = scriptedApi(impl, calls);
  const backend = {
    api,
    mode: 'electron',
    status: () => ({ state: 'connecting' }),
    onStatus: () => () => undefined,
    on: () => () => undefined,
    onConnected: () => () => undefined,
    close: () => undefined,
  } as unknown as BackendClient;
  return { backend, calls };
}

/** A fake preload bridge: connect() does nothing here; pathForDisplay answers from a map. */
function fakeBridge(paths: Map<File, string> | ((f: File) => string)): KilnBridge & { asked: File[] } {
  const asked: File[] = [];
  return {
    asked,
    connect: () => undefined,
    pathForDisplay: (f: File) => {
      asked.push(f);
      return typeof paths === 'function' ? paths(f) : (paths.get(f) ?? '');
    },
  };
}

const yamlFile = (name = 'porch.yaml') => new File([YAML], name, { type: 'application/x-yaml' });

beforeEach(() => {
  useApp.setState({ view: 'settings', installDialog: null, configurations: null, toasts: [] });
});
afterEach(() => {
  cleanup();
  delete window.bridge;
});

describe('YAML drop with the desktop bridge', () => {
  it('imports the content and shows "Imported from <path>" in the install dialog', async () => {
    const b = scriptedBackend();
    startSync(b.backend);
    const file = yamlFile();
    const bridge = fakeBridge(new Map([[file, '/home/me/Downloads/porch.yaml']]));
    window.bridge = bridge;
    await act(() => importDroppedFile(file));
    // The import is the content, never the path (main validates the content like any import).
    const imports = b.calls.filter((c) => c.method === 'importYaml');
    expect(imports).toEqual([{ method: 'importYaml', params: { name: 'porch.yaml', content: YAML } }]);
    expect(JSON.stringify(b.calls)).not.toContain('/home/me');
    expect(bridge.asked).toEqual([file]);
    expect(useApp.getState().installDialog).toEqual({ configuration: 'porch.yaml', importedFrom: '/home/me/Downloads/porch.yaml' });
    expect(useApp.getState().view).toBe('tasks');

    render(<InstallDialog />);
    expect(screen.getByTestId('install-imported-from').textContent).toBe('Imported from /home/me/Downloads/porch.yaml');
    // Another configuration picked: the line no longer applies.
    fireEvent.change(screen.getByTestId('install-config'), { target: { value: 'kitchen.yaml' } });
    expect(screen.queryByTestId('install-imported-from')).toBeNull();
    fireEvent.change(screen.getByTestId('install-config'), { target: { value: 'porch.yaml' } });
    expect(screen.getByTestId('install-imported-from')).toBeTruthy();
  });

  it('a replaced file keeps the line; a clash the user declines opens nothing (the app asks, not confirm())', async () => {
    const b = scriptedBackend(['porch.yaml']);
    startSync(b.backend);
    window.bridge = fakeBridge(() => '/mnt/usb/porch.yaml');
    window.confirm = () => {
      throw new Error('window.confirm must not be used');
    };
    // The prompt is answered as soon as it is asked: replace first, keep the second time.
    const answers = [true, false];
    const off = useReplacePrompt.subscribe((s) => s.ask?.answer(answers.shift()!));
    await act(() => importDroppedFile(yamlFile()));
    expect(b.calls.filter((c) => c.method === 'importYaml').map((c) => c.params.overwrite)).toEqual([undefined, true]);
    expect(useApp.getState().installDialog).toEqual({ configuration: 'porch.yaml', importedFrom: '/mnt/usb/porch.yaml' });
    useApp.setState({ installDialog: null });
    await act(() => importDroppedFile(yamlFile()));
    off();
    expect(useApp.getState().installDialog).toBeNull();
  });

  it('no path to show: browser (no bridge), a file without one, a failing or odd bridge answer', async () => {
    const b = scriptedBackend();
    startSync(b.backend);
    const file = yamlFile();
    expect(droppedFromPath(file)).toBe('');
    window.bridge = { connect: () => undefined }; // an older bridge without the passthrough
    expect(droppedFromPath(file)).toBe('');
    window.bridge = fakeBridge(() => ''); // JS-constructed File: no disk path
    expect(droppedFromPath(file)).toBe('');
    window.bridge = fakeBridge(() => {
      throw new Error('not a File');
    });
    expect(droppedFromPath(file)).toBe('');
    window.bridge = fakeBridge(() => '/tmp/a\nb.yaml');
    expect(droppedFromPath(file)).toBe('');
    window.bridge = fakeBridge(() => 42 as unknown as string);
    expect(droppedFromPath(file)).toBe('');

    // The import itself is unaffected.
    await act(() => importDroppedFile(file));
    expect(useApp.getState().installDialog).toEqual({ configuration: 'porch.yaml' });
    render(<InstallDialog />);
    expect(screen.queryByTestId('install-imported-from')).toBeNull();
  });

  it('a refused drop (not YAML) asks the bridge nothing and imports nothing', async () => {
    const b = scriptedBackend();
    startSync(b.backend);
    const bridge = fakeBridge(() => '/x/notes.txt');
    window.bridge = bridge;
    await act(() => importDroppedFile(new File(['x'], 'notes.txt')));
    expect(b.calls).toEqual([]);
    expect(bridge.asked).toEqual([]);
    expect(useApp.getState().toasts.map((t) => t.title)).toEqual(['Not a YAML file']);
  });
});

describe('YAML drop size check (issue 11 defect 1: the window checks the server limit before sending)', () => {
  it('refuses a file over 512 KiB without sending anything', async () => {
    const b = scriptedBackend();
    startSync(b.backend);
    const big = new File([YAML + '#' + 'x'.repeat(512 * 1024)], 'big.yaml');
    await act(() => importDroppedFile(big));
    expect(b.calls.filter((c) => c.method === 'importYaml')).toEqual([]);
    expect(useApp.getState().toasts.at(-1)).toMatchObject({ kind: 'error', title: 'File too large' });
  });

  it('refuses a file under the limit whose decoded text is over it (invalid bytes become U+FFFD)', async () => {
    const b = scriptedBackend();
    startSync(b.backend);
    const bytes = new Uint8Array(400 * 1024).fill(0xff); // 400 KiB on disk → 1.2 MB of UTF-8 text
    const file = new File([bytes], 'binary.yaml');
    expect(file.size).toBeLessThan(512 * 1024);
    await act(() => importDroppedFile(file));
    expect(b.calls.filter((c) => c.method === 'importYaml')).toEqual([]);
    expect(useApp.getState().toasts.at(-1)).toMatchObject({ kind: 'error', title: 'File too large' });
  });
});
