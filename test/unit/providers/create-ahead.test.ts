// What a create needs can be had ahead of it, so that Run Toplevel's create is one request while the build still
// runs: the project key (prepareCreate) and the names taken (knownNames, from the listing the run made for the
// cloud's clock). A stale listing costs nothing but a clash, which lists afresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClean, client, emulator, request } from './emu';

test('hetzner: after prepareCreate and with the names known, the create is one request', async (t) => {
  const emu = await emulator(t);
  const p = client(emu, 'hetzner');
  const first = await p.create(request('hetzner'));
  await p.prepareCreate!();
  const { machines } = await p.list();
  const mark = emu.requests.length;
  const m = await p.create({ ...request('hetzner'), knownNames: machines.map((x) => x.name) });
  assert.deepEqual(
    emu.requests.slice(mark).map((r) => `${r.method} ${r.path}`),
    ['POST /v1/servers'],
  );
  assert.notEqual(m.name, first.name);
  assertClean(emu);
});

test('hetzner: a fresh client looks the project key up in prepareCreate, not in the create', async (t) => {
  const emu = await emulator(t);
  await client(emu, 'hetzner').create(request('hetzner')); // the key exists now
  const p = client(emu, 'hetzner');
  const mark = emu.requests.length;
  await p.prepareCreate!();
  assert.deepEqual(
    emu.requests.slice(mark).map((r) => `${r.method} ${r.path}`),
    ['GET /v1/ssh_keys'],
  );
  const created = emu.requests.length;
  await p.create(request('hetzner'));
  assert.ok(!emu.requests.slice(created).some((r) => r.path === '/v1/ssh_keys'), 'the create did not ask again');
  assertClean(emu);
});

for (const provider of ['hetzner', 'digitalocean'] as const) {
  test(`${provider}: names known from a stale listing still end in unique names`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, provider);
    const a = await p.create(request(provider));
    // Listed before `a` existed: the first attempt picks a's name; Hetzner answers 409 and the create lists afresh,
    // DigitalOcean accepts the duplicate and the create renames its machine after the fact.
    const b = await p.create({ ...request(provider), knownNames: [] });
    const names = (await p.list()).machines.map((m) => m.name).sort();
    assert.equal(new Set(names).size, names.length, `unique names: ${names.join(', ')}`);
    assert.ok(names.includes(a.name) && names.includes(b.name));
    assert.notEqual(a.name, b.name);
    assertClean(emu);
  });
}
