// Import Base Image for Hetzner end to end, in the real extension inside real VS Code: the cloud emulator runs in
// this extension host and boots its temporary server into a real rescue system (a test host's fresh sshd, see
// test/fixtures/testhost/rescue.ts; root needed, as code-server runs here). The command gets the cloud and the file
// as its arguments, which skips the pickers only, and the rescue disk's device as an option (a test host has no
// /dev/sda).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Emulator } from '../fixtures/emulator';
import { RESCUE_DISK, rescueHostHook, type RescueHostHook } from '../fixtures/testhost/rescue';
import { createProvider } from '../../src/providers';
import { startCloud, thebacknd, waitFor, type Cloud } from './harness';

suite('Import Base Image end to end (emulator, rescue system on a test host)', function () {
  this.timeout(180_000);
  let emu: Emulator;
  let hook: RescueHostHook;
  let work: string;
  let raw: Buffer;
  let file: string;
  let cloud: Cloud;
  const config = () => vscode.workspace.getConfiguration('thebacknd');

  async function sshKeyNames(): Promise<string[]> {
    const res = await fetch(`${emu.hetznerUrl}/ssh_keys`, { headers: { Authorization: `Bearer ${cloud.tokens.hetzner}` } });
    return ((await res.json()) as { ssh_keys: { name: string }[] }).ssh_keys.map((k) => k.name);
  }

  suiteSetup(async function () {
    this.timeout(60_000);
    await thebacknd();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-image-it-'));
    // A small disk image with some structure and some noise, so that a shifted or truncated write cannot pass.
    raw = Buffer.concat([Buffer.from('\x55\xaa thebacknd integration disk\n'), crypto.randomBytes(2 * 1024 * 1024 + 123), Buffer.alloc(512 * 1024)]);
    fs.writeFileSync(path.join(work, 'nixos.img'), raw);
    file = path.join(work, 'nixos.img.zst');
    execFileSync('zstd', ['-q', path.join(work, 'nixos.img'), '-o', file]);
    cloud = await startCloud({
      suite: 'image suite',
      providers: ['hetzner'],
      emulator: { delays: { hetznerStartingMs: 50, hetznerRunningMs: 50, actionMs: 100, deleteMs: 50 } },
    });
    emu = cloud.emu;
    hook = rescueHostHook();
    emu.setHostHook(hook);
    await cloud.set('hetzner.image', undefined);
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await hook?.closeAll();
    await cloud?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test("a .img.zst is written to a rescue server's disk and snapshotted; the setting holds the snapshot id, and no server is left", async () => {
    const before = new Set(emu.state.hetznerImages.keys());
    const keysBefore = await sshKeyNames();
    const name = `thebacknd-base-it-${Date.now()}`;
    const id = (await vscode.commands.executeCommand('thebacknd.importImage', 'hetzner', file, {
      name,
      hetzner: { device: RESCUE_DISK, pollIntervalMs: 100, sshTimeoutMs: 60_000 },
    })) as string | undefined;
    assert.ok(id, 'the command resolves with the new image id');
    assert.match(id, /^\d+$/);

    // The setting a new Hetzner machine reads its image from now holds that id.
    assert.equal(config().get<string>('hetzner.image'), id);
    assert.equal(config().inspect('hetzner.image')?.globalValue, id);

    // The provider lists it as an available snapshot, new with this import, made from exactly the decompressed image.
    assert.ok(!before.has(Number(id)), 'a new image');
    const listed = await createProvider('hetzner', { token: cloud.tokens.hetzner, endpoint: emu.hetznerUrl }).images();
    assert.deepEqual(
      listed.find((i) => i.id === id),
      { id, name, kind: 'snapshot', status: 'available' },
    );
    const snapshot = hook.snapshots.get(Number(id));
    assert.ok(snapshot, 'create_image copied the rescue disk');
    assert.ok(fs.readFileSync(snapshot).equals(raw), 'the disk held exactly the decompressed image');

    // The temporary server, its host and the import key are gone.
    await waitFor('the temporary server to be deleted', () => emu.state.servers.size === 0);
    await waitFor('its test host to be removed', () => hook.hosts.size === 0);
    assert.ok(
      emu.requests.some((r) => r.method === 'DELETE' && /^\/v1\/servers\/\d+$/.test(r.path)),
      'the server was deleted through the API',
    );
    assert.ok(
      emu.requests.some((r) => r.method === 'POST' && r.path === '/v1/ssh_keys' && r.status === 201),
      'an import key was made',
    );
    assert.deepEqual(await sshKeyNames(), keysBefore, 'the import key is deleted');
  });

  test('every request the extension sent was on-spec', () => {
    assert.deepEqual(emu.violations, []);
    assert.deepEqual(emu.errors, []);
  });
});
