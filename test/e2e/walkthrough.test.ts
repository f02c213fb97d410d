// "Get started with Thebacknd" as a new user follows it: a fresh profile with no token and no cache settings, an
// empty folder, the cloud emulator (its machines backed by real test hosts; root needed). Each step is done from
// the walkthrough's own buttons and must tick itself; a screenshot of each goes to test-results/walkthrough-*.png.
// The base image is the emulator's seeded one (importing is covered by test/integration/image.test.ts); the first
// machine is the bare base image, since the example flake needs nixpkgs, which is not available offline.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../fixtures/emulator';
import { artefact, assertNoSecrets, dirArtefacts, emulatorArtefacts, mintSecret } from '../fixtures/secrets';
import { NIX_ENV, testHostHook, type TestHostHook } from '../fixtures/testhost';
import { waitFor } from '../fixtures/wait';
import { openWorkbench, type Workbench } from './workbench';

const TOKEN = mintSecret('DigitalOcean token (e2e walkthrough)', 'dop_v1_', 64);

describe('the Get started walkthrough, from a fresh profile to a ready machine', () => {
  let emu: Emulator;
  let hook: TestHostHook;
  let wb: Workbench;
  let work: string;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-walkthrough-e2e-'));
    fs.mkdirSync(path.join(work, 'project'));
    emu = await startEmulator({ delays: { doActiveMs: 500, deleteMs: 0, actionMs: 50 } });
    hook = testHostHook({ onPowerOff: (m) => emu.powerOff(m.provider, m.id) });
    emu.setHostHook(hook);
    wb = await openWorkbench({
      workspace: path.join(work, 'project'),
      settings: { 'thebacknd.digitalocean.endpoint': emu.doUrl, 'thebacknd.hetzner.endpoint': emu.hetznerUrl },
      env: { NIX_CONFIG: NIX_ENV.NIX_CONFIG },
    });
  });

  after(async () => {
    await wb?.close();
    await hook?.closeAll();
    await emu?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const step = (id: string) => wb.page.locator(`[data-step-id$="${id}"]`).first();
  const ticked = (id: string) =>
    waitFor(
      `the walkthrough step ${id} to tick itself`,
      async () =>
        (await step(id)
          .getAttribute('aria-checked')
          .catch(() => null)) === 'true',
      60_000,
    );
  const MEDIA_TITLE: Record<string, string> = { token: 'A cloud token', cache: 'Where machines get their closure', image: 'The base image', run: 'Your first machine' };
  /**
   * Expands a step and clicks one of its buttons, once the step's markdown has rendered: the webview that shows it
   * takes the focus when it loads, which would close a quick pick opened before.
   */
  async function press(id: string, button: string): Promise<void> {
    await step(id).click();
    const media = wb.page.locator('iframe.webview.ready').last().contentFrame().locator('#active-frame').contentFrame();
    await media.locator('h1', { hasText: MEDIA_TITLE[id]! }).waitFor({ state: 'visible', timeout: 30_000 });
    const b = wb.page.locator('.gettingStartedContainer').getByRole('button', { name: button, exact: true });
    await b.first().waitFor({ state: 'visible' });
    await b.first().click();
  }

  test('open the walkthrough: five steps, none done', { timeout: 120_000 }, () =>
    wb.step('walkthrough-open', async () => {
      await wb.activated();
      await wb.runCommand('Welcome: Open Walkthrough...');
      const ours = wb.quickInput.getByRole('option', { name: /Get started with Thebacknd/ });
      await ours.waitFor({ state: 'visible' });
      await ours.click();
      for (const id of ['token', 'cache', 'signingKey', 'image', 'run']) {
        await step(id).waitFor({ state: 'visible' });
        assert.equal(await step(id).getAttribute('aria-checked'), 'false', id);
      }
      await wb.screenshot('walkthrough-1-start');
    }),
  );

  test('set a cloud token: the step ticks when the token is stored', { timeout: 60_000 }, () =>
    wb.step('walkthrough-token', async () => {
      await press('token', 'Set DigitalOcean Token');
      const input = wb.quickInput.locator('input.input');
      await input.waitFor({ state: 'visible' });
      await input.fill(TOKEN);
      await wb.page.keyboard.press('Enter');
      await ticked('token');
      await wb.screenshot('walkthrough-2-token');
    }),
  );

  test('choose no binary cache: the cache and signing-key steps tick', { timeout: 60_000 }, () =>
    wb.step('walkthrough-cache', async () => {
      await press('cache', 'Choose Binary Cache');
      const none = wb.quickInput.getByRole('option', { name: /No binary cache/ });
      await none.waitFor({ state: 'visible' });
      // With a DigitalOcean token, a Spaces bucket made for the user is offered.
      await wb.quickInput.getByRole('option', { name: /Create a Spaces bucket on DigitalOcean/ }).waitFor({ state: 'visible' });
      await wb.screenshot('walkthrough-3-cache');
      await none.click();
      await ticked('cache');
      await ticked('signingKey');
    }),
  );

  test('the base image: Check Setup finds it in the region, and the step ticks', { timeout: 60_000 }, () =>
    wb.step('walkthrough-image', async () => {
      await press('image', 'Check Setup');
      const image = wb.quickInput.getByRole('option', { name: /Base image/ });
      await image.waitFor({ state: 'visible', timeout: 30_000 });
      assert.match((await image.innerText()).replace(/\s+/g, ' '), /thebacknd \(\d+\) is available in ams3/);
      await wb.screenshot('walkthrough-4-check-setup');
      await wb.page.keyboard.press('Escape');
      await ticked('image');
    }),
  );

  test('the first toplevel: the example flake is written, then a machine runs and the last step ticks', { timeout: 240_000 }, () =>
    wb.step('walkthrough-run', async () => {
      await press('run', 'Create Example Flake');
      await waitFor('flake.nix in the folder', () => fs.existsSync(path.join(work, 'project', 'flake.nix')), 30_000);
      assert.match(fs.readFileSync(path.join(work, 'project', 'flake.nix'), 'utf8'), /thebacknd\.nixosModules\.digitalocean \.\/example\.nix/);
      assert.ok(fs.existsSync(path.join(work, 'project', 'example.nix')));
      await wb.page.locator('.editor-group-container .tab', { hasText: 'flake.nix' }).first().waitFor({ state: 'visible' });
      await wb.screenshot('walkthrough-5-example-flake');

      await wb.runCommand('Thebacknd: Run Toplevel…');
      const bare = wb.quickInput.getByRole('option', { name: /Nothing — the bare base image/ });
      await bare.waitFor({ state: 'visible', timeout: 60_000 });
      await bare.click();
      await wb.quickInput.getByText(/Run Toplevel \(3\/4\)/).waitFor({ state: 'visible' });
      await wb.quickInput.getByRole('option', { name: /ams3/ }).first().waitFor({ state: 'visible' });
      await wb.page.keyboard.press('Enter');
      await wb.quickInput.getByText(/Run Toplevel \(4\/4\)/).waitFor({ state: 'visible' });
      await wb.quickInput
        .getByRole('option', { name: /s-1vcpu-1gb/ })
        .first()
        .waitFor({ state: 'visible' });
      await wb.page.keyboard.press('Enter');
      const ready = wb.page.locator('.notification-toast', { hasText: /thebacknd-1 runs the base image/ });
      await ready.waitFor({ state: 'visible', timeout: 180_000 });
      await wb.screenshot('walkthrough-6-ready');
      await wb.page
        .locator('.editor-group-container .tab', { hasText: /Walkthrough|Get started/ })
        .first()
        .click()
        .catch(() => undefined);
      await ticked('run');
      await wb.screenshot('walkthrough-7-done');
      assert.deepEqual(emu.violations, []);
    }),
  );

  test("the token typed into the walkthrough shows nowhere: page, console, VS Code's files, what the cloud received", { timeout: 60_000 }, () =>
    wb.step('walkthrough-secrets', async () => {
      const userData = dirArtefacts('VS Code user data', wb.server.userDataDir, { exclude: /\/(CachedData|CachedExtensionVSIXs|CachedProfilesData|extensions)\// });
      const all = [
        artefact('screen: walkthrough', await wb.page.locator('body').innerText()),
        artefact('workbench console', wb.console.join('\n')),
        ...userData,
        ...emulatorArtefacts(emu, 'cloud'),
      ];
      assert.ok(
        userData.some((a) => /Thebacknd\.log$/.test(a.name) && a.text.includes('Check Setup')),
        "the scan read the Thebacknd output channel's log",
      );
      assertNoSecrets(all);
    }),
  );
});
