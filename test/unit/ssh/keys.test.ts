// Per-machine keys: OpenSSH formats that real OpenSSH tools accept, owner-only files, removed with the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs, rmSync, writeFileSync } from 'node:fs';
import { utils } from 'ssh2';
import os from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../../src/base/ed25519';
import {
  createMachineKeys,
  publicKeyBlob,
  hostKeyBase64,
  listMachineKeyIds,
  loadMachineKeys,
  machineKeyDir,
  pruneMachineKeys,
  removeMachineKeys,
  requireMachineKeys,
} from '../../../src/ssh/keys';
import { UserError } from '../../../src/base/errors';

async function tempStorage(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-keys-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

test('machine keys are owner-only files in an owner-only folder, and OpenSSH reads them', { timeout: 60_000 }, async (t) => {
  const storage = await tempStorage(t);
  const old = process.umask(0o022);
  try {
    const keys = await createMachineKeys(storage, 'thebacknd-1111');
    assert.equal((await fs.stat(keys.dir)).mode & 0o777, 0o700);
    for (const f of await fs.readdir(keys.dir)) {
      assert.equal((await fs.stat(path.join(keys.dir, f))).mode & 0o777, 0o600, `${f} is 0600`);
    }
    assert.match(keys.loginPublicKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ thebacknd-1111-login$/);
    assert.match(keys.hostPublicKey, /^ssh-ed25519 AAAA/);
    assert.match(keys.hostPrivateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
    assert.notEqual(keys.loginPublicKey.split(' ')[1], keys.hostPublicKey.split(' ')[1]);
    // The host private key stays in memory (it goes into user-data), never on disk.
    const onDisk = await Promise.all((await fs.readdir(keys.dir)).map((f) => fs.readFile(path.join(keys.dir, f), 'utf8')));
    assert.ok(!onDisk.some((c) => c.includes(keys.hostPrivateKey.split('\n')[2]!)), 'host private key not written');
    // ssh-keygen derives the same public key from the stored login key and from the in-memory host key.
    const derived = execFileSync('ssh-keygen', ['-y', '-f', keys.loginKeyPath], { encoding: 'utf8' });
    assert.equal(derived.split(' ').slice(0, 2).join(' '), keys.loginPublicKey.split(' ').slice(0, 2).join(' '));
    const hostFile = path.join(storage, 'hostkey');
    await fs.writeFile(hostFile, keys.hostPrivateKey, { mode: 0o600 });
    const hostDerived = execFileSync('ssh-keygen', ['-y', '-f', hostFile], { encoding: 'utf8' });
    assert.equal(hostDerived.split(' ').slice(0, 2).join(' '), keys.hostPublicKey.split(' ').slice(0, 2).join(' '));
    // Base64 for Nix decodes to the public key line.
    assert.equal(Buffer.from(hostKeyBase64(keys.hostPublicKey), 'base64').toString(), keys.hostPublicKey.split(' ').slice(0, 2).join(' '));
  } finally {
    process.umask(old);
  }
});

test('keys load back, are removed with the machine, and orphans are pruned', { timeout: 60_000 }, async (t) => {
  const storage = await tempStorage(t);
  const a = await createMachineKeys(storage, 'thebacknd-a');
  await createMachineKeys(storage, 'thebacknd-b');
  await assert.rejects(createMachineKeys(storage, 'thebacknd-a'), /already exist/);
  const loaded = await loadMachineKeys(storage, 'thebacknd-a');
  assert.deepEqual(loaded, { dir: a.dir, loginKeyPath: a.loginKeyPath, knownHostsPath: a.knownHostsPath, loginPublicKey: a.loginPublicKey, hostPublicKey: a.hostPublicKey });
  assert.deepEqual(await listMachineKeyIds(storage), ['thebacknd-a', 'thebacknd-b']);

  await removeMachineKeys(storage, 'thebacknd-a');
  await assert.rejects(fs.access(a.dir), { code: 'ENOENT' });
  assert.equal(await loadMachineKeys(storage, 'thebacknd-a'), undefined);
  await removeMachineKeys(storage, 'thebacknd-a'); // twice is fine
  await assert.rejects(
    requireMachineKeys(storage, 'thebacknd-a', 'thebacknd-7'),
    (e: unknown) => e instanceof UserError && /thebacknd-7 has no SSH key on this computer/.test(e.message),
  );

  await createMachineKeys(storage, 'thebacknd-c');
  assert.deepEqual(await pruneMachineKeys(storage, ['thebacknd-c']), ['thebacknd-b']);
  assert.deepEqual(await listMachineKeyIds(storage), ['thebacknd-c']);
});

test('a machine id cannot escape the storage folder', { timeout: 60_000 }, () => {
  for (const bad of ['..', '../x', 'a/b', '', '.hidden', 'a b']) assert.throws(() => machineKeyDir('/s', bad), /invalid machine key id/);
  assert.equal(machineKeyDir('/s', 'thebacknd-0b9e'), path.join('/s', 'machines', 'thebacknd-0b9e'));
});

test('keys whose public half starts with a zero byte are well formed (ssh2 #1390 truncates those)', { timeout: 60_000 }, () => {
  let key: ReturnType<typeof generateEd25519> | undefined;
  for (let i = 0; i < 50_000 && !key; i++) {
    const k = generateEd25519('zero');
    if (publicKeyBlob(k.publicKey)[19] === 0) key = k; // 4+11 bytes of type, 4 of length, then the key
  }
  assert.ok(key, 'found a key with a leading zero byte');
  assert.equal(publicKeyBlob(key.publicKey).length, 4 + 11 + 4 + 32);
  const parsed = utils.parseKey(key.privateKey);
  assert.ok(!(parsed instanceof Error), String(parsed));
  assert.ok(parsed.getPublicSSH().equals(publicKeyBlob(key.publicKey)));
  const file = path.join(os.tmpdir(), `thebacknd-zero-${process.pid}`);
  writeFileSync(file, key.privateKey, { mode: 0o600 });
  try {
    assert.equal(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim(), key.publicKey);
  } finally {
    rmSync(file, { force: true });
  }
});

test('generating keys under constant garbage collection never hangs the process', { timeout: 600_000 }, async () => {
  // Node 20 can deadlock when a fresh key is exported as a KeyObject while a GC finalises its generation job; a tiny
  // young generation makes GCs constant: a generator that exports that way hung in 2 of 3 runs of 20000 keys here.
  // A hang is told from slowness by progress, not by a total duration: the child reports every 1000 keys, and only a
  // minute without a report (1000 keys take well under a second) counts as hung.
  const keysModule = require.resolve('../../../src/base/ed25519');
  const script = `const { generateEd25519 } = require(${JSON.stringify(keysModule)});
    for (let i = 1; i <= 50000; i++) {
      if (!generateEd25519('k' + i).publicKey.startsWith('ssh-ed25519 ')) process.exit(3);
      if (i % 1000 === 0) process.stdout.write('.');
    }`;
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let reports = 0;
  let hung = false;
  let watchdog = setTimeout(() => ((hung = true), child.kill('SIGKILL')), 60_000);
  child.stdout.on('data', (d: Buffer) => {
    reports += d.length;
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ((hung = true), child.kill('SIGKILL')), 60_000);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(watchdog);
  assert.equal(hung, false, `no progress for a minute after ${reports}000 keys: hung`);
  assert.equal(code, 0);
  assert.equal(reports, 50);
});
