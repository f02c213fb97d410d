// Every ssh that Nix runs for Thebacknd pins the machine's host key whatever the user's ssh_config says (issue #14).
// A real sshd on 127.0.0.1:22 (a machine's port), real Nix through src/nix/run.ts, and a HOME whose ~/.ssh/config
// says `StrictHostKeyChecking no` for every host: the machine presenting another key than the pinned one is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runNix } from '../../../src/nix/run';
import { generateEd25519 } from '../../../src/base/ed25519';
import { createMachineKeys } from '../../../src/ssh/keys';
import { storeUrl } from '../../../src/ssh/known-hosts';
import { startSshd } from '../../fixtures/sshd';

test('nix store ping and ssh-ng:// refuse a host with another key even when ~/.ssh/config says StrictHostKeyChecking no', { timeout: 120_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-pin-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const keys = await createMachineKeys(dir, 'thebacknd-pin');
  const impostor = generateEd25519('impostor');
  const sshd = await startSshd({ hostPrivateKey: impostor.privateKey, authorizedKeys: [keys.loginPublicKey], port: 22 });
  t.after(() => sshd.close());
  const home = path.join(dir, 'home');
  await fs.mkdir(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(home, '.ssh', 'config'), 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n', { mode: 0o600 });
  const env = { ...process.env, HOME: home, NIX_CONFIG: 'experimental-features = nix-command', NIX_SSHOPTS: '-o StrictHostKeyChecking=no' };
  const ping = (url: string) =>
    runNix(['store', 'ping', '--store', url], { env }, 'ping').then(
      () => 'connected',
      (e: unknown) => `refused: ${String((e as { detail?: string }).detail ?? e)}`,
    );
  for (const scheme of ['ssh', 'ssh-ng'] as const) {
    const r = await ping(storeUrl('127.0.0.1', keys, { scheme, user: sshd.user }));
    assert.match(r, /^refused: /, `${scheme}: ${r}`);
  }
  assert.doesNotMatch(sshd.log(), /Accepted publickey/, 'the impostor never got a login');
  // The machine with its own (pinned) key is reached the same way: the options break nothing.
  await sshd.start({ hostPrivateKey: keys.hostPrivateKey });
  assert.equal(await ping(storeUrl('127.0.0.1', keys, { scheme: 'ssh-ng', user: sshd.user })), 'connected');
});
