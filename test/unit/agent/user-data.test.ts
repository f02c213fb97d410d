import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootTargetOf, buildUserData, parseUserData, serializeUserData, USER_DATA_MAX_BYTES, type UserDataInput } from '../../../src/agent/user-data';
import { UserError } from '../../../src/base/errors';
import { generateEd25519 } from '../../../src/base/ed25519';

const TOPLEVEL = '/nix/store/kkrl8vi6hp1r4lq7i0fk7a620p0kljpc-nixos-system-thebacknd-test';
const cache = { url: 'https://cache.example/bucket', trustedPublicKey: 'thebacknd-1:D9/L8+dP4Hn1NTPbL6SDS43XJKAkQekL465W0Q3Y1iA=', private: false };

async function input(target: UserDataInput['target']): Promise<UserDataInput> {
  const host = await generateEd25519('host');
  const login = await generateEd25519('login');
  return { hostKey: { private: host.privateKey, public: host.publicKey }, authorizedKeys: [login.publicKey], cache, target };
}

test('a toplevel run carries version, keys, cache and the toplevel, and survives a round trip', async () => {
  const inp = await input({ kind: 'toplevel', path: TOPLEVEL });
  const data = buildUserData(inp);
  assert.equal(data.version, 1);
  assert.equal(data.toplevel, TOPLEVEL);
  assert.equal(data.binary, undefined);
  assert.deepEqual(data.cache, cache);
  assert.equal(data.hostKey?.public, inp.hostKey?.public);
  assert.match(data.hostKey?.private ?? '', /BEGIN OPENSSH PRIVATE KEY/);
  const text = serializeUserData(data);
  assert.deepEqual(parseUserData(text), data);
  assert.deepEqual(bootTargetOf(parseUserData(text)), { kind: 'toplevel', path: TOPLEVEL });
});

test('a binary run keeps its arguments; a bare run names no store path', async () => {
  const bin = buildUserData(await input({ kind: 'binary', path: `${TOPLEVEL}/bin/job`, args: ['a', 'two words'] }));
  assert.deepEqual(bin.binary, { path: `${TOPLEVEL}/bin/job`, args: ['a', 'two words'] });
  assert.equal(bin.toplevel, undefined);
  const bare = buildUserData({ authorizedKeys: [], target: { kind: 'bare' } });
  assert.deepEqual(bare, { version: 1, authorizedKeys: [] });
  assert.deepEqual(bootTargetOf(parseUserData(serializeUserData(bare))), { kind: 'bare' });
});

test('bad inputs are refused with a sentence a user can act on', async () => {
  const ok = await input({ kind: 'toplevel', path: TOPLEVEL });
  const refuse = (i: UserDataInput, re: RegExp): void =>
    assert.throws(
      () => buildUserData(i),
      (e: unknown) => e instanceof UserError && re.test(e.message),
    );
  refuse({ ...ok, target: { kind: 'toplevel', path: '/tmp/not-a-store-path' } }, /Not a Nix store path/);
  refuse({ ...ok, target: { kind: 'toplevel', path: `${TOPLEVEL}/bin` } }, /Not a Nix store path/);
  refuse({ ...ok, target: { kind: 'binary', path: TOPLEVEL } }, /program inside/);
  refuse({ ...ok, cache: undefined }, /binary cache is needed/);
  refuse({ ...ok, cache: { ...cache, trustedPublicKey: 'no-colon' } }, /name:base64/);
  refuse({ ...ok, authorizedKeys: ['not a key'] }, /OpenSSH public key/);
  refuse({ ...ok, hostKey: { private: 'x', public: 'ssh-rsa AAAA' } }, /ed25519/);
  assert.throws(() => parseUserData('{"version":2}'), /Unsupported user-data version: 2/);
  assert.throws(() => parseUserData('#cloud-config'), /not JSON/);
});

test('user-data larger than the clouds accept is refused before any machine is created', async () => {
  const i = await input({ kind: 'binary', path: `${TOPLEVEL}/bin/job`, args: ['x'.repeat(USER_DATA_MAX_BYTES)] });
  assert.throws(() => serializeUserData(buildUserData(i)), /larger than 32 KiB/);
});
