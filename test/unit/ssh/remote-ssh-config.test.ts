// Remote-SSH host entries, checked with real OpenSSH: the entry connects with the pinned key (and refuses another),
// paths with spaces survive, entries go away, and ~/.ssh/config is only changed by addInclude.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateEd25519 } from '../../../src/base/ed25519';
import { createMachineKeys } from '../../../src/ssh/keys';
import { writeKnownHosts } from '../../../src/ssh/known-hosts';
import { addInclude, isIncluded, listHostEntries, removeHostEntry, writeHostEntry } from '../../../src/ssh/remote-ssh-config';
import { startSshd } from '../../fixtures/sshd';

function ssh(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ssh', args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `ssh -G`: the configuration OpenSSH would use for a host, as a map. */
function resolved(config: string, alias: string): Map<string, string> {
  const r = ssh(['-G', '-F', config, alias]);
  assert.equal(r.status, 0, r.stderr);
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  );
}

test('a host entry pins the machine for OpenSSH, even under a path with spaces, and is removed', { timeout: 60_000 }, async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-rssh-'));
  t.after(() => fs.rm(root, { recursive: true, force: true }));
  const storage = path.join(root, 'Application Support', 'globalStorage'); // as on macOS
  const keys = await createMachineKeys(storage, 'thebacknd-r1');
  const sshd = await startSshd({ hostPrivateKey: keys.hostPrivateKey, authorizedKeys: [keys.loginPublicKey] });
  t.after(() => sshd.close());
  await writeKnownHosts(keys, '127.0.0.1', sshd.port);
  const managed = path.join(root, 'ssh', 'thebacknd_config');
  await writeHostEntry(
    { alias: 'thebacknd-1', hostName: '127.0.0.1', port: sshd.port, user: sshd.user, identityFile: keys.loginKeyPath, knownHostsFile: keys.knownHostsPath },
    managed,
  );
  await writeHostEntry({ alias: 'thebacknd-2', hostName: '203.0.113.9', identityFile: '/k/2', knownHostsFile: '/k/2.known' }, managed);
  assert.equal((await fs.stat(managed)).mode & 0o777, 0o600);
  assert.equal((await fs.stat(path.dirname(managed))).mode & 0o777, 0o700);

  const c = resolved(managed, 'thebacknd-1');
  assert.equal(c.get('hostname'), '127.0.0.1');
  assert.equal(c.get('port'), String(sshd.port));
  assert.equal(c.get('user'), sshd.user);
  assert.equal(c.get('identityfile'), keys.loginKeyPath);
  assert.equal(c.get('userknownhostsfile'), keys.knownHostsPath);
  assert.equal(c.get('stricthostkeychecking'), 'true');
  assert.equal(resolved(managed, 'thebacknd-2').get('user'), 'root');

  const ok = ssh(['-F', managed, '-o', 'BatchMode=yes', '-o', 'GlobalKnownHostsFile=/dev/null', 'thebacknd-1', 'echo via-entry']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'via-entry');

  // Writing the same alias again replaces it rather than adding a second block.
  await writeHostEntry(
    { alias: 'thebacknd-1', hostName: '127.0.0.1', port: sshd.port, user: sshd.user, identityFile: keys.loginKeyPath, knownHostsFile: keys.knownHostsPath },
    managed,
  );
  assert.deepEqual(await listHostEntries(managed), ['thebacknd-2', 'thebacknd-1']);

  await sshd.start({ hostPrivateKey: generateEd25519('impostor').privateKey });
  const bad = ssh(['-F', managed, '-o', 'BatchMode=yes', '-o', 'GlobalKnownHostsFile=/dev/null', 'thebacknd-1', 'echo via-entry']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

  assert.equal(await removeHostEntry('thebacknd-1', managed), true);
  assert.equal(await removeHostEntry('thebacknd-1', managed), false);
  assert.deepEqual(await listHostEntries(managed), ['thebacknd-2']);
  assert.equal(resolved(managed, 'thebacknd-1').get('hostname'), 'thebacknd-1', 'the alias no longer resolves');
  assert.equal(await removeHostEntry('thebacknd-9', path.join(root, 'missing')), false);
  await assert.rejects(writeHostEntry({ alias: 'x y', hostName: 'h', identityFile: 'i', knownHostsFile: 'k' }, managed), /invalid host alias/);
});

test('~/.ssh/config gets one Include at the top, only when asked, keeping what was there', { timeout: 60_000 }, async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'thebacknd-rssh-'));
  t.after(() => fs.rm(root, { recursive: true, force: true }));
  const userConfig = path.join(root, '.ssh', 'config');
  const managed = path.join(root, '.ssh', 'thebacknd_config');
  await fs.mkdir(path.dirname(userConfig), { recursive: true });
  const before = 'Host old\n  HostName old.example\n  User me\n';
  await fs.writeFile(userConfig, before, { mode: 0o640 });
  await fs.chmod(userConfig, 0o640);

  await writeHostEntry({ alias: 'thebacknd-4', hostName: '198.51.100.4', identityFile: '/k/4', knownHostsFile: '/k/4.known' }, managed);
  assert.equal(await fs.readFile(userConfig, 'utf8'), before, 'writing an entry does not touch the user config');
  assert.equal(await isIncluded(userConfig, managed), false);
  assert.equal(resolved(userConfig, 'thebacknd-4').get('hostname'), 'thebacknd-4');

  assert.equal(await addInclude(userConfig, managed), true);
  assert.equal(await addInclude(userConfig, managed), false);
  const after = await fs.readFile(userConfig, 'utf8');
  assert.equal(after.match(/^Include /gm)?.length, 1);
  assert.ok(after.endsWith(before), 'the existing content is kept');
  assert.ok(after.indexOf('Include') < after.indexOf('Host old'), 'the Include comes before any Host block');
  assert.equal((await fs.stat(userConfig)).mode & 0o777, 0o640, 'mode kept');
  assert.equal(await isIncluded(userConfig, managed), true);
  assert.equal(resolved(userConfig, 'thebacknd-4').get('hostname'), '198.51.100.4');
  assert.equal(resolved(userConfig, 'old').get('hostname'), 'old.example');

  // No config yet: created 0600.
  const fresh = path.join(root, 'other', '.ssh', 'config');
  assert.equal(await addInclude(fresh, managed), true);
  assert.equal((await fs.stat(fresh)).mode & 0o777, 0o600);
  assert.equal(resolved(fresh, 'thebacknd-4').get('hostname'), '198.51.100.4');
});
