// Pinning for the clients that are not ssh2: real OpenSSH with the per-machine known_hosts, real Nix with the
// store URL, and the 8-column builders line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../../src/base/ed25519';
import { createMachineKeys, type NewMachineKeys } from '../../../src/ssh/keys';
import { builderLine, knownHostsLine, storeUrl, writeKnownHosts } from '../../../src/ssh/known-hosts';
import { startSshd, type Sshd } from '../../fixtures/sshd';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHq7JNQdyQ61xJsTouuhWMEKD5NdyjggVo/tzoHzrMf some comment';
const KEYS = { loginKeyPath: '/keys/thebacknd-1/login_ed25519', hostPublicKey: KEY };

test('known_hosts lines: bare address on port 22, [address]:port otherwise, comment dropped', { timeout: 60_000 }, () => {
  const k = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHq7JNQdyQ61xJsTouuhWMEKD5NdyjggVo/tzoHzrMf';
  assert.equal(knownHostsLine('203.0.113.7', KEY), `203.0.113.7 ${k}`);
  assert.equal(knownHostsLine('127.0.0.1', KEY, 2222), `[127.0.0.1]:2222 ${k}`);
  assert.equal(knownHostsLine('2001:db8::1', KEY, 2222), `[2001:db8::1]:2222 ${k}`);
  assert.equal(knownHostsLine('2001:db8::1', KEY), `2001:db8::1 ${k}`);
  assert.throws(() => knownHostsLine('1.2.3.4', 'ssh-rsa AAAAB3Nza'), /not an OpenSSH ed25519 public key/);
});

test('store URLs carry the key path and the base64 host key, IPv6 in brackets', { timeout: 60_000 }, () => {
  const url = storeUrl('203.0.113.7', KEYS);
  assert.match(url, /^ssh:\/\/root@203\.0\.113\.7\?compress=true&ssh-key=[^&]+&base64-ssh-public-host-key=[^&]+$/);
  const q = new URL(url).searchParams;
  assert.equal(q.get('ssh-key'), KEYS.loginKeyPath);
  assert.equal(Buffer.from(q.get('base64-ssh-public-host-key')!, 'base64').toString(), KEY.split(' ').slice(0, 2).join(' '));
  assert.match(storeUrl('2001:db8::1', KEYS, { scheme: 'ssh-ng', compress: false }), /^ssh-ng:\/\/root@\[2001:db8::1\]\?ssh-key=/);
  // A space in the key path (macOS "Application Support") is %20, which Nix decodes; never `+`.
  assert.match(storeUrl('1.2.3.4', { ...KEYS, loginKeyPath: '/a b/k' }), /ssh-key=%2Fa%20b%2Fk&/);
});

test('the builders line has the 8 columns Nix expects', { timeout: 60_000 }, () => {
  const line = builderLine('203.0.113.7', KEYS, { systems: ['x86_64-linux', 'i686-linux'], maxJobs: 4, supportedFeatures: ['big-parallel', 'benchmark'] });
  const cols = line.split(' ');
  assert.equal(cols.length, 8, line);
  assert.deepEqual(cols.slice(0, 7), ['ssh://root@203.0.113.7', 'x86_64-linux,i686-linux', KEYS.loginKeyPath, '4', '-', 'big-parallel,benchmark', '-']);
  assert.equal(Buffer.from(cols[7]!, 'base64').toString(), KEY.split(' ').slice(0, 2).join(' '));
  assert.equal(builderLine('::1', KEYS, { systems: ['x86_64-linux'], maxJobs: 1, speedFactor: 2, mandatoryFeatures: ['kvm'], scheme: 'ssh-ng' }).split(' ').length, 8);
  assert.throws(() => builderLine('1.2.3.4', { ...KEYS, loginKeyPath: '/a b/k' }, { systems: ['x86_64-linux'], maxJobs: 1 }), /spaces/);
  assert.throws(() => builderLine('1.2.3.4', KEYS, { systems: [], maxJobs: 1 }), /system/);
});

async function machine(t: { after: (fn: () => Promise<void>) => void }): Promise<{ keys: NewMachineKeys; sshd: Sshd }> {
  const storage = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-kh-'));
  t.after(() => fs.rm(storage, { recursive: true, force: true }));
  const keys = await createMachineKeys(storage, 'thebacknd-kh');
  const sshd = await startSshd({ hostPrivateKey: keys.hostPrivateKey, authorizedKeys: [keys.loginPublicKey] });
  t.after(() => sshd.close());
  return { keys, sshd };
}

function openssh(knownHosts: string, key: string, sshd: Sshd): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-i',
      key,
      '-p',
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
      'echo pinned-ok',
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('OpenSSH accepts the machine through its known_hosts file, and refuses it under another key', { timeout: 60_000 }, async (t) => {
  const { keys, sshd } = await machine(t);
  const file = await writeKnownHosts(keys, '127.0.0.1', sshd.port);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  const ok = openssh(file, keys.loginKeyPath, sshd);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'pinned-ok');

  // The same address now answers with another host key: strict checking refuses it.
  const other = generateEd25519('impostor');
  await sshd.start({ hostPrivateKey: other.privateKey });
  const bad = openssh(file, keys.loginKeyPath, sshd);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  assert.doesNotMatch(bad.stdout, /pinned-ok/);
});

function nixPing(url: string, sshd: Sshd): { status: number | null; out: string } {
  // Nix writes `<host> <key>` into its own known_hosts; HostKeyAlias makes the test port look up that host.
  const r = spawnSync('nix', ['store', 'ping', '--store', url], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      NIX_CONFIG: 'experimental-features = nix-command',
      NIX_SSHOPTS: `-F /dev/null -p ${sshd.port} -o HostKeyAlias=127.0.0.1 -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes`,
    },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test('real Nix opens the ssh:// and ssh-ng:// store URLs with the pinned key, and refuses another key', { timeout: 60_000 }, async (t) => {
  const { keys, sshd } = await machine(t);
  for (const scheme of ['ssh', 'ssh-ng'] as const) {
    const r = nixPing(storeUrl('127.0.0.1', keys, { scheme, user: sshd.user }), sshd);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`Store URL: ${scheme}://${sshd.user}@127\\.0\\.0\\.1`));
  }
  const other = generateEd25519('impostor');
  const r = nixPing(storeUrl('127.0.0.1', { ...keys, hostPublicKey: other.publicKey }, { user: sshd.user }), sshd);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
});
