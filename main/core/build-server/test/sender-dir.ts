// A sender's configuration folder for build-server tests: the simulator's examples plus
// hang-room.yaml (a copy of living-room whose compile hangs until cancelled), in a fresh temp dir.
// Also sets the simulator's speed to 0 and keeps esphome from writing .gitignore files.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './harness';

export async function makeSenderDir(): Promise<string> {
  process.env.ESPHOME_SIM_SPEED = '0';
  process.env.ESPHOME_NOGITIGNORE = '1';
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sender-'));
  await cp(join(REPO_ROOT, 'tools/esphome-sim/examples'), dir, { recursive: true });
  const living = await readFile(join(dir, 'living-room.yaml'), 'utf8');
  await writeFile(join(dir, 'hang-room.yaml'), `# sim: hang\n${living.replace('device: living-room', 'device: hang-room')}`);
  return dir;
}
