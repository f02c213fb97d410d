// The Hetzner half of the emulator, driven through openapi-fetch typed from the official spec, and raw fetch.
import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { assertClean, hcloud, raw, until } from './helpers';

const SNAPSHOT = '201000001';

describe('Hetzner emulator (openapi-fetch)', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({
      delays: { hetznerStartingMs: 80, hetznerRunningMs: 80, actionMs: 200, deleteMs: 400 },
      rejectTokens: ['revoked'],
      limits: { servers: 40 },
    });
    // Warm-up: the first use of an operation compiles its validators (slow on a busy machine), which would eat
    // into the short delays the tests below observe.
    const api = hcloud(emu);
    const w = await api.POST('/servers', { body: { name: 'warm-up', server_type: 'cx22', image: SNAPSHOT } });
    await api.GET('/servers/{id}', { params: { path: { id: w.data!.server.id } } });
    await api.GET('/servers');
    await api.DELETE('/servers/{id}', { params: { path: { id: w.data!.server.id } } });
  });
  after(() => emu.close());

  test('create answers server + action + next_actions + root_password; initializing → starting → running; delete', async () => {
    const api = hcloud(emu);
    const { data, error, response } = await api.POST('/servers', {
      body: {
        name: 'thebacknd-1',
        server_type: 'cx22',
        image: SNAPSHOT,
        location: 'nbg1',
        labels: { thebacknd: '', 'thebacknd-run': 'thebacknd-5b9c1f7e-2e61-4c1a-9d38-0a6f8e2b4c71', 'thebacknd-deadline': '1767225600' },
        user_data: '{"toplevel":"/nix/store/abc"}',
      },
    });
    assert.equal(error, undefined);
    assert.equal(response.status, 201);
    assert.ok(data);
    assert.equal(data.server.status, 'initializing');
    assert.equal(data.action.command, 'create_server');
    assert.equal(data.action.status, 'running');
    assert.deepEqual(
      data.next_actions.map((a) => a.command),
      ['start_server'],
    );
    assert.equal(typeof data.root_password, 'string'); // no ssh_keys given
    assert.match(data.server.public_net.ipv4?.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.match(data.server.public_net.ipv6?.ip ?? '', /::\/64$/);
    assert.equal(emu.state.servers.get(data.server.id)?.userData, '{"toplevel":"/nix/store/abc"}');

    const id = data.server.id;
    await until('running', async () => {
      const r = await api.GET('/servers/{id}', { params: { path: { id } } });
      return r.data!.server!.status === 'running' || undefined;
    });
    const next = await api.GET('/actions/{id}', { params: { path: { id: data.next_actions[0].id } } });
    assert.equal(next.data?.action.status, 'success');
    const viaServer = await api.GET('/servers/{id}/actions/{action_id}', { params: { path: { id, action_id: data.action.id } } });
    assert.equal(viaServer.data?.action.status, 'success');

    const del = await api.DELETE('/servers/{id}', { params: { path: { id } } });
    assert.equal(del.response.status, 200);
    assert.equal(del.data?.action?.command, 'delete_server');
    assert.equal((await api.GET('/servers/{id}', { params: { path: { id } } })).data?.server?.status, 'deleting');
    await until('gone', async () => {
      const r = await api.GET('/servers/{id}', { params: { path: { id } } });
      return r.response.status === 404 ? r.error : undefined;
    });
    const gone = await api.GET('/servers/{id}', { params: { path: { id } } });
    assert.equal(gone.error?.error.code, 'not_found');
    assertClean(emu);
  });

  test('the client sees each lifecycle state in turn: initializing, starting, running', async () => {
    const slow = await startEmulator({ delays: { hetznerStartingMs: 400, hetznerRunningMs: 400 } });
    try {
      const api = hcloud(slow);
      // Warm up (the first use of an operation compiles its validators), then watch a fresh server.
      const warm = await api.POST('/servers', { body: { name: 'warm-up', server_type: 'cx22', image: SNAPSHOT } });
      await api.GET('/servers/{id}', { params: { path: { id: warm.data!.server.id } } });
      const { data } = await api.POST('/servers', { body: { name: 'thebacknd-1', server_type: 'cx22', image: SNAPSHOT } });
      const seen: string[] = [data!.server.status];
      await until('running', async () => {
        const r = await api.GET('/servers/{id}', { params: { path: { id: data!.server.id } } });
        const st = r.data!.server!.status;
        if (seen[seen.length - 1] !== st) seen.push(st);
        return st === 'running' || undefined;
      });
      assert.deepEqual(seen, ['initializing', 'starting', 'running']);
      assertClean(slow);
    } finally {
      await slow.close();
    }
  });

  test('an IPv6-only server has public_net.ipv4 null; ssh_keys given means no root password', async () => {
    const api = hcloud(emu);
    const { data } = await api.POST('/servers', {
      body: {
        name: 'thebacknd-v6',
        server_type: 'cpx11',
        image: 'debian-12',
        location: 'hel1',
        ssh_keys: ['thebacknd-test'],
        public_net: { enable_ipv4: false, enable_ipv6: true },
        start_after_create: false,
      },
    });
    assert.ok(data);
    assert.equal(data.server.public_net.ipv4, null);
    assert.ok(data.server.public_net.ipv6?.ip);
    assert.equal(data.root_password, null);
    assert.deepEqual(data.next_actions, []);
    await until('off (start_after_create: false)', async () => {
      const r = await api.GET('/servers/{id}', { params: { path: { id: data.server.id } } });
      return r.data?.server?.status === 'off' || undefined;
    });
    await api.DELETE('/servers/{id}', { params: { path: { id: data.server.id } } });
    assertClean(emu);
  });

  test('a duplicate name is 409 uniqueness_error, even for two concurrent creates', async () => {
    const api = hcloud(emu);
    const body = { name: 'thebacknd-2', server_type: 'cx22', image: SNAPSHOT, labels: { thebacknd: '' } };
    const [a, b] = await Promise.all([api.POST('/servers', { body }), api.POST('/servers', { body })]);
    const statuses = [a.response.status, b.response.status].sort();
    assert.deepEqual(statuses, [201, 409]);
    const loser = a.response.status === 409 ? a : b;
    assert.equal(loser.error?.error.code, 'uniqueness_error');
    assert.deepEqual(loser.error?.error.details, { fields: [{ name: 'name' }] });
    const winner = (a.data ?? b.data)!;
    await api.DELETE('/servers/{id}', { params: { path: { id: winner.server.id } } });
    assertClean(emu);
  });

  test('label selectors: k=v, k==v, k!=v, k, !k, in, notin, and comma as AND', async () => {
    const api = hcloud(emu);
    const s1 = emu.addServer({ name: 'sel-1', labels: { thebacknd: '', env: 'prod', run: 'a' } });
    const s2 = emu.addServer({ name: 'sel-2', labels: { thebacknd: '', env: 'dev', run: 'b' } });
    const s3 = emu.addServer({ name: 'sel-3', labels: { env: 'prod' } });
    const s4 = emu.addServer({ name: 'sel-4', labels: {} });
    const names = async (label_selector: string) => {
      const r = await api.GET('/servers', { params: { query: { label_selector } } });
      assert.equal(r.response.status, 200, label_selector);
      return r
        .data!.servers.map((s) => s.name)
        .filter((n) => n.startsWith('sel-'))
        .sort();
    };
    assert.deepEqual(await names('thebacknd'), ['sel-1', 'sel-2']);
    assert.deepEqual(await names('!thebacknd'), ['sel-3', 'sel-4']);
    assert.deepEqual(await names('env=prod'), ['sel-1', 'sel-3']);
    assert.deepEqual(await names('env==prod'), ['sel-1', 'sel-3']);
    assert.deepEqual(await names('env!=prod'), ['sel-2', 'sel-4']);
    assert.deepEqual(await names('env in (dev,staging)'), ['sel-2']);
    assert.deepEqual(await names('env notin (dev)'), ['sel-1', 'sel-3', 'sel-4']);
    assert.deepEqual(await names('thebacknd,env=prod'), ['sel-1']);
    assert.deepEqual(await names('thebacknd, run in (a,b), env!=dev'), ['sel-1']);
    const sorted = await api.GET('/servers', { params: { query: { label_selector: 'env', sort: ['name:desc'] } } });
    assert.deepEqual(
      sorted.data?.servers.map((s) => s.name).filter((n) => n.startsWith('sel-')),
      ['sel-3', 'sel-2', 'sel-1'],
    );
    const bad = await api.GET('/servers', { params: { query: { label_selector: 'env in (prod' } } });
    assert.equal(bad.response.status, 422);
    assert.equal(bad.error?.error.code, 'invalid_input');
    for (const s of [s1, s2, s3, s4]) await api.DELETE('/servers/{id}', { params: { path: { id: s.id } } });
    assertClean(emu);
  });

  test('lists are paged with meta.pagination and a Link header; per_page is capped at 50', async () => {
    const api = hcloud(emu);
    const made = Array.from({ length: 55 }, (_v, i) => emu.addServer({ name: `page-${i}`, labels: { pager: 'yes' } }));
    const p1 = await api.GET('/servers', { params: { query: { label_selector: 'pager=yes', per_page: 100 } } });
    assert.equal(p1.data?.servers.length, 50);
    assert.deepEqual(p1.data?.meta.pagination, { page: 1, per_page: 50, previous_page: null, next_page: 2, last_page: 2, total_entries: 55 });
    assert.match(p1.response.headers.get('link') ?? '', /rel="next"/);

    const all: number[] = [];
    let page: number | null = 1;
    while (page !== null) {
      const query: { label_selector: string; per_page: number; page: number } = { label_selector: 'pager=yes', per_page: 20, page };
      const r = await api.GET('/servers', { params: { query } });
      all.push(...r.data!.servers.map((s) => s.id));
      const next: number | null = r.data!.meta.pagination.next_page;
      page = next;
    }
    assert.deepEqual(all.sort(), made.map((s) => s.id).sort());
    for (const s of made) emu.state.servers.delete(s.id);
    assertClean(emu);
  });

  test('PUT replaces labels (the deadline is a label) and renames, refusing a taken name', async () => {
    const api = hcloud(emu);
    const s = emu.addServer({ name: 'thebacknd-5', labels: { thebacknd: '', 'thebacknd-deadline': '1767225600' } });
    const other = emu.addServer({ name: 'taken' });
    const put = await api.PUT('/servers/{id}', {
      params: { path: { id: s.id } },
      body: { labels: { thebacknd: '', 'thebacknd-deadline': '1767229200' } },
    });
    assert.deepEqual(put.data?.server?.labels, { thebacknd: '', 'thebacknd-deadline': '1767229200' });
    const clash = await api.PUT('/servers/{id}', { params: { path: { id: s.id } }, body: { name: 'taken' } });
    assert.equal(clash.response.status, 409);
    const badLabel = await api.PUT('/servers/{id}', { params: { path: { id: s.id } }, body: { labels: { 'hetzner.cloud/x': 'y' } } });
    assert.equal(badLabel.response.status, 422);
    for (const x of [s, other]) await api.DELETE('/servers/{id}', { params: { path: { id: x.id } } });
    assertClean(emu);
  });

  test('server actions: poweroff/poweron, enable_rescue, create_image; a locked server answers 423', async () => {
    const api = hcloud(emu);
    const s = emu.addServer({ name: 'thebacknd-6', labels: { thebacknd: '' } });
    const id = s.id;
    const off = await api.POST('/servers/{id}/actions/poweroff', { params: { path: { id } } });
    assert.equal(off.response.status, 201);
    assert.equal(off.data?.action.command, 'stop_server');
    const locked = await api.POST('/servers/{id}/actions/poweron', { params: { path: { id } } });
    assert.equal(locked.response.status, 423);
    assert.equal(locked.error?.error.code, 'locked');
    await until('stopped', async () => {
      const r = await api.GET('/actions/{id}', { params: { path: { id: off.data!.action.id } } });
      return r.data?.action.status === 'success' || undefined;
    });
    assert.equal((await api.GET('/servers/{id}', { params: { path: { id } } })).data?.server?.status, 'off');
    const on = await api.POST('/servers/{id}/actions/poweron', { params: { path: { id } } });
    await until('started', async () => {
      const r = await api.GET('/servers/{id}/actions/{action_id}', { params: { path: { id, action_id: on.data!.action.id } } });
      return r.data?.action.status === 'success' || undefined;
    });
    assert.equal((await api.GET('/servers/{id}', { params: { path: { id } } })).data?.server?.status, 'running');

    const rescue = await api.POST('/servers/{id}/actions/enable_rescue', { params: { path: { id } }, body: { type: 'linux64' } });
    assert.equal(typeof rescue.data?.root_password, 'string');
    await until('rescue enabled', () => emu.state.servers.get(id)?.rescueEnabled || undefined);

    const img = await api.POST('/servers/{id}/actions/create_image', {
      params: { path: { id } },
      body: { type: 'snapshot', description: 'thebacknd-next', labels: { thebacknd: 'base-image' } },
    });
    assert.equal(img.data?.image?.status, 'creating');
    await until('snapshot available', async () => {
      const r = await api.GET('/images', { params: { query: { type: ['snapshot'], label_selector: 'thebacknd=base-image' } } });
      return r.data?.images.find((i) => i.description === 'thebacknd-next' && i.status === 'available');
    });
    const list = await api.GET('/servers/{id}/actions', { params: { path: { id } } });
    assert.deepEqual(list.data?.actions.map((a) => a.command).sort(), ['create_image', 'enable_rescue', 'start_server', 'stop_server']);

    emu.powerOff('hetzner', id);
    assert.equal((await api.GET('/servers/{id}', { params: { path: { id } } })).data?.server?.status, 'off');
    await api.DELETE('/servers/{id}', { params: { path: { id } } });
    await api.DELETE('/images/{id}', { params: { path: { id: img.data!.image!.id } } });
    assertClean(emu);
  });

  test('invalid server type, location or image is 422 invalid_input; the project server limit is 403', async () => {
    const api = hcloud(emu);
    for (const [body, field] of [
      [{ name: 'a', server_type: 'cx99', image: SNAPSHOT }, 'server_type'],
      [{ name: 'a', server_type: 'cx22', image: SNAPSHOT, location: 'ash' }, 'server_type'], // cx22 is EU-only
      [{ name: 'a', server_type: 'cx22', image: SNAPSHOT, location: 'xyz1' }, 'location'],
      [{ name: 'a', server_type: 'cx22', image: 'windows-11' }, 'image'],
      [{ name: 'not a hostname', server_type: 'cx22', image: SNAPSHOT }, 'name'],
    ] as const) {
      const r = await api.POST('/servers', { body });
      assert.equal(r.response.status, 422, JSON.stringify(body));
      assert.equal(r.error?.error.code, 'invalid_input');
      assert.equal((r.error?.error.details as { fields: { name: string }[] }).fields[0].name, field);
    }
    const small = await startEmulator({ limits: { servers: 1 } });
    try {
      const api2 = hcloud(small);
      await api2.POST('/servers', { body: { name: 'one', server_type: 'cx22', image: SNAPSHOT } });
      const r = await api2.POST('/servers', { body: { name: 'two', server_type: 'cx22', image: SNAPSHOT } });
      assert.equal(r.response.status, 403);
      assert.equal(r.error?.error.code, 'resource_limit_exceeded');
      assertClean(small);
    } finally {
      await small.close();
    }
    assertClean(emu);
  });

  test('catalogue: server types with EUR prices per location, locations, images by type, ssh keys, pricing', async () => {
    const api = hcloud(emu);
    const types = (await api.GET('/server_types', { params: { query: { per_page: 50 } } })).data!.server_types;
    for (const name of ['cx11', 'cx21', 'cx31', 'cx41', 'cx51', 'cpx11', 'cpx21', 'cpx31', 'cpx41', 'cpx51', 'cx22']) {
      assert.ok(
        types.some((t) => t.name === name),
        name,
      );
    }
    const cx22 = types.find((t) => t.name === 'cx22')!;
    const fsn = cx22.prices.find((p) => p.location === 'fsn1')!;
    assert.equal(fsn.price_hourly.net, '0.0060000000');
    assert.equal(fsn.price_hourly.gross, '0.0071000000');
    assert.ok(!cx22.prices.some((p) => p.location === 'ash'));
    const cpx11 = types.find((t) => t.name === 'cpx11')!;
    assert.ok(Number(cpx11.prices.find((p) => p.location === 'ash')!.price_hourly.net) > Number(cpx11.prices.find((p) => p.location === 'fsn1')!.price_hourly.net));

    const locations = (await api.GET('/locations')).data!.locations.map((l) => l.name);
    assert.deepEqual(locations, ['fsn1', 'nbg1', 'hel1', 'ash', 'hil', 'sin']);
    const snaps = (await api.GET('/images', { params: { query: { type: ['snapshot'] } } })).data!.images;
    assert.ok(snaps.every((i) => i.type === 'snapshot'));
    assert.ok(snaps.some((i) => i.description === 'thebacknd'));
    const systems = (await api.GET('/images', { params: { query: { type: ['system'], name: 'ubuntu-24.04' } } })).data!.images;
    assert.equal(systems.length, 1);
    const keys = (await api.GET('/ssh_keys')).data!.ssh_keys;
    assert.equal(keys[0].name, 'thebacknd-test');
    const pricing = (await api.GET('/pricing')).data!.pricing;
    assert.equal(pricing.currency, 'EUR');
    assert.ok(pricing.server_types.some((t) => t.name === 'cx41'));
    assertClean(emu);
  });

  test('a rejected token gets 401 with the Hetzner error body and RateLimit headers', async () => {
    const r = await hcloud(emu, 'revoked').GET('/servers');
    assert.equal(r.response.status, 401);
    assert.equal(r.error?.error.code, 'unauthorized');
    assert.equal(r.response.headers.get('RateLimit-Limit'), '3600');
    assert.match(r.response.headers.get('RateLimit-Reset') ?? '', /^\d{10}$/);
    const ok = await raw(`${emu.hetznerUrl}/locations`);
    assert.ok(Number(ok.headers.get('RateLimit-Remaining')) < 3600);
    assert.ok(ok.headers.get('date'));
    assertClean(emu);
  });
});
