// Builder lines, the builders value, Nix's log about builders, and the worker shell's environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../../src/base/ed25519';
import { builderKeyPath, buildersValue, isIgnoredBuilders, parseBuildingOn, removeBuilderKeyLink, systemsFor, workerBuilderLine } from '../../../src/workers/builders';
import { nameBuilders, remoteBuildArgs } from '../../../src/workers/remote-build';
import { workerShell } from '../../../src/workers/shell-env';

const host = generateEd25519('host');

test('one 8-column line per worker, its host key in base64, joined into one --builders value', () => {
  const a = workerBuilderLine({ ip: '10.0.0.2', keys: { hostPublicKey: host.publicKey }, builderKeyPath: '/k/a' }, ['x86_64-linux', 'i686-linux'], 4);
  const cols = a.split(' ');
  assert.equal(cols.length, 8);
  assert.deepEqual(cols.slice(0, 7), ['ssh://root@10.0.0.2', 'x86_64-linux,i686-linux', '/k/a', '4', '-', 'nixos-test,benchmark,big-parallel', '-']);
  assert.equal(Buffer.from(cols[7]!, 'base64').toString(), host.publicKey.split(' ').slice(0, 2).join(' '), 'column 8 decodes to the pinned key');
  const b = workerBuilderLine({ ip: '10.0.0.3', keys: { hostPublicKey: host.publicKey }, builderKeyPath: '/k/b' }, ['x86_64-linux'], 1);
  assert.equal(buildersValue([a, b]), `${a} ; ${b}`);
  const args = remoteBuildArgs('.#x', buildersValue([a, b]), '/out/result');
  assert.deepEqual(args.slice(0, 7), ['build', '--json', '-L', '--max-jobs', '0', '--builders-use-substitutes', '--builders']);
  assert.deepEqual(args.slice(8), ['--out-link', '/out/result', '.#x']);
});

test('Hetzner Arm types build aarch64; everything else x86-64 and i686', () => {
  assert.deepEqual(systemsFor('hetzner', 'cax21'), ['aarch64-linux']);
  assert.deepEqual(systemsFor('hetzner', 'cx22'), ['x86_64-linux', 'i686-linux']);
  assert.deepEqual(systemsFor('digitalocean', 's-2vcpu-4gb'), ['x86_64-linux', 'i686-linux']);
});

test('Nix log lines: where a derivation went, and a daemon ignoring --builders', () => {
  assert.deepEqual(parseBuildingOn("building '/nix/store/abc-x.drv' on 'ssh://root@10.213.1.2'..."), { drv: '/nix/store/abc-x.drv', uri: 'ssh://root@10.213.1.2' });
  assert.equal(parseBuildingOn("building '/nix/store/abc-x.drv'..."), undefined);
  assert.ok(isIgnoredBuilders("warning: ignoring the client-specified setting 'builders', because it is a restricted setting and you are not a trusted user"));
  assert.equal(
    nameBuilders("build of '/nix/store/a.drv' on 'ssh://root@10.0.0.2' failed", (u) => (u === 'ssh://root@10.0.0.2' ? 'thebacknd-1 (10.0.0.2)' : undefined)),
    "build of '/nix/store/a.drv' on thebacknd-1 (10.0.0.2) failed",
  );
});

test('a key path with a space reaches the builder line through a private symlink', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd Application Support-'));
  const runId = `thebacknd-test-${process.pid}`;
  try {
    const key = path.join(dir, 'login_ed25519');
    fs.writeFileSync(key, 'secret', { mode: 0o600 });
    const plain = await builderKeyPath({ loginKeyPath: '/no/space/key' }, runId);
    assert.equal(plain, '/no/space/key');
    const linked = await builderKeyPath({ loginKeyPath: key }, runId);
    assert.ok(!/\s/.test(linked));
    assert.equal(fs.readFileSync(linked, 'utf8'), 'secret');
    assert.equal(fs.statSync(path.dirname(linked)).mode & 0o777, 0o700);
    assert.equal(workerBuilderLine({ ip: '10.0.0.2', keys: { hostPublicKey: host.publicKey }, builderKeyPath: linked }, ['x86_64-linux'], 1).split(' ').length, 8);
    await removeBuilderKeyLink(runId);
    assert.ok(!fs.existsSync(linked));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await removeBuilderKeyLink(runId);
  }
});

test("the worker shell has $store, $builder and $ssh, all pinned to the worker's host key", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-shell-'));
  try {
    const keys = {
      dir,
      loginKeyPath: path.join(dir, 'login_ed25519'),
      loginPublicKey: 'ssh-ed25519 AAAA',
      hostPublicKey: host.publicKey,
      knownHostsPath: path.join(dir, 'known_hosts'),
    };
    const shell = await workerShell({ name: 'thebacknd-3', runId: 'thebacknd-x', ip: '10.0.0.9', keys, builderKeyPath: keys.loginKeyPath, systems: ['x86_64-linux'], maxJobs: 2 });
    const b64 = Buffer.from(host.publicKey.split(' ').slice(0, 2).join(' ')).toString('base64');
    assert.equal(shell.env.store, `ssh://root@10.0.0.9?compress=true&ssh-key=${encodeURIComponent(keys.loginKeyPath)}&base64-ssh-public-host-key=${encodeURIComponent(b64)}`);
    assert.equal(shell.env.builder, `ssh://root@10.0.0.9 x86_64-linux ${keys.loginKeyPath} 2 - nixos-test,benchmark,big-parallel - ${b64}`);
    assert.equal(shell.env.ssh, `ssh -o UserKnownHostsFile=${keys.knownHostsPath} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -i ${keys.loginKeyPath} root@10.0.0.9`);
    assert.equal(fs.readFileSync(keys.knownHostsPath, 'utf8'), `10.0.0.9 ${host.publicKey.split(' ').slice(0, 2).join(' ')}\n`);
    assert.match(shell.banner, /^Thebacknd worker thebacknd-3 \(10\.0\.0\.9\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
