// Screenshots of the views a spec changed: a file under test-results/window/ (kept across runs of
// other specs) and an attachment on the test's result, so both the report and the folder hold it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, TestInfo } from '@playwright/test';

export const SHOT_DIR = join(import.meta.dirname, '..', 'test-results', 'window');

export async function shot(page: Page, info: TestInfo, name: string): Promise<string> {
  mkdirSync(SHOT_DIR, { recursive: true });
  const path = join(SHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  await info.attach(name, { path, contentType: 'image/png' });
  return path;
}

/** A small ESPHome device; `scenario` is the simulator's `# sim:` marker. */
export function deviceYaml(name: string, friendly: string, scenario = '', platform: 'esp8266' | 'esp32' = 'esp8266'): string {
  return `${scenario ? `# sim: ${scenario}\n` : ''}esphome:
  name: ${name}
  friendly_name: ${friendly}

${platform === 'esp8266' ? 'esp8266:\n  board: esp01_1m' : 'esp32:\n  board: esp32dev'}

wifi:
  ssid: x
  password: y

api:
ota:
  - platform: esphome
`;
}
