// thebacknd-N through the real clients: gaps are reused, concurrent creates (one window or two) get distinct
// names, and a clash moves on to the next number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addAccountKey, assertClean, client, emulator, IDS, request, seed } from './emu';

for (const id of IDS) {
  test(`${id}: the smallest free number is used, gaps included`, async (t) => {
    const emu = await emulator(t);
    seed(emu, id, { name: 'thebacknd-1', tagged: true });
    seed(emu, id, { name: 'thebacknd-3', tagged: true });
    const m = await client(emu, id).create(request(id));
    assert.equal(m.name, 'thebacknd-2');
    assertClean(emu);
  });

  test(`${id}: concurrent creates from one window get distinct names`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const made = await Promise.all([1, 2, 3].map(() => p.create(request(id))));
    assert.deepEqual(made.map((m) => m.name).sort(), ['thebacknd-1', 'thebacknd-2', 'thebacknd-3']);
    assertClean(emu);
  });

  test(`${id}: two windows racing for the same number end with distinct names`, async (t) => {
    const emu = await emulator(t);
    // Two clients = two windows: they share nothing but the cloud.
    const [a, b] = [client(emu, id), client(emu, id)];
    // With a key given, the windows do not first meet on the project key (project-key.test.ts), only on the name.
    const req = request(id, { sshKeys: [id === 'hetzner' ? '2323' : String((await addAccountKey(emu, 'digitalocean', 'laptop')).id)] });
    const made = await Promise.all([a.create(req), b.create(req)]);
    const names = (await a.list()).machines.map((m) => m.name).sort();
    assert.deepEqual(names, ['thebacknd-1', 'thebacknd-2']);
    assert.deepEqual(made.map((m) => m.name).sort(), names, 'each window was told its final name');
    // The race really happened: both asked for thebacknd-1.
    const asked = emu.requests.filter((r) => r.method === 'POST' && /\/(droplets|servers)$/.test(r.path)).map((r) => (r.body as { name: string }).name);
    assert.deepEqual(asked.slice(0, 2), ['thebacknd-1', 'thebacknd-1']);
    if (id === 'hetzner')
      assert.ok(
        emu.requests.some((r) => r.status === 409),
        'Hetzner refused the duplicate name',
      );
    else
      assert.ok(
        emu.requests.some((r) => (r.body as { type?: string } | undefined)?.type === 'rename'),
        'the later droplet was renamed',
      );
    assertClean(emu);
  });
}

test('hetzner: a name held by a machine thebacknd does not list (409) moves on to the next number', async (t) => {
  const emu = await emulator(t);
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: false });
  seed(emu, 'hetzner', { name: 'thebacknd-2', tagged: false });
  const m = await client(emu, 'hetzner').create(request('hetzner'));
  assert.equal(m.name, 'thebacknd-3');
  assert.equal(emu.requests.filter((r) => r.status === 409).length, 2);
  assertClean(emu);
});
