// @vitest-environment happy-dom
// The build-server card's ESPHome line: its version, whether it provisions, and the warning when
// a mismatch means its firmware differs from a local build.
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { BuildServerPairing } from '../../../../preload/contract';
import { useApp } from '../../store/app';
import { BuildServerVersion } from '../BuildServerVersion';

const pairing = (over: Partial<BuildServerPairing> = {}): BuildServerPairing =>
  ({ pin: 'a'.repeat(64), host: 'h', port: 6055, label: 'srv', friendlyName: 'srv', status: 'approved', enabled: true, connection: 'connected', lastError: '', esphomeVersion: '2026.9.0', autoProvision: false, queue: null, pairedAt: '', ...over });

function local(version: string) {
  useApp.setState({ env: { appVersion: '', configDir: '', dataDir: '', esphome: { command: [], found: true, version, simulator: false, error: '' } } });
}

afterEach(cleanup);

describe('BuildServerVersion', () => {
  it('same version: just the version', () => {
    local('2026.9.0');
    render(<BuildServerVersion p={pairing()} />);
    expect(screen.getByTestId('pairing-esphome').textContent).toBe(' · ESPHome 2026.9.0');
    expect(screen.queryByTestId('pairing-version-warning')).toBeNull();
  });
  it('mismatch without provisioning: warns the firmware will differ', () => {
    local('2026.10.0');
    render(<BuildServerVersion p={pairing()} />);
    expect(screen.getByTestId('pairing-version-warning').textContent).toMatch(/differs from yours \(2026\.10\.0\) and cannot install yours: firmware built there will differ from a local build/);
  });
  it('mismatch with provisioning: says it builds with your version, no warning', () => {
    local('2026.10.0');
    render(<BuildServerVersion p={pairing({ autoProvision: true })} />);
    expect(screen.getByTestId('pairing-provisions').textContent).toMatch(/builds with your ESPHome 2026\.10\.0 \(installs it there\)/);
    expect(screen.queryByTestId('pairing-version-warning')).toBeNull();
  });
});
