import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokens, checkToken, secretKey } from '../../../src/base/tokens';

class MemorySecrets {
  readonly map = new Map<string, string>();
  async get(k: string) { return this.map.get(k); }
  async store(k: string, v: string) { this.map.set(k, v); }
  async delete(k: string) { this.map.delete(k); }
}

const DO_TOKEN = 'dop_v1_0123456789abcdef0123456789abcdef';

test('secret storage wins over the environment, which is the fallback', async () => {
  const secrets = new MemorySecrets();
  const t = new Tokens(secrets, { DIGITALOCEAN_ACCESS_TOKEN: 'env-token-0123456789', HCLOUD_TOKEN: '' });
  assert.deepEqual(await t.get('digitalocean'), { token: 'env-token-0123456789', source: 'environment' });
  assert.equal(await t.get('hetzner'), undefined);
  await t.set('digitalocean', `  ${DO_TOKEN}\n`);
  assert.deepEqual(await t.get('digitalocean'), { token: DO_TOKEN, source: 'secret storage' });
  assert.equal(secrets.map.get(secretKey('digitalocean')), DO_TOKEN);
  assert.deepEqual(await t.configured(), ['digitalocean']);
  await t.clear('digitalocean');
  assert.equal((await t.get('digitalocean'))?.source, 'environment');
});

test('a malformed token is refused with a message that does not repeat it', async () => {
  const t = new Tokens(new MemorySecrets(), {});
  const bad = 'abc def ghi jkl mno';
  await assert.rejects(t.set('hetzner', bad), (e: Error) => !e.message.includes(bad) && /spaces/.test(e.message));
  assert.match(checkToken('') ?? '', /empty/);
  assert.match(checkToken('short') ?? '', /too short/);
  assert.equal(checkToken(DO_TOKEN), undefined);
});
