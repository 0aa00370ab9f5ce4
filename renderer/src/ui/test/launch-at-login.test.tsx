// @vitest-environment happy-dom
// Settings → Launch at login: shown only in the desktop app (hello capability), saves the flag.
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Settings } from '../../../../preload/contract';
import { useApp } from '../../store/app';
import { LaunchAtLoginSetting } from '../LaunchAtLoginSetting';

const SETTINGS: Settings = {
  esphomeCommand: [],
  configDir: '/cfg',
  remoteBuildsEnabled: true,
  includeLocalInPool: false,
  versionPolicy: 'any',
  notifications: true,
  launchAtLogin: false,
};

function connect(desktop: boolean) {
  useApp.getState().set({ connection: { state: 'open', hello: { protocol: 1, serverVersion: 'test', capabilities: { desktop, buildServerRole: true, pairing: true } } } });
}

afterEach(() => cleanup());

describe('LaunchAtLoginSetting', () => {
  it('desktop app: a switch that saves launchAtLogin', () => {
    connect(true);
    const saved: Array<Partial<Settings>> = [];
    render(<LaunchAtLoginSetting settings={SETTINGS} save={async (p) => void saved.push(p)} />);
    const box = screen.getByTestId<HTMLInputElement>('launch-at-login-toggle');
    expect(box.checked).toBe(false);
    fireEvent.click(box);
    expect(saved).toEqual([{ launchAtLogin: true }]);
  });

  it('browser (kiln serve): not shown', () => {
    connect(false);
    render(<LaunchAtLoginSetting settings={SETTINGS} save={async () => undefined} />);
    expect(screen.queryByTestId('launch-at-login-toggle')).toBeNull();
  });
});
