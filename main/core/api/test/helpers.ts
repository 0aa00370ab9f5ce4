// Shared helpers for the API tests: temp config dirs with simulator YAMLs, a recording event
// sink, polling.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EventName, FrontendEvents } from '../../../../preload/contract';

export const REPO = resolve(__dirname, '../../../..');
export const SIM = join(REPO, 'tools/esphome-sim/esphome');
export const EXAMPLES = join(REPO, 'tools/esphome-sim/examples');

const dirs: string[] = [];

export function tempConfigDir(files: Record<string, string> = {}, examples: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-api-'));
  dirs.push(dir);
  for (const e of examples) copyFileSync(join(EXAMPLES, e), join(dir, e));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export type Recorded = { [E in EventName]: { event: E; data: FrontendEvents[E] } }[EventName];

export class Recorder {
  readonly events: Recorded[] = [];
  readonly sink = <E extends EventName>(event: E, data: FrontendEvents[E]): void => {
    this.events.push({ event, data } as Recorded);
  };
  of<E extends EventName>(event: E): Array<FrontendEvents[E]> {
    return this.events.filter((e) => e.event === event).map((e) => e.data as FrontendEvents[E]);
  }
}

export const MINIMAL_YAML = (name: string, extra = '') => `esphome:\n  name: ${name}\n\nesp8266:\n  board: esp01_1m\n\nwifi:\n  ssid: x\n  password: !secret wifi\n\nota:\n  - platform: esphome\n${extra}`;
