// Import Base Image in the browser when this computer's Nix cannot build x86_64-linux: the detection is real but
// meets a stand-in `nix` first on PATH (it answers aarch64-darwin and lists no builder), the offer is a modal, and
// accepting it starts a build worker on the emulator (a test host playing stock Debian, see
// test/fixtures/testhost/stock.ts). The extension's own nix/ flake is built there, which needs nixpkgs and so fails
// offline: what is checked is the offer, the worker's stock image and cloud-config, the build failure shown to the
// user, and the worker destroyed after it. Screenshots: test-results/image-worker-*.png.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../fixtures/emulator';
import { mintSecret } from '../fixtures/secrets';
import { NIX_ENV, testHostHook, type TestHostHook } from '../fixtures/testhost';
import { waitFor } from '../fixtures/wait';
import { openWorkbench, type Workbench } from './workbench';

const TOKEN = mintSecret('Hetzner token (e2e image worker)', 'hz', 64);

describe('Import Base Image offers a build worker when the local Nix cannot build x86_64-linux', () => {
  let emu: Emulator;
  let hook: TestHostHook;
  let wb: Workbench;
  let work: string;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-image-worker-e2e-'));
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(work, 'project'));
    fs.writeFileSync(
      path.join(bin, 'nix'),
      `#!/bin/sh\ncase "$*" in *currentSystem*) printf aarch64-darwin;; *show-config*) echo '{"builders":{"value":""}}';; *) echo "nix (Nix) 2.24.0";; esac\n`,
      { mode: 0o755 },
    );
    emu = await startEmulator({ delays: { hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 50, deleteMs: 0 } });
    hook = testHostHook();
    emu.setHostHook(hook);
    wb = await openWorkbench({
      workspace: path.join(work, 'project'),
      settings: { 'thebacknd.digitalocean.endpoint': emu.doUrl, 'thebacknd.hetzner.endpoint': emu.hetznerUrl },
      env: { NIX_CONFIG: NIX_ENV.NIX_CONFIG, HCLOUD_TOKEN: TOKEN, PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
  });

  after(async () => {
    await wb?.close();
    await hook?.closeAll();
    await emu?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the offer, a stock worker with cloud-config, the failed build shown, the worker destroyed', { timeout: 240_000 }, () =>
    wb.step('image-worker', async () => {
      await wb.activated();
      await wb.runCommand('Thebacknd: Import Base Image…');
      const hetzner = wb.quickInput.getByRole('option', { name: /^Hetzner/ });
      await hetzner.waitFor({ state: 'visible' });
      await hetzner.click();

      const dialog = wb.page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible', timeout: 30_000 });
      assert.match((await dialog.textContent()) ?? '', /aarch64-darwin and has no builder for x86_64-linux, so the Hetzner base image cannot be built here/);
      await wb.screenshot('image-worker-offer');
      assert.equal(emu.state.servers.size, 0, 'nothing is created before the answer');
      await dialog.getByRole('button', { name: 'Build on a Temporary Server' }).click();

      const created = await waitFor('the build worker to be created', () => emu.requests.find((r) => r.method === 'POST' && r.path === '/v1/servers' && r.status === 201), 60_000);
      const body = created.body as { image: string; user_data: string };
      assert.equal(body.image, 'debian-12');
      assert.match(body.user_data, /^#cloud-config\n/);
      assert.ok(!body.user_data.includes(TOKEN), 'no token in user-data');

      await wb
        .notification(/Building hetzner-image on thebacknd-\d+ failed \(exit 1\): error:/)
        .first()
        .waitFor({ state: 'visible', timeout: 180_000 });
      await wb.screenshot('image-worker-build-failed');
      await waitFor('the build worker to be destroyed', () => (emu.state.servers.size === 0 && hook.hosts.size === 0) || undefined, 60_000);
    }),
  );
});
