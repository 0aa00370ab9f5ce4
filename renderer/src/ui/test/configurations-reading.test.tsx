// @vitest-environment happy-dom
// Issue 18 §3 (P7): right after the server started, the device list is usable at once — every
// row with its actions, "reading…" on the rows the server has not parsed yet — and the
// configurationsChanged deltas of the server's first scan fill those rows in (the real sync).
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigurationEntry, EventName, FrontendEvents } from '../../../../preload/contract';
import type { BackendClient } from '../../backend/backend';
import { useApp } from '../../store/app';
import { refreshConfigurations, startSync } from '../../sync';
import { Configurations } from '../Configurations';
import { scriptedApi } from './scripted-api';
import { must } from '../../../../test/support/must';

const reading = (name: string): ConfigurationEntry => ({ name, deviceName: '', friendlyName: '', platform: '', error: '', reading: true });

function scriptedBackend(first: ConfigurationEntry[]) {
  const calls: Array<{ method: string; params: unknown }> = [];
  const handlers = new Map<string, Array<(d: unknown) => void>>();
  const impl: Record<string, (p: unknown) => unknown> = {
    listConfigurations: () => first,
    getFirmwareStatus: () => [],
  };
  const backend = {
    api: scriptedApi(impl, calls),
    mode: 'web',
    status: () => ({ state: 'connecting' }),
    onStatus: () => () => undefined,
    on: (event: string, fn: (d: unknown) => void) => {
      handlers.set(event, [...(handlers.get(event) ?? []), fn]);
      return () => undefined;
    },
    onConnected: () => () => undefined,
    close: () => undefined,
  } as unknown as BackendClient;
  return {
    backend,
    emit<E extends EventName>(event: E, data: FrontendEvents[E]) {
      for (const fn of handlers.get(event) ?? []) fn(data);
    },
  };
}

beforeEach(() => useApp.setState({ view: 'tasks', configurations: null, toasts: [] }));
afterEach(() => cleanup());

describe('device list during the server’s first scan', () => {
  it('shows every row with its actions at once; deltas fill the reading rows in', async () => {
    const b = scriptedBackend([{ name: 'attic.yaml', deviceName: 'attic', friendlyName: 'Attic', platform: 'esp32', error: '' }, reading('porch.yaml')]);
    startSync(b.backend);
    await act(async () => await refreshConfigurations());
    render(<Configurations />);
    const rows = screen.getAllByTestId('configuration');
    expect(rows.map((r) => r.getAttribute('data-name'))).toEqual(['attic.yaml', 'porch.yaml']);
    const [attic, porch] = [must(rows[0]), must(rows[1])];
    expect(within(porch).getByTestId('config-reading').textContent).toBe('reading…');
    expect(within(porch).getByTestId('compile')).toBeTruthy(); // usable: its actions are there
    expect(within(attic).queryByTestId('config-reading')).toBeNull();

    act(() => b.emit('configurationsChanged', { reason: 'scan', changed: [{ name: 'porch.yaml', deviceName: 'porch', friendlyName: 'Porch light', platform: 'esp8266', error: '' }], removed: [] }));
    const after = screen.getAllByTestId('configuration').find((r) => r.getAttribute('data-name') === 'porch.yaml')!;
    expect(within(after).queryByTestId('config-reading')).toBeNull();
    expect(after.textContent).toContain('Porch light');
    expect(after.textContent).toContain('esp8266');
  });
});
