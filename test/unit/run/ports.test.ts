// The pure parts of the run's ports: which transfer a configuration implies, the key machines trust, the
// credentials file a private cache gets, the user-data of each kind of run, the checks made before anything is
// built or created, and the verdict drawn from the agent's last line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAgentLine, type AgentEvent } from '../../../src/agent/log';
import { UserError } from '../../../src/base/errors';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { parseUserData } from '../../../src/agent/user-data';
import { generateSigningKey } from '../../../src/nix/sign';
import type { CloudProvider } from '../../../src/providers/types';
import { createRunPorts, credentialsFileFor, outcomeOf, preflight, transferOf, trustedPublicKeyOf, type RunRequest } from '../../../src/run';
import { NIX_ENV } from '../../fixtures/testhost';

const TOPLEVEL = '/nix/store/kkrl8vi6hp1r4lq7i0fk7a620p0kljpc-nixos-system-thebacknd-test';
const KEY = 'cache-1:D9/L8+dP4Hn1NTPbL6SDS43XJKAkQekL465W0Q3Y1iA=';
const cacheSettings = (over: Partial<Settings['cache']> = {}): Settings => ({
  ...DEFAULTS,
  cache: { ...DEFAULTS.cache, endpoint: 'https://ams3.example.com', bucket: 'nix', trustedPublicKey: KEY, ...over },
});
const noProvider = {} as CloudProvider;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-ports-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('no cache configured means the closure goes over SSH; an endpoint or a public URL means the cache', () => {
  assert.equal(transferOf(DEFAULTS), 'ssh');
  assert.equal(transferOf(cacheSettings()), 'cache');
  assert.equal(transferOf({ ...DEFAULTS, cache: { ...DEFAULTS.cache, publicUrl: 'https://cache.example.com' } }), 'cache');
});

test('the trusted key is the setting, else derived from the secret signing key Nix wrote', async (t) => {
  const dir = tmp(t);
  const key = await generateSigningKey('ports-test-1', dir, { env: { ...process.env, ...NIX_ENV } });
  assert.equal(trustedPublicKeyOf(cacheSettings({ trustedPublicKey: '', signingKeyFile: key.secretKeyFile })), key.publicKey);
  assert.equal(trustedPublicKeyOf(cacheSettings({ signingKeyFile: key.secretKeyFile })), KEY, 'the setting wins');
  assert.throws(() => trustedPublicKeyOf(cacheSettings({ trustedPublicKey: '' })), /set thebacknd\.cache\.trustedPublicKey/);
});

test('a private cache gets a netrc (HTTP) or an AWS credentials file (s3://)', () => {
  const c = { accessKeyId: 'AKIA1', secretAccessKey: 'sec/ret+1' };
  assert.equal(credentialsFileFor('https://cache.example.com:8443/nix', c), 'machine cache.example.com login AKIA1 password sec/ret+1\n');
  assert.equal(
    credentialsFileFor('s3://nix?endpoint=ams3.example.com', { ...c, sessionToken: 'tok' }),
    '[default]\naws_access_key_id = AKIA1\naws_secret_access_key = sec/ret+1\naws_session_token = tok\n',
  );
  assert.throws(() => credentialsFileFor('https://c.example.com', { accessKeyId: 'a b', secretAccessKey: 'x' }), UserError);
});

test('user-data per kind of run: toplevel from the cache, closure over SSH, binary, bare; never a credential', () => {
  const keys = {
    dir: '/k/thebacknd-x',
    loginPrivateKeyPath: '/k/thebacknd-x/login_ed25519',
    loginPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqp3uFsHYYHhi1ihb8hDFM4vVVTEkaCVmC2wHjSRFSM login',
    hostPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n',
    hostPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBqp3uFsHYYHhi1ihb8hDFM4vVVTEkaCVmC2wHjSRFSM host',
  };
  const creds = { accessKeyId: 'AKIAPUSH', secretAccessKey: 'push-secret-123' };
  const p = createRunPorts({
    provider: noProvider,
    settings: cacheSettings(),
    keysRoot: '/k',
    cacheCredentials: creds,
    cacheReadCredentials: { accessKeyId: 'r', secretAccessKey: 'read-secret-123' },
  });
  const cached = p.userData({ payload: { kind: 'toplevel', storePath: TOPLEVEL }, storePath: TOPLEVEL, keys, cachePrivate: true, transfer: 'cache' });
  assert.deepEqual(parseUserData(cached), {
    version: 1,
    hostKey: { private: keys.hostPrivateKey, public: keys.hostPublicKey },
    authorizedKeys: [keys.loginPublicKey],
    cache: { url: 'https://ams3.example.com/nix', trustedPublicKey: KEY, private: true },
    toplevel: TOPLEVEL,
  });
  for (const secret of ['push-secret-123', 'read-secret-123', 'AKIAPUSH']) assert.ok(!cached.includes(secret));

  const overSsh = parseUserData(p.userData({ payload: { kind: 'installable', installable: '.#x' }, storePath: TOPLEVEL, keys, cachePrivate: false, transfer: 'ssh' }));
  assert.equal(overSsh.closure, 'ssh');
  assert.equal(overSsh.cache, undefined, 'no cache: nothing to substitute from');
  assert.equal(overSsh.toplevel, TOPLEVEL);

  const binary = parseUserData(
    p.userData({ payload: { kind: 'binary', storePath: TOPLEVEL, binary: 'bin/job' }, storePath: TOPLEVEL, keys, cachePrivate: false, transfer: 'cache' }),
  );
  assert.deepEqual(binary.binary, { path: `${TOPLEVEL}/bin/job`, args: [] });
  assert.equal(binary.toplevel, undefined);

  const bare = parseUserData(p.userData({ payload: { kind: 'bare' }, keys, cachePrivate: false, transfer: 'cache' }));
  assert.deepEqual(Object.keys(bare).sort(), ['authorizedKeys', 'hostKey', 'version']);
});

test('settings that cannot work are refused before anything is built or created', () => {
  const req = (over: Partial<RunRequest>): RunRequest => ({
    payload: { kind: 'configuration', flakeRef: '/f', name: 'x' },
    placement: { provider: 'hetzner', region: 'fsn1', size: 'cx22', image: '1' },
    maxAgeMinutes: 60,
    transfer: 'cache',
    cachePrivate: false,
    onFailure: 'destroy',
    ...over,
  });
  const creds = { accessKeyId: 'a', secretAccessKey: 'b' };
  assert.throws(() => preflight({ settings: cacheSettings(), cacheCredentials: creds }, req({})), /No signing key is set/);
  assert.throws(() => preflight({ settings: cacheSettings({ signingKeyFile: '/nonexistent/key' }) }, req({})), /Cannot read the signing key/);
  assert.throws(() => preflight({ settings: cacheSettings({ endpoint: '' }) }, req({})), /No binary cache is configured/);
  // A store path already in the cache needs no build credentials, only the key machines trust.
  preflight({ settings: cacheSettings() }, req({ payload: { kind: 'toplevel', storePath: TOPLEVEL } }));
  assert.throws(() => preflight({ settings: cacheSettings({ trustedPublicKey: '' }) }, req({ payload: { kind: 'toplevel', storePath: TOPLEVEL } })), /trustedPublicKey/);
  assert.throws(() => preflight({ settings: cacheSettings() }, req({ payload: { kind: 'toplevel', storePath: TOPLEVEL }, cachePrivate: true })), /no read credentials/);
  // No cache: nothing to check here (the closure goes over SSH).
  preflight({ settings: DEFAULTS }, req({ transfer: 'ssh' }));
});

test("the run's verdict comes from the agent's last line", () => {
  const ev = (line: string): AgentEvent => parseAgentLine(line)!;
  assert.deepEqual(outcomeOf(ev(`thebacknd: stage=done result=switched toplevel=${TOPLEVEL}`)), { ok: true });
  assert.deepEqual(outcomeOf(ev('thebacknd: stage=poweroff exit=0')), { ok: true, poweredOff: true });
  assert.deepEqual(outcomeOf(ev('thebacknd: stage=poweroff exit=3')), { ok: false, poweredOff: true, reason: 'the program exited with status 3; the machine powered off' });
  assert.deepEqual(outcomeOf(ev('thebacknd: stage=failed reason=closure-timeout message="the closure was not copied over SSH within 1800s"')), {
    ok: false,
    reason: 'Boot failed (closure-timeout): the closure was not copied over SSH within 1800s',
  });
});
