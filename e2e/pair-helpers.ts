// Shared steps of the remote specs.
import { execFileSync } from 'node:child_process';
import { expect } from '@playwright/test';
import { emojiFingerprint } from '../main/core/peer-link/fingerprint';
import type { KilnApp } from './pages/kiln-app';

export const emojiOf = (pin: string): string => emojiFingerprint(pin).map((e) => e.emoji).join('');

/** Pairs the window's backend with a key-mode `kiln receiver` through the UI; returns when connected. */
export async function pairWithBuildServer(app: KilnApp, r: { port: number; pin: string; pairingKey: string }, label: string): Promise<void> {
  await app.goto('servers');
  await expect(app.page.getByTestId('no-build-servers')).toBeVisible();
  await app.servers.openPairDialog();
  await app.pair.connect('127.0.0.1', r.port);
  // The confirm step shows the build server's fingerprint: the one its console printed.
  await expect(app.pair.serverFingerprint()).toHaveText(emojiOf(r.pin));
  await app.pair.send({ label, key: r.pairingKey });
  await expect(app.pair.done()).toBeVisible();
  await app.page.getByTestId('pair-done').getByRole('button', { name: 'Done' }).click();
  await app.servers.expectConnected(label);
}

/** PIDs of processes whose command line contains `needle` (read-only check, nothing is killed). */
export function pidsMatching(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => p !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
