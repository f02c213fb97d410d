// The extension's stored reaper link (SecretStorage JSON): used only through the endpoint it was deployed through,
// and the user-data made from it carries the machine's code, never the secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reaperUserData } from '../../../src/cloud-reaper/link';
import { storedLinkJson, usableLink } from '../../../src/cloud-reaper/stored-link';
import { artefact, assertNoSecrets, mintSecret } from '../../fixtures/secrets';

const SECRET = mintSecret('destroy-self secret (stored link)', '', 64);
const link = { url: 'http://127.0.0.1:4000/api/v1/web/fn-1/thebacknd/destroy-self', whiskAuth: 'a'.repeat(48), secret: SECRET };

test('a stored link is used through the endpoint it was deployed through, and only then', () => {
  const emu = storedLinkJson(link, { namespace: 'fn-1', intervalMinutes: 20, endpoint: 'http://127.0.0.1:4000/v2' });
  assert.deepEqual(usableLink(emu, 'http://127.0.0.1:4000/v2'), link);
  assert.deepEqual(usableLink(emu, ' http://127.0.0.1:4000/v2 '), link, 'the setting is trimmed as the providers trim it');
  assert.equal(usableLink(emu, ''), undefined, 'not on the real cloud');
  assert.equal(usableLink(emu, 'http://127.0.0.1:4001/v2'), undefined, 'not on another emulator');
  const real = storedLinkJson(link, { namespace: 'fn-1', intervalMinutes: 20, endpoint: '' });
  assert.deepEqual(usableLink(real, ''), link);
  assert.equal(usableLink(real, 'http://127.0.0.1:4000/v2'), undefined);
});

test('nothing stored, broken JSON or a short secret: no link', () => {
  assert.equal(usableLink(undefined, ''), undefined);
  assert.equal(usableLink('{', ''), undefined);
  assert.equal(usableLink(JSON.stringify({ ...link, secret: 'short', endpoint: '' }), ''), undefined);
  assert.equal(usableLink(JSON.stringify({ ...link, url: 'javascript:x', endpoint: '' }), ''), undefined);
});

test("the user-data made from it holds the run's code, not the secret", () => {
  const ud = reaperUserData(usableLink(storedLinkJson(link, { namespace: 'fn-1', intervalMinutes: 20, endpoint: '' }), '')!, 'thebacknd-0000');
  assert.match(ud.code, /^[0-9a-f]{64}$/);
  assertNoSecrets([artefact('user-data reaper', ud)]);
});
