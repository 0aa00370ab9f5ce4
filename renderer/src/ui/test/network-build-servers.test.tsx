// @vitest-environment happy-dom
// "Build servers on your network" on the Build servers screen (ui-and-users §5.1, "Known dashboards" there) and the pair dialog opened
// from one of its rows (§5.2 step 1), against a scripted backend client of the same shape the
// WebSocket / MessagePort transports provide.
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildServerPreview, DiscoveredBuildServer, DiscoveredBuildServers } from '../../../../preload/contract';
import { emojiFingerprint } from '../../../../main/core/peer-link/fingerprint';
import { useApp } from '../../store/app';
import { useServers } from '../../store/servers';
import { startSync } from '../../sync';
import { BuildServers } from '../BuildServers';
import { PairDialog } from '../PairDialog';
import { scriptedBackend } from './scripted-api';

const PIN = '3f'.repeat(32);

function server(over: Partial<DiscoveredBuildServer> = {}): DiscoveredBuildServer {
  return {
    instance: 'esphome-builder-AbCd1234',
    name: 'Workshop PC',
    host: 'esphome-builder-AbCd1234.local',
    port: 6055,
    addresses: ['10.0.0.5', '2001:db8::5'],
    esphomeVersion: '2026.4.1',
    serverVersion: '0.3.0',
    pin: PIN,
    ...over,
  };
}

function discoveryBackend(discovered: DiscoveredBuildServers, preview: (p: { host: string; port: number }) => Promise<BuildServerPreview> | BuildServerPreview) {
  return scriptedBackend(
    {
      listBuildServers: () => [],
      getIdentity: () => ({ pin: '0'.repeat(64), dashboardId: 'me', label: 'me' }),
      listDiscoveredBuildServers: () => discovered,
      previewBuildServer: preview,
    },
    { pairing: true },
  );
}

/** The screen plus the dialog as App mounts it. */
function Screen() {
  const open = useApp((s) => s.pairDialogOpen);
  return (
    <>
      <BuildServers />
      {open ? <PairDialog /> : null}
    </>
  );
}

const flush = () => act(async () => await new Promise((r) => setTimeout(r, 0)));
const emojiOf = (pin: string) => emojiFingerprint(pin).map((e) => e.emoji).join('');

beforeEach(() => {
  useApp.setState({ view: 'servers', pairDialogOpen: false, toasts: [], settings: null });
  useServers.setState({ pairings: null, discovered: null, pairTarget: null, identity: null, role: null });
});
afterEach(() => cleanup());

describe('Build servers on your network', () => {
  it('lists discovered servers (name, host:port, ESPHome version, Pair) and follows the pushed list live', async () => {
    const b = discoveryBackend({ enabled: true, servers: [] }, () => {
      throw new Error('no preview expected');
    });
    startSync(b.backend);
    const view = render(<Screen />);
    await flush();
    expect(b.calls.map((c) => c.method)).toContain('listDiscoveredBuildServers');
    const section = screen.getByTestId('network-build-servers');
    expect(within(section).getByRole('heading').textContent).toBe('Build servers on your network');
    expect(screen.getByTestId('no-discovered').textContent).toBe('No unpaired build servers found on your network yet.');

    act(() => b.emit('discoveredBuildServersChanged', { enabled: true, servers: [server(), server({ instance: 'esphome-builder-Zz', name: 'Attic', host: 'attic.local', port: 6056, esphomeVersion: '' })] }));
    const rows = screen.getAllByTestId('discovered-row');
    expect(rows.map((r) => r.querySelector('strong')!.textContent)).toEqual(['Workshop PC', 'Attic']);
    expect(rows[0]!.textContent).toContain('esphome-builder-AbCd1234.local:6055 · ESPHome 2026.4.1');
    expect(rows[1]!.textContent).toContain('attic.local:6056');
    expect(rows[1]!.textContent).not.toContain('ESPHome');
    expect(within(rows[0]!).getByRole('button', { name: 'Pair with Workshop PC' }).textContent).toBe('Pair');

    // Paired elsewhere: the next pushed list no longer has it.
    act(() => b.emit('discoveredBuildServersChanged', { enabled: true, servers: [server()] }));
    expect(screen.getAllByTestId('discovered-row')).toHaveLength(1);
    // Leaving the screen stops listening.
    view.unmount();
    expect(b.listeners('discoveredBuildServersChanged')).toBe(0);
  });

  it('says so when discovery is off', async () => {
    const b = discoveryBackend({ enabled: false, servers: [] }, () => {
      throw new Error('no preview expected');
    });
    startSync(b.backend);
    render(<Screen />);
    await flush();
    expect(screen.getByTestId('discovery-off').textContent).toBe('Discovery is off (--no-mdns).');
    expect(screen.queryByTestId('no-discovered')).toBeNull();
  });

  it('Pair pre-fills the address, runs the preview at once and lands on Confirm with the fingerprint; Cancel closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = discoveryBackend({ enabled: true, servers: [server()] }, async (p) => {
      await gate;
      return { host: p.host, port: p.port, pin: PIN, friendlyName: 'Workshop PC', esphomeVersion: '2026.4.1', requiresPairingKey: true };
    });
    startSync(b.backend);
    render(<Screen />);
    await flush();
    fireEvent.click(screen.getByTestId('discovered-pair'));
    await flush();
    // While the preview handshake runs: the fields are pre-filled (an advertised address, not
    // the .local name) and the dialog says it is connecting; nothing has been confirmed yet.
    expect(b.calls.filter((c) => c.method === 'previewBuildServer')).toEqual([{ method: 'previewBuildServer', params: { host: '10.0.0.5', port: 6055 } }]);
    expect(screen.getByTestId<HTMLInputElement>('pair-host').value).toBe('10.0.0.5');
    expect(screen.getByTestId<HTMLInputElement>('pair-port').value).toBe('6055');
    expect(screen.getByTestId('pair-continue').textContent).toBe('Connecting…');
    expect(screen.queryByTestId('pair-confirm')).toBeNull();
    expect(useServers.getState().pairTarget).toBeNull();

    await act(async () => {
      release();
      await gate;
    });
    await flush();
    const confirm = screen.getByTestId('pair-confirm');
    expect(confirm.textContent).toContain('Connected to 10.0.0.5:6055');
    expect(screen.getByTestId('server-fingerprint-emoji').textContent).toBe(emojiOf(PIN));
    expect(screen.getByTestId<HTMLInputElement>('pair-label').value).toBe('Workshop PC');
    expect(screen.getByTestId('pair-key')).toBeTruthy();
    // Secondary button is Cancel (there is no input step to go back to).
    expect(within(confirm).queryByText('Back')).toBeNull();
    fireEvent.click(screen.getByTestId('pair-cancel'));
    expect(useApp.getState().pairDialogOpen).toBe(false);
    expect(screen.queryByTestId('pair-dialog')).toBeNull();
    // Only the one preview ran (no second handshake, no pair request).
    expect(b.calls.filter((c) => c.method === 'previewBuildServer' || c.method === 'pairBuildServer')).toHaveLength(1);
  });

  it('a failed preview from a discovered row stays on the editable input step with the error', async () => {
    const b = discoveryBackend({ enabled: true, servers: [server({ addresses: [] })] }, () => {
      throw new Error('connect ECONNREFUSED');
    });
    startSync(b.backend);
    render(<Screen />);
    await flush();
    fireEvent.click(screen.getByTestId('discovered-pair'));
    await flush();
    await flush();
    // No address advertised: the host name is used.
    expect(b.calls.find((c) => c.method === 'previewBuildServer')?.params).toEqual({ host: 'esphome-builder-AbCd1234.local', port: 6055 });
    expect(screen.getByRole('alert').textContent).toContain('connect ECONNREFUSED');
    expect(screen.getByTestId('pair-continue').textContent).toBe('Continue');
    expect(screen.queryByTestId('pair-confirm')).toBeNull();
  });

  it('the manual pair button still opens an empty input step', async () => {
    const b = discoveryBackend({ enabled: true, servers: [] }, () => {
      throw new Error('no preview expected');
    });
    startSync(b.backend);
    render(<Screen />);
    await flush();
    fireEvent.click(screen.getByTestId('open-pair-dialog'));
    await flush();
    expect(screen.getByTestId<HTMLInputElement>('pair-host').value).toBe('');
    expect(screen.getByTestId<HTMLInputElement>('pair-port').value).toBe('6055');
    expect(b.calls.some((c) => c.method === 'previewBuildServer')).toBe(false);
  });
});
