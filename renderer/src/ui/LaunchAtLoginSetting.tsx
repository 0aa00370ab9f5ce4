// Settings → "Launch at login" (desktop app only: the browser UI of `kiln serve` cannot start
// anything at login). The Electron shell applies the stored setting: a login item on macOS and
// Windows, an XDG autostart entry on Linux (main/electron/launch-at-login.ts).
import type { Settings } from '../../../preload/contract';
import { useApp } from '../store/app';

export function LaunchAtLoginSetting({ settings, save }: { settings: Settings; save: (patch: Partial<Settings>) => Promise<void> }) {
  const desktop = useApp((s) => s.connection.state === 'open' && s.connection.hello.capabilities.desktop);
  if (!desktop) return null;
  return (
    <section className="card">
      <h2>Start</h2>
      <label className="switch">
        <input type="checkbox" checked={settings.launchAtLogin} onChange={(e) => void save({ launchAtLogin: e.target.checked })} data-testid="launch-at-login-toggle" />
        Launch Kiln when I log in (hidden in the tray while the build server is on)
      </label>
    </section>
  );
}
