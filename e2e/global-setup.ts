// Builds the window once per run (about a second) so the specs never test a stale bundle.
import { build } from 'vite';
import { join } from 'node:path';

export default async function globalSetup(): Promise<void> {
  if (process.env.KILN_E2E_SKIP_BUILD === '1') return;
  await build({ configFile: join(import.meta.dirname, '..', 'renderer', 'vite.config.ts'), logLevel: 'warn' });
}
