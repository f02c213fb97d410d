// Run Toplevel as a person does it, in a real VS Code in a real browser: the palette, the pickers (the open flake's
// nixosConfigurations, the region, the size with its price), the progress notification, the offer at the end, the
// machine panel (a webview), the boot log and the SSH terminal, then Destroy from the panel. The cloud emulator runs
// in this process and backs each machine with a real test host (root needed); the cache is s3rver; nix is real.
// Screenshots go to test-results/: run-toplevel-what.png, run-toplevel-size.png, run-toplevel-progress.png,
// run-toplevel-ready.png, machine-panel.png, boot-log.png, terminal.png, machine-context-menu-connect.png,
// remote-ssh-consent.png, no-keys-here.png, machine-panel-destroyed.png.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { startEmulator, type Emulator } from '../fixtures/emulator';
import { artefact, assertNoSecrets, dirArtefacts, emulatorArtefacts, mintSecret, registerLoginKey, registerSecret, type Artefact } from '../fixtures/secrets';
import { doTags, newRunId, readDoTags } from '../../src/providers/tags';
import { buildTestClosures, NIX_ENV, startHostCache, testHostHook, type HostCache, type TestHostHook } from '../fixtures/testhost';
import { openWorkbench, type Workbench } from './workbench';
import { writeDemoFlake } from '../fixtures/demo-flake';
import { waitFor } from '../fixtures/wait';
import { readCountdown } from '../fixtures/time-left';

const TOKEN = mintSecret('DigitalOcean token (e2e run)', 'dop_v1_', 64);
// s3rver checks the access key id only: the secret key is minted so that the scan at the end can look for it.
const AWS_SECRET = mintSecret('cache secret access key (e2e run)', '', 40);

describe('Run Toplevel: pickers, progress, panel, boot log, terminal', () => {
  let emu: Emulator;
  let hook: TestHostHook;
  let cache: HostCache;
  let wb: Workbench;
  let work: string;
  let panel: FrameLocator;
  /** What the person saw along the way (the page, the panel, the boot log, the terminal), for the secrets scan. */
  const seen: Artefact[] = [];
  const look = async (what: string) => seen.push(artefact(`screen: ${what}`, await wb.page.locator('body').innerText()));

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-run-e2e-'));
    const closures = await buildTestClosures(path.join(work, 'closures'));
    registerSecret({ name: 'cache signing key (e2e run)', value: fs.readFileSync(path.join(work, 'closures', 'secret.key'), 'utf8').trim() });
    cache = await startHostCache();
    await cache.upload(closures.cacheDir);
    emu = await startEmulator({ delays: { doActiveMs: 1500, deleteMs: 0, actionMs: 50 } });
    hook = testHostHook({ onPowerOff: (m) => emu.powerOff(m.provider, m.id) });
    emu.setHostHook(hook);
    const flake = path.join(work, 'demo');
    writeDemoFlake(flake);
    wb = await openWorkbench({
      workspace: flake,
      settings: {
        'thebacknd.digitalocean.endpoint': emu.doUrl,
        'thebacknd.hetzner.endpoint': emu.hetznerUrl,
        'thebacknd.cache.endpoint': cache.s3.endpoint,
        'thebacknd.cache.bucket': cache.s3.bucket,
        'thebacknd.cache.publicUrl': cache.url,
        'thebacknd.cache.trustedPublicKey': closures.publicKey,
        'thebacknd.cache.signingKeyFile': path.join(work, 'closures', 'secret.key'),
        // The DOM renderer: the terminal's text can then be read from the page.
        'terminal.integrated.gpuAcceleration': 'off',
      },
      env: {
        DIGITALOCEAN_ACCESS_TOKEN: TOKEN,
        NIX_CONFIG: NIX_ENV.NIX_CONFIG,
        AWS_ACCESS_KEY_ID: cache.s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: AWS_SECRET,
      },
    });
  });

  after(async () => {
    await wb?.close();
    await hook?.closeAll();
    await emu?.close();
    await cache?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the palette asks what to run, where and at what price, then runs it with progress', { timeout: 240_000 }, () =>
    wb.step('run-toplevel', async () => {
      await wb.openThebacknd();
      await wb.activated();
      await wb.runCommand('Thebacknd: Run Toplevel…');
      const demo = wb.quickInput.getByRole('option', { name: /demo/ });
      await demo.waitFor({ state: 'visible', timeout: 60_000 });
      const what = await wb.quickInput.getByRole('option').allInnerTexts();
      for (const want of [/demo.*nixosConfigurations\.demo/, /A toplevel already in the cache/, /A program inside a store path/, /Nothing — the bare base image/]) {
        assert.ok(
          what.some((t) => want.test(t.replace(/\s+/g, ' '))),
          `${want} among: ${what.join(' | ')}`,
        );
      }
      await wb.screenshot('run-toplevel-what');
      await demo.click();

      // One provider has a token: no provider question. The region, then the size with its price per hour.
      await wb.quickInput.getByText(/Run Toplevel \(3\/4\)/).waitFor({ state: 'visible' });
      await wb.quickInput.getByRole('option', { name: /ams3/ }).first().waitFor({ state: 'visible' });
      await wb.page.keyboard.press('Enter');
      await wb.quickInput.getByText(/Run Toplevel \(4\/4\)/).waitFor({ state: 'visible' });
      const size = wb.quickInput.getByRole('option', { name: /s-1vcpu-1gb/ }).first();
      await size.waitFor({ state: 'visible' });
      assert.match((await size.innerText()).replace(/\s+/g, ' '), /s-1vcpu-1gb \$0\.0089\/h/);
      await wb.screenshot('run-toplevel-size');
      // The new droplet stays starting until the progress notification has been seen, however slow the machine.
      const release = emu.hold();
      try {
        await wb.page.keyboard.press('Enter');
        const progress = wb.page.locator('.notification-toast', { hasText: /Thebacknd: run demo.*Waiting until thebacknd-1 is running/ });
        await progress.waitFor({ state: 'visible', timeout: 60_000 });
        await wb.page.waitForTimeout(300); // the toast's fade-in, for the screenshot only
        await wb.screenshot('run-toplevel-progress');
      } finally {
        release();
      }

      const ready = wb.page.locator('.notification-toast', { hasText: /thebacknd-1 switched to \/nix\/store\/[a-z0-9]{32}-nixos-system-demo/ });
      await ready.waitFor({ state: 'visible', timeout: 180_000 });
      for (const b of ['Open Terminal', 'Show Boot Log', 'Open Panel']) assert.equal(await ready.getByRole('button', { name: b }).isVisible(), true, b);
      await wb.page.locator('.monaco-list-row[aria-label^="thebacknd-1, running"]').waitFor({ state: 'visible' });
      await wb.screenshot('run-toplevel-ready');
      await look('run ready');
      // The machine's login key, in the extension's storage: the scan at the end looks for it everywhere else.
      const [droplet] = [...emu.state.droplets.values()].filter((d) => d.name === 'thebacknd-1');
      const runId = readDoTags(droplet!.tags).runId!;
      assert.ok(registerLoginKey(wb.server.userDataDir, runId, 'the e2e run'), "the machine's login key is in the extension's storage");
      await ready.getByRole('button', { name: 'Open Panel' }).click();
    }),
  );

  test('the panel shows the stage timeline, the live log, the cost and the countdown', { timeout: 60_000 }, () =>
    wb.step('machine-panel', async () => {
      panel = wb.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
      await panel.locator('#title', { hasText: 'thebacknd-1' }).waitFor({ state: 'visible' });
      await panel.locator('#status', { hasText: 'ready' }).waitFor({ state: 'visible' });
      const stages = await panel.locator('#timeline li').allInnerTexts();
      for (const want of ['Build', 'Sign', 'Push to the cache', 'Create the machine', 'Wait for SSH (pinned host key)', 'Agent: Switched to the new configuration', 'Ready']) {
        assert.ok(
          stages.some((s) => s.includes(want) && /\d\d:\d\d:\d\d/.test(s)),
          `${want} with its time among:\n${stages.join('\n')}`,
        );
      }
      assert.match(await panel.locator('#log').innerText(), /thebacknd: stage=done result=switched/);
      assert.match(await panel.locator('#cost').innerText(), /^≈ \$0\.\d{4}$/);
      // The machine's own deadline (an hour after its create), however long the run took to get here.
      const [droplet] = [...emu.state.droplets.values()].filter((d) => d.name === 'thebacknd-1');
      const countdown = await readCountdown(() => panel.locator('#countdown').innerText(), Date.parse(readDoTags(droplet!.tags).deadline!));
      assert.ok(countdown.durations.map((d) => `${d} left`).includes(countdown.text), `${countdown.text}: one of ${countdown.durations.join(', ')} left`);
      await wb.screenshot('machine-panel');
      seen.push(artefact('screen: machine panel (webview)', await panel.locator('body').innerText()));
    }),
  );

  test("Show Boot Log from the panel follows the agent's log in an output view", { timeout: 60_000 }, () =>
    wb.step('boot-log', async () => {
      await panel.locator('vscode-button[data-action="showBootLog"]').click();
      const output = wb.page.locator('.part.panel .view-lines');
      // The editor renders spaces as no-break spaces.
      const text = async () => (await output.innerText().catch(() => '')).replace(/\u00a0/g, ' ');
      await waitFor('the boot log in the output view', async () => /stage=done result=switched/.test(await text()), 30_000);
      assert.match(await text(), /Connected to \d+\.\d+\.\d+\.\d+; following the agent's log\./);
      assert.match(await text(), /demo: activation finished/);
      await wb.screenshot('boot-log');
      seen.push(artefact('screen: boot log', await text()));
    }),
  );

  test('Open Terminal from the panel: a command typed in the terminal prints its output back', { timeout: 60_000 }, () =>
    wb.step('terminal', async () => {
      await panel.locator('vscode-button[data-action="openTerminal"]').click();
      const rows = wb.page.locator('.part.panel .xterm-rows');
      await waitFor('a shell prompt', async () => /#\s*$/m.test(await rows.innerText().catch(() => '')), 30_000);
      await wb.page.locator('.part.panel .xterm').click();
      await wb.page.keyboard.type('echo "hello from $(hostname) $((6*7))"; cat /root/thebacknd-switches\n');
      await waitFor('the command output', async () => /hello from \S+ 42/.test(await rows.innerText()), 20_000);
      assert.match(await rows.innerText(), /switched \/nix\/store\/[a-z0-9]{32}-nixos-system-demo/);
      await wb.screenshot('terminal');
      seen.push(artefact('screen: terminal', await rows.innerText()));
    }),
  );

  test('Open in Remote-SSH asks before adding the Include line, then has the Host entry ready', { timeout: 60_000 }, () =>
    wb.step('remote-ssh', async () => {
      const sidebar = await wb.openThebacknd();
      await sidebar.locator('.monaco-list-row[aria-label^="thebacknd-1, "]').click({ button: 'right' });
      const item = wb.page.getByRole('menuitem', { name: /^Open in Remote-SSH/ });
      await item.waitFor({ state: 'visible' });
      for (const name of [/^Open Panel/, /^Open Terminal/, /^Show Boot Log/]) assert.equal(await wb.page.getByRole('menuitem', { name }).count(), 1, String(name));
      await wb.screenshot('machine-context-menu-connect');
      await item.hover();
      await wb.page.keyboard.press('Enter');
      const dialog = wb.page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible' });
      assert.match(await dialog.innerText(), /Add "Include ~\/\.ssh\/thebacknd_config" to ~\/\.ssh\/config\?/);
      await wb.screenshot('remote-ssh-consent');
      await dialog.getByRole('button', { name: 'Add Include Line' }).click();
      // No Remote - SSH extension in this VS Code: the entry is ready for ssh, and the message says how.
      await wb.notification(/the Host entry thebacknd-1 is ready.*ssh thebacknd-1/).waitFor({ state: 'visible' });
    }),
  );

  test('a machine created elsewhere says that SSH to it is not possible from here', { timeout: 60_000 }, () =>
    wb.step('no-keys', async () => {
      emu.addDroplet({ name: 'thebacknd-7', region: 'ams3', tags: doTags(newRunId(), new Date(Date.now() + 30 * 60_000)) });
      const sidebar = await wb.openThebacknd();
      await sidebar.locator('.composite.title .action-label.codicon-refresh').first().click();
      const row = sidebar.locator('.monaco-list-row[aria-label^="thebacknd-7, "]');
      await row.waitFor({ state: 'visible' });
      await row.hover();
      await row.locator('.action-label.codicon-terminal').click(); // the row's inline Open Terminal button
      await wb.notification(/thebacknd-7 has no SSH key on this computer.*not possible from here/).waitFor({ state: 'visible' });
      await wb.screenshot('no-keys-here');
      await wb.page.keyboard.press('Escape');
    }),
  );

  test('Destroy from the panel asks, destroys the machine and the panel says so', { timeout: 60_000 }, () =>
    wb.step('panel-destroy', async () => {
      await wb.page.locator('.editor-group-container .tab', { hasText: 'thebacknd-1' }).first().click();
      await panel.locator('vscode-button[data-action="destroy"]').click();
      const dialog = wb.page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible' });
      assert.match(await dialog.innerText(), /Destroy thebacknd-1\?/);
      await dialog.getByRole('button', { name: 'Destroy', exact: true }).click();
      await waitFor('the droplet to be destroyed', () => ![...emu.state.droplets.values()].some((d) => d.name === 'thebacknd-1'), 30_000);
      await panel.locator('#status', { hasText: 'destroyed' }).waitFor({ state: 'visible', timeout: 30_000 });
      await waitFor('the test host to be gone', () => hook.hosts.size === 0, 30_000);
      await wb.screenshot('machine-panel-destroyed');
      seen.push(artefact('screen: machine panel, destroyed (webview)', await panel.locator('body').innerText()));
      await look('after destroy');
      assert.deepEqual(emu.violations, []);
    }),
  );

  test("no token or secret shows on screen, in the console, in VS Code's files or in what the cloud received", { timeout: 60_000 }, () =>
    wb.step('secrets', async () => {
      // The machine is destroyed: its key folder must be gone with it, so the login key may now be nowhere at all.
      const userData = dirArtefacts('VS Code user data', wb.server.userDataDir, { exclude: /\/(CachedData|CachedExtensionVSIXs|CachedProfilesData|extensions)\// });
      const all = [...seen, artefact('workbench console', wb.console.join('\n')), ...userData, ...emulatorArtefacts(emu, 'cloud')];
      assert.ok(
        userData.some((a) => /Thebacknd\.log$/.test(a.name) && a.text.includes('activated')),
        "the scan read the Thebacknd output channel's log",
      );
      assert.ok(
        userData.some((a) => a.name.endsWith('User/settings.json') && a.text.includes('thebacknd.cache.bucket')),
        'the scan read the user settings',
      );
      assert.ok(
        seen.some((a) => a.name.includes('webview') && a.text.includes('thebacknd-1')),
        'the scan read the panel as shown',
      );
      assert.ok(
        all.some((a) => /POST \/v2\/droplets$/.test(a.name) && a.text.includes('authorizedKeys')),
        'the scan read the user-data sent',
      );
      const scanned = assertNoSecrets(all);
      console.log(
        `secrets (e2e, what a person sees and VS Code keeps): found=0 (${scanned.secrets} secrets, ${scanned.artefacts} artefacts, ${Math.round(scanned.bytes / 1024)} KiB scanned)`,
      );
    }),
  );
});
