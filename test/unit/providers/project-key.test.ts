// No creation e-mails: Hetzner and DigitalOcean mail a root password for every machine created without an SSH key.
// Every create carries one: the caller's keys when given, else the project key `thebacknd`, made once and reused,
// whose private half nobody has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROJECT_KEY_NAME } from '../../../src/providers/project-key';
import type { Emulator } from '../../fixtures/emulator';
import { accountKeys, addAccountKey, assertClean, client, emulator, request } from './emu';
import { startEmulator } from '../../fixtures/emulator';

test('hetzner: a create without keys carries the project key "thebacknd" (no root password is mailed); it is made once and reused', async (t) => {
  const emu = await emulator(t);
  const before = (await accountKeys(emu, 'hetzner')).length;
  const a = await client(emu, 'hetzner').create(request('hetzner'));
  const b = await client(emu, 'hetzner').create(request('hetzner')); // a fresh client finds it by name
  const after = await accountKeys(emu, 'hetzner');
  const key = after.find((k) => k.name === PROJECT_KEY_NAME);
  assert.ok(key, 'the project key exists');
  assert.equal(after.length, before + 1, 'exactly one key was added');
  assert.match(key.public_key, /^ssh-ed25519 [A-Za-z0-9+/=]+ /);
  for (const m of [a, b]) assert.deepEqual(emu.state.servers.get(Number(m.id))?.sshKeys, [String(key.id)]);
  const creates = emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/servers');
  assert.equal(creates.length, 2);
  for (const c of creates) assert.equal((c.responseBody as { root_password: string | null }).root_password, null, 'no root password, so no e-mail');
  assert.equal(emu.requests.filter((r) => r.method === 'POST' && r.path === '/v1/ssh_keys').length, 1);
  assertClean(emu);
});

test('hetzner: a key named "thebacknd" already in the project is used as it is; keys the user asked for replace it', async (t) => {
  const emu = await emulator(t);
  const own = await addAccountKey(emu, 'hetzner', PROJECT_KEY_NAME);
  const posts = emu.requests.length;
  const p = client(emu, 'hetzner');
  const a = await p.create(request('hetzner'));
  assert.deepEqual(emu.state.servers.get(Number(a.id))?.sshKeys, [String(own.id)]);
  const mine = await p.create(request('hetzner', { sshKeys: ['2323'] }));
  assert.deepEqual(emu.state.servers.get(Number(mine.id))?.sshKeys, ['2323'], "only the user's key, never the project key by surprise");
  assert.equal(emu.requests.slice(posts).filter((r) => r.method === 'POST' && r.path === '/v1/ssh_keys').length, 0);
  assertClean(emu);
});

test('hetzner: two windows making the project key at once end with one key, both creates carrying it', async (t) => {
  const emu = await emulator(t);
  const made = await Promise.all([client(emu, 'hetzner').create(request('hetzner')), client(emu, 'hetzner').create(request('hetzner'))]);
  const mine = (await accountKeys(emu, 'hetzner')).filter((k) => k.name === PROJECT_KEY_NAME);
  assert.equal(mine.length, 1);
  for (const m of made) assert.deepEqual(emu.state.servers.get(Number(m.id))?.sshKeys, [String(mine[0]!.id)]);
  assertClean(emu);
});

const dropletKeys = (emu: Emulator, id: string) => emu.state.droplets.get(Number(id))?.sshKeys.map(String);

test('digitalocean: a create without keys carries the project key "thebacknd" (no root password is mailed); it is made once and reused', async (t) => {
  const emu = await emulator(t);
  const a = await client(emu, 'digitalocean').create(request('digitalocean'));
  const b = await client(emu, 'digitalocean').create(request('digitalocean')); // a fresh client finds it by name
  const mine = (await accountKeys(emu, 'digitalocean')).filter((k) => k.name === PROJECT_KEY_NAME);
  assert.equal(mine.length, 1, 'exactly one project key');
  assert.match(mine[0]!.public_key, /^ssh-ed25519 [A-Za-z0-9+/=]+ /);
  for (const m of [a, b]) assert.deepEqual(dropletKeys(emu, m.id), [String(mine[0]!.id)], 'the droplet has a key, so no root password is mailed');
  assert.equal(emu.requests.filter((r) => r.method === 'POST' && r.path === '/v2/account/keys').length, 1);
  assertClean(emu);
});

test('digitalocean: keys the user asked for replace the project key', async (t) => {
  const emu = await emulator(t);
  const own = await addAccountKey(emu, 'digitalocean', 'laptop');
  const m = await client(emu, 'digitalocean').create(request('digitalocean', { sshKeys: [String(own.id)] }));
  assert.deepEqual(dropletKeys(emu, m.id), [String(own.id)], "only the user's key, never the project key by surprise");
  assert.equal((await accountKeys(emu, 'digitalocean')).filter((k) => k.name === PROJECT_KEY_NAME).length, 0);
  assertClean(emu);
});

test('digitalocean: two windows making the project key at once end with one key, both creates carrying it', async (t) => {
  const emu = await emulator(t);
  const made = await Promise.all([client(emu, 'digitalocean').create(request('digitalocean')), client(emu, 'digitalocean').create(request('digitalocean'))]);
  const mine = (await accountKeys(emu, 'digitalocean')).filter((k) => k.name === PROJECT_KEY_NAME);
  assert.equal(mine.length, 1, 'DigitalOcean allows two keys of one name: the younger is removed');
  for (const m of made) assert.deepEqual(dropletKeys(emu, m.id), [String(mine[0]!.id)]);
  assertClean(emu);
});

test('digitalocean: a custom-scoped token without the ssh_key scopes still creates, without a key, as before', async (t) => {
  const scoped = 'scoped-token-0123456789abcdef';
  const emu = await startEmulator({ delays: { doActiveMs: 30, actionMs: 20, deleteMs: 0 }, doTokenScopes: { [scoped]: ['droplet:create', 'droplet:read', 'droplet:delete'] } });
  t.after(() => emu.close());
  const m = await client(emu, 'digitalocean', { token: scoped }).create(request('digitalocean'));
  assert.deepEqual(dropletKeys(emu, m.id), []);
  const asked = emu.requests.filter((r) => r.path === '/v2/account/keys');
  assert.deepEqual(
    asked.map((r) => `${r.method} ${r.status}`),
    ['GET 403'],
    'the key listing was refused, and no key was made',
  );
  assertClean(emu);
});

test('digitalocean: a token that may read keys but not add them asks once per client, not on every create', async (t) => {
  const scoped = 'scoped-token-read-keys-0123456789';
  const emu = await startEmulator({
    delays: { doActiveMs: 30, actionMs: 20, deleteMs: 0 },
    doTokenScopes: { [scoped]: ['droplet:create', 'droplet:read', 'droplet:delete', 'ssh_key:read'] },
  });
  t.after(() => emu.close());
  const p = client(emu, 'digitalocean', { token: scoped });
  const made = [await p.create(request('digitalocean')), await p.create(request('digitalocean')), await p.create(request('digitalocean'))];
  for (const m of made) assert.deepEqual(dropletKeys(emu, m.id), []);
  assert.deepEqual(
    emu.requests.filter((r) => r.path === '/v2/account/keys').map((r) => `${r.method} ${r.status}`),
    // After a failed add the key is looked up once more (another window may have made it), then never again.
    ['GET 200', 'POST 403', 'GET 200'],
    'one lookup, one refused add and its look-again, then creates without asking',
  );
  assertClean(emu);
});

test("digitalocean: a token with exactly the README's machine scopes creates with the project key, lists, extends, powers off and destroys", async (t) => {
  const scoped = 'scoped-token-readme-0123456789';
  const readme = [
    'droplet:read',
    'droplet:create',
    'droplet:update',
    'droplet:delete',
    'tag:create',
    'tag:delete',
    'actions:read',
    'regions:read',
    'sizes:read',
    'image:read',
    'ssh_key:read',
    'ssh_key:create',
  ];
  const emu = await startEmulator({ delays: { doActiveMs: 30, actionMs: 20, deleteMs: 0 }, doTokenScopes: { [scoped]: readme } });
  t.after(() => emu.close());
  const p = client(emu, 'digitalocean', { token: scoped });
  const m = await p.create(request('digitalocean'));
  assert.equal(dropletKeys(emu, m.id)?.length, 1, 'created with the project key');
  assert.deepEqual(
    (await p.list()).machines.map((x) => x.id),
    [m.id],
  );
  await p.setDeadline(m.id, new Date(Date.now() + 2 * 3_600_000));
  assert.ok((await p.sizes()).length > 0);
  assert.ok((await p.regions()).length > 0);
  assert.ok((await p.images()).length > 0);
  await p.powerOff!(m.id);
  await p.destroy(m.id);
  assert.deepEqual(
    emu.requests.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`),
    [],
    'no call needed a scope the README does not list',
  );
  assertClean(emu);
});

for (const id of ['hetzner', 'digitalocean'] as const) {
  test(`${id}: a create cancelled while the project key is looked up cancels only itself; a concurrent create of the same client goes on with the key`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const keys = id === 'digitalocean' ? '/v2/account/keys' : '/v1/ssh_keys';
    const cancelled = new AbortController();
    // The first create's cancel arrives while the lookup both creates share is at the cloud.
    emu.onRequest((r) => {
      if (r.method === 'GET' && r.path === keys) cancelled.abort();
    });
    const first = p.create(request(id), cancelled.signal);
    const second = p.create(request(id));
    await assert.rejects(first, (e: Error) => e.name === 'AbortError' || /cancel/i.test(e.message));
    const made = await second;
    emu.onRequest(undefined);
    const mine = (await accountKeys(emu, id)).filter((k) => k.name === PROJECT_KEY_NAME);
    assert.equal(mine.length, 1, 'one project key');
    const carried = id === 'digitalocean' ? dropletKeys(emu, made.id) : emu.state.servers.get(Number(made.id))?.sshKeys;
    assert.deepEqual(carried, [String(mine[0]!.id)], 'the create that was not cancelled carries the project key');
    const machines = id === 'digitalocean' ? emu.state.droplets.size : emu.state.servers.size;
    assert.equal(machines, 1, 'the cancelled create made no machine');
    assertClean(emu);
  });
}
