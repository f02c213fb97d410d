// Both clients, for real (dots-wrapper, openapi-fetch), against the spec-checked emulator: the lifecycle, what is
// stored on the machine, pages, untagged machines, IPv6-only servers, the server clock and the user-facing errors.
import { test } from 'node:test';
import { waitFor } from '../../fixtures/wait';
import assert from 'node:assert/strict';
import { UserError } from '../../../src/base/errors';
import { decideReaping } from '../../../src/reaper/policy';
import { createProvider } from '../../../src/providers';
import { assertClean, client, emulator, existing, IDS, request, seed, TOKEN } from './emu';

const TOPLEVEL = '/nix/store/lk6igl2f0i137q36wscfrc6n9r0jn52l-nixos-system-unnamed-23.05pre-git';

for (const id of IDS) {
  test(`${id}: create, list, get, extend, power off and destroy, with everything read back from the machine`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const deadline = new Date(Date.now() + 30 * 60_000);
    const m = await p.create(request(id, { deadline, toplevel: TOPLEVEL }));
    assert.equal(m.name, 'thebacknd-1');
    assert.equal(m.provider, id);
    assert.match(m.runId ?? '', /^thebacknd-[0-9a-f-]{36}$/);
    assert.equal(m.status, 'creating');
    assert.equal(m.deadline, new Date(Math.floor(deadline.getTime() / 1000) * 1000).toISOString());
    assert.equal(m.toplevel, '/nix/store/lk6igl2f0i137q36wscfrc6n9r0jn52l');
    assert.equal(m.region, request(id).region);
    assert.equal(m.size, request(id).size);
    assert.equal(m.currency, id === 'digitalocean' ? 'USD' : 'EUR');
    assert.ok(m.pricePerHour! > 0, 'price per hour from the size');

    // What another client sees: it is all on the machine.
    const other = client(emu, id);
    const { machines } = await other.list();
    assert.deepEqual(
      machines.map((x) => [x.id, x.name, x.runId, x.deadline, x.toplevel]),
      [[m.id, m.name, m.runId, m.deadline, m.toplevel]],
    );
    if (id === 'digitalocean') assert.ok(emu.state.droplets.get(Number(m.id))!.tags.includes('thebacknd'));
    else assert.equal(emu.state.servers.get(Number(m.id))!.labels['thebacknd'], '');

    // Boots: running, with addresses (once the emulator's boot has happened, whenever that is).
    const up = await waitFor('the machine to be running', async () => ((await p.get(m.id))?.status === 'running' ? p.get(m.id) : undefined));
    assert.equal(up?.status, 'running');
    assert.match(up?.ipv4 ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(up?.ipv6 ?? '', /:/);

    // Extend: a retag every client agrees on; DigitalOcean keeps a single deadline tag.
    const later = new Date(deadline.getTime() + 45 * 60_000);
    await p.setDeadline(m.id, later);
    assert.equal((await other.get(m.id))?.deadline, new Date(Math.floor(later.getTime() / 1000) * 1000).toISOString());
    if (id === 'digitalocean') {
      assert.equal(emu.state.droplets.get(Number(m.id))!.tags.filter((x) => x.startsWith('thebacknd-deadline:')).length, 1);
    }

    await p.powerOff!(m.id);
    await waitFor('the machine to be off', async () => (await p.get(m.id))?.status === 'off');

    await p.destroy(m.id);
    assert.equal(await p.get(m.id), undefined);
    assert.deepEqual((await p.list()).machines, []);
    await p.destroy(m.id); // already gone: still a success
    assertClean(emu);
  });

  test(`${id}: list follows every page`, async (t) => {
    const emu = await emulator(t, { limits: { droplets: 50, servers: 50 } });
    for (let i = 1; i <= 7; i++) seed(emu, id, { name: `thebacknd-${i}`, tagged: true });
    for (let i = 1; i <= 3; i++) seed(emu, id, { name: `other-${i}`, tagged: false });
    const p = client(emu, id, { pageSize: 3 });
    const { machines } = await p.list();
    assert.deepEqual(
      machines.map((m) => m.name).sort(),
      [1, 2, 3, 4, 5, 6, 7].map((i) => `thebacknd-${i}`),
    );
    const listCalls = emu.requests.filter((r) => r.method === 'GET' && /\/(droplets|servers)$/.test(r.path));
    assert.equal(listCalls.length, 3, 'three pages of three');
    // The next free number comes from all pages.
    const m = await p.create(request(id));
    assert.equal(m.name, 'thebacknd-8');
    assertClean(emu);
  });

  test(`${id}: untagged machines survive every operation`, async (t) => {
    const emu = await emulator(t);
    // Someone else's machines, one of them even named like ours.
    const foreign = [seed(emu, id, { name: 'web-1', tagged: false }), seed(emu, id, { name: 'thebacknd-1', tagged: false })];
    const p = client(emu, id);
    assert.deepEqual((await p.list()).machines, []);
    const mine = await p.create(request(id));
    // N counts tagged machines only; Hetzner's unique names then push past the foreign thebacknd-1.
    assert.equal(mine.name, id === 'hetzner' ? 'thebacknd-2' : 'thebacknd-1');
    const listed = await p.list();
    assert.deepEqual(
      listed.machines.map((m) => m.id),
      [mine.id],
    );
    for (const f of foreign) {
      const g = await p.get(f);
      assert.equal(g?.tagged, false);
      await assert.rejects(p.destroy(f), (e: unknown) => e instanceof UserError && /Refusing to touch/.test(e.message));
      await assert.rejects(p.setDeadline(f, new Date()), /Refusing to touch/);
      await assert.rejects(p.powerOff!(f), /Refusing to touch/);
    }
    assert.equal(await p.destroyByRunId(mine.runId!), 1);
    // The reaper never picks them even when given them.
    const all = (await Promise.all(foreign.map((f) => p.get(f)))).filter((m) => m !== undefined);
    assert.deepEqual(decideReaping({ machines: all.map((m) => ({ ...m, status: 'off' as const })), serverTime: new Date(), maxAgeMinutes: 5 }), []);
    assert.deepEqual(existing(emu, id).sort(), [...foreign].sort());
    assertClean(emu);
  });

  test(`${id}: ages run on the provider's clock (the Date header), not the local one`, async (t) => {
    // The server's clock is injected (frozen on a whole second, far from this machine's) and set 5 h ahead: the time
    // the client reports is exactly that, so it can only come from the Date header.
    const T = Date.UTC(2026, 0, 1, 0, 0, 0);
    const emu = await emulator(t, { clock: () => T });
    emu.setClock(5 * 3_600_000);
    const { serverTime } = await client(emu, id).list();
    assert.equal(serverTime.getTime(), T + 5 * 3_600_000, "server time is the Date header: 5 h ahead of the server's clock");
    assertClean(emu);
  });

  test(`${id}: a rejected token says so, offers Set Token, and never shows the token`, async (t) => {
    const emu = await emulator(t, { rejectTokens: [TOKEN] });
    const p = client(emu, id);
    for (const op of [() => p.list(), () => p.create(request(id)), () => p.destroy('123')]) {
      await assert.rejects(op(), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /token was rejected \(HTTP 401\)/);
        assert.deepEqual(e.fix, { kind: 'setToken', provider: id });
        assert.ok(!e.message.includes(TOKEN) && !String(e.stack).includes(TOKEN));
        return true;
      });
    }
    assertClean(emu);
  });

  test(`${id}: an invalid region, size or image lists the valid ones`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    await assert.rejects(p.create(request(id, { region: 'mars1' })), /no region "mars1"\. Valid regions: .*(ams3|fsn1)/);
    await assert.rejects(p.create(request(id, { size: 'huge-9000' })), /no size "huge-9000"\. Valid sizes in (ams3|fsn1): .*(s-1vcpu-1gb|cx22)/);
    await assert.rejects(p.create(request(id, { image: '999999' })), /no image "999999"\. Valid images: /);
    assert.deepEqual(existing(emu, id), []);
    assertClean(emu);
  });

  test(`${id}: an account limit says so`, async (t) => {
    const emu = await emulator(t, { limits: { droplets: 1, servers: 1 } });
    const p = client(emu, id);
    await p.create(request(id));
    await assert.rejects(p.create(request(id)), (e: unknown) => e instanceof UserError && /account limit is reached/.test(e.message) && !e.fix);
    assert.equal(existing(emu, id).length, 1);
    assertClean(emu);
  });

  test(`${id}: destroy by run id takes that run's machine only`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const a = await p.create(request(id));
    const b = await p.create(request(id));
    assert.equal(await p.destroyByRunId(a.runId!), 1);
    assert.deepEqual(
      (await p.list()).machines.map((m) => m.id),
      [b.id],
    );
    assert.equal(await p.destroyByRunId(a.runId!), 0);
    assertClean(emu);
  });

  test(`${id}: a call cancelled before it starts sends no request, and its end is the cancel`, async (t) => {
    const emu = await emulator(t);
    const p = client(emu, id);
    const m = await p.create(request(id));
    const ctl = new AbortController();
    const cancel = new Error('cancelled by the user');
    ctl.abort(cancel);
    const before = emu.requests.length;
    for (const call of [() => p.get(m.id, ctl.signal), () => p.destroy(m.id, ctl.signal), () => p.setDeadline(m.id, new Date(Date.now() + 60_000), ctl.signal)]) {
      await assert.rejects(call(), (e: unknown) => e === cancel);
    }
    assert.equal((await p.get(m.id))?.id, m.id, 'the client still works');
    assert.equal(emu.requests.length - before, 1, 'only the last call was sent');
    assert.deepEqual(existing(emu, id), [m.id]);
    assertClean(emu);
  });
}

test('hetzner: IPv6-only servers (public_net.ipv4: null) list, extend and destroy; creating one is refused up front', async (t) => {
  const emu = await emulator(t);
  const p = client(emu, 'hetzner');
  const seeded = String(emu.addServer({ name: 'thebacknd-1', labels: { thebacknd: '' }, ipv4: null, ipv6: { id: 9, ip: '2001:db8:42:1::/64' } }).id);
  const [listed] = (await p.list()).machines;
  assert.equal(listed?.id, seeded);
  assert.equal(listed?.ipv4, undefined);
  assert.equal(listed?.ipv6, '2001:db8:42:1::1');

  // The base image gets no IPv6 address on Hetzner (issue #15): refused before any request, nothing created.
  const before = emu.requests.length;
  await assert.rejects(p.create(request('hetzner', { ipv4: false })), /IPv6-only Hetzner machines are not supported/);
  await assert.rejects(p.create(request('hetzner', { size: 'cax11' })), /Hetzner Arm server types \(cax11\) are not supported/);
  assert.equal(emu.requests.length, before, 'no API call for a refused create');
  await p.setDeadline(seeded, new Date(Date.now() + 600_000));
  await p.destroy(seeded);
  assert.deepEqual(existing(emu, 'hetzner'), []);
  assertClean(emu);
});

test('catalogs: regions, sizes with hourly prices, images', async (t) => {
  const emu = await emulator(t);
  for (const id of IDS) {
    const p = client(emu, id);
    const regions = await p.regions();
    const sizes = await p.sizes();
    const images = await p.images();
    assert.ok(regions.some((r) => r.slug === request(id).region));
    const size = sizes.find((s) => s.slug === request(id).size);
    assert.ok(size && size.pricePerHour > 0 && size.regions.includes(request(id).region), `${id} size with a price`);
    assert.ok(images.some((i) => i.id === request(id).image));
    if (id === 'hetzner') assert.ok(!sizes.some((s) => /^cax/.test(s.slug)), 'Arm types, which the base image cannot boot, are not offered');
  }
  assertClean(emu);
});

test('hetzner: requests go through an injected fetch', async (t) => {
  const emu = await emulator(t);
  const seen: string[] = [];
  const fetcher: typeof fetch = (input, init) => {
    seen.push(input instanceof Request ? `${input.method} ${new URL(input.url).pathname}` : String(input));
    return fetch(input, init);
  };
  const p = createProvider('hetzner', { token: TOKEN, endpoint: emu.hetznerUrl, fetch: fetcher });
  await p.list();
  assert.deepEqual(seen, ['GET /v1/servers']);
  assertClean(emu);
});
