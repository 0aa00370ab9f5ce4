// Issue 16: an automated accessibility check (axe-core through Playwright) on every main view —
// tasks (empty, with a failed job's log), build servers, settings, the install and pair dialogs,
// the clear-history confirmation — in light and dark: 0 serious or critical violations.
import AxeBuilder from '@axe-core/playwright';
import type { Page, TestInfo } from '@playwright/test';
import { expect, test } from '../fixtures';
import { shot } from '../shots';

async function check(page: Page, info: TestInfo, name: string): Promise<void> {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  await info.attach(`axe-${name}.json`, { body: JSON.stringify(r.violations, null, 2), contentType: 'application/json' });
  await shot(page, info, `a11y-${name}`);
  expect(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`),
    `${name}: serious/critical axe violations`,
  ).toEqual([]);
}

for (const scheme of ['light', 'dark'] as const) {
  test(`axe: every main view, ${scheme}`, async ({ app, page }, info) => {
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    await check(page, info, `${scheme}-tasks-empty`);
    await app.tasks.compile('broken-lambda.yaml');
    await app.tasks.expectStatus(app.tasks.row('broken-lambda'), 'failed');
    await check(page, info, `${scheme}-tasks-failed-log`);
    await app.tasks.openInstall('kitchen-plug.yaml');
    await check(page, info, `${scheme}-install-dialog`);
    // The dialog stands out from the page behind it: its own background and a visible border.
    const look = await page.evaluate<{ bg: string; border: string; width: string; page: string }>(
      `(() => { const s = getComputedStyle(document.querySelector('[data-testid="install-dialog"]')); return { bg: s.backgroundColor, border: s.borderTopColor, width: s.borderTopWidth, page: getComputedStyle(document.body).backgroundColor }; })()`,
    );
    expect(look.width).toBe('1px');
    expect(look.bg).not.toBe(look.page);
    expect(look.border).not.toBe(look.bg);
    await page.keyboard.press('Escape');
    await page.getByTestId('clear-all').click();
    await check(page, info, `${scheme}-clear-confirm`);
    await page.keyboard.press('Escape');
    await page.getByTestId('device-menu').first().click();
    await check(page, info, `${scheme}-device-menu`);
    await page.keyboard.press('Escape');
    await app.goto('servers');
    await expect(page.getByTestId('role-section')).toBeVisible();
    await check(page, info, `${scheme}-build-servers`);
    await app.servers.openPairDialog();
    await check(page, info, `${scheme}-pair-dialog`);
    await page.keyboard.press('Escape');
    await app.goto('settings');
    await expect(page.getByTestId('settings-screen')).toBeVisible();
    await check(page, info, `${scheme}-settings`);
  });
}
