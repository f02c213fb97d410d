// A person's first minutes with the extension, in a real VS Code workbench in a real browser: the Thebacknd icon,
// the welcome view with no token, the command palette, and setting a token (against the local cloud emulator).
// Screenshots land in test-results/ (sidebar-welcome.png is the README's picture).
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWorkbench, type Workbench } from './workbench';

describe('the Thebacknd sidebar in VS Code', () => {
  let wb: Workbench;

  before(async () => {
    wb = await openWorkbench({ emulator: true });
  });

  after(async () => {
    await wb?.close();
  });

  test('the activity-bar icon opens the machines view with the welcome content', () =>
    wb.step('welcome', async () => {
      const sidebar = await wb.openThebacknd();
      await sidebar.getByText('No cloud token is set.', { exact: false }).waitFor({ state: 'visible' });
      assert.match(await sidebar.locator('.pane-header').first().innerText(), /Machines/i);
      const doButton = sidebar.getByRole('button', { name: 'Set DigitalOcean Token', exact: true });
      const hzButton = sidebar.getByRole('button', { name: 'Set Hetzner Token', exact: true });
      assert.equal(await doButton.isVisible(), true, 'no "Set DigitalOcean Token" button');
      assert.equal(await hzButton.isVisible(), true, 'no "Set Hetzner Token" button');
      await wb.activated();
      await wb.screenshot('sidebar-welcome');
    }));

  test('the command palette runs "Thebacknd: Set Token…", which asks for the provider', () =>
    wb.step('palette', async () => {
      await wb.runCommand('Thebacknd: Set Token…');
      const pick = wb.quickInput;
      await pick.getByText('Thebacknd: Set Token', { exact: true }).waitFor({ state: 'visible' });
      const rows = await pick.getByRole('option').allInnerTexts();
      assert.ok(
        rows.some((r) => /DigitalOcean/.test(r) && /not set/.test(r)),
        `rows: ${rows.join(' | ')}`,
      );
      assert.ok(
        rows.some((r) => /Hetzner/.test(r) && /not set/.test(r)),
        `rows: ${rows.join(' | ')}`,
      );
      await wb.screenshot('palette-set-token');
      await wb.page.keyboard.press('Escape');
      await pick.waitFor({ state: 'hidden' });
    }));

  test('"Set DigitalOcean Token" takes a token without showing it, and the view moves on', () =>
    wb.step('set-token', async () => {
      const token = 'e2e-fake-digitalocean-token-0123456789';
      const sidebar = await wb.openThebacknd();
      await sidebar.getByRole('button', { name: 'Set DigitalOcean Token', exact: true }).click();
      const input = wb.quickInput.locator('input.input');
      await input.waitFor({ state: 'visible' });
      assert.equal(await input.getAttribute('type'), 'password', 'the token is typed in clear');
      await input.fill(token);
      await wb.screenshot('set-token-input');
      await input.press('Enter');
      await wb.notification('DigitalOcean token saved').waitFor({ state: 'visible' });
      await sidebar.getByText('No cloud token is set.', { exact: false }).waitFor({ state: 'hidden' });
      await wb.page.mouse.move(700, 400);
      await wb.screenshot('sidebar-with-token');
      const shown = await wb.page.locator('body').innerText();
      assert.ok(!shown.includes(token), 'the token appears on screen');
      assert.ok(!wb.console.some((l) => l.includes(token)), 'the token appears in the workbench console');
    }));
});
