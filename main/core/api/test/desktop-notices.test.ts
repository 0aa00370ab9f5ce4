// The desktop's notices use the window's words (issue 16): the device's name as the device list
// shows it, and a failure's first decisive error line rather than "Process exited with code 1".
// A real createApp with the simulator; the desktop integration records what it is asked to show.
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { createApp, type KilnApp } from '../../app';
import type { DesktopIntegration, DesktopNotice } from '../../desktop';
import { cleanupDirs, SIM, tempConfigDir } from './helpers';

let app: KilnApp | null = null;
afterEach(async () => {
  await app?.stop();
  app = null;
  cleanupDirs();
});

const BROKEN = `# sim: compile-error
esphome:
  name: porch-light
  friendly_name: Porch Light

esp32:
  board: esp32dev
`;

describe('desktop notices', () => {
  it('a failed build is titled with the shown device name and says what failed', async () => {
    const notices: DesktopNotice[] = [];
    const desktop: DesktopIntegration = { notify: (n) => notices.push(n), setTrayState: () => undefined, dispose: () => undefined };
    const configDir = tempConfigDir({ 'porch.yaml': BROKEN });
    app = await createApp({ configDir, esphome: [SIM], peerLink: false, desktop, report: () => undefined, engine: { jobEnv: () => ({ ESPHOME_SIM_SPEED: '0' }) } });
    // The device list has been read once (as when a window connects).
    await app.service.configurations.list();
    const job = app.engine.compile({ configuration: 'porch.yaml' });
    const notice = await waitUntil(() => notices.find((n) => n.jobId === job.job_id), { timeoutMs: 30_000, what: () => `the failure notice (job ${app?.engine.getJob(job.job_id)?.status}; notices ${JSON.stringify(notices)})` });
    expect(notice.kind).toBe('failed');
    // The file is porch.yaml; the window shows "Porch Light".
    expect(notice.title).toBe('Porch Light: build failed');
    // The compiler's error line, not the exit code.
    expect(notice.body).toMatch(/error:/);
    expect(notice.body).not.toMatch(/exited with code/);
  }, 60_000);
});
