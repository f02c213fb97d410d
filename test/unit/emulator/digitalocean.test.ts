// The DigitalOcean half of the emulator, driven through the real client (dots-wrapper) and raw fetch.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { assertClean, doStatus, dots, raw, until } from './helpers';

const THEBACKND_IMAGE = 171010001;

describe('DigitalOcean emulator (dots-wrapper)', () => {
  let emu: Emulator;
  // The rate-limit buckets refill by this clock, which only the tests move: remaining counts are exact.
  let rateNow = 0;
  before(async () => {
    emu = await startEmulator({
      rateLimitClock: () => rateNow,
      // actionMs is long enough that an action is still pending when the next request arrives, even while the
      // emulator compiles a validator (first use of an operation).
      delays: { doActiveMs: 150, actionMs: 500, deleteMs: 0 },
      rejectTokens: ['revoked-token'],
      limits: { droplets: 40 },
    });
  });
  after(() => emu.close());

  test('a droplet goes new → active, its networks appear when active, and DELETE makes it gone', async () => {
    const api = dots(emu);
    const created = await api.droplet.createDroplet({
      name: 'thebacknd-1',
      region: 'fra1',
      size: 's-1vcpu-1gb',
      image: THEBACKND_IMAGE,
      tags: ['thebacknd', 'thebacknd-7d8f0c1e-0d7b-4a7e-9a43-6c1f2b3a4d5e', 'thebacknd-deadline-1767225600'],
      user_data: '{"toplevel":"/nix/store/abc"}',
    });
    assert.equal(created.status, 202);
    const d0 = created.data.droplet;
    assert.equal(d0.status, 'new');
    assert.deepEqual(d0.networks, { v4: [], v6: [] });
    assert.equal(emu.state.droplets.get(d0.id)?.userData, '{"toplevel":"/nix/store/abc"}');

    const active = await until('active', async () => {
      const { data } = await api.droplet.getDroplet({ droplet_id: d0.id });
      return data.droplet.status === 'active' ? data.droplet : undefined;
    });
    const pub = active.networks.v4.find((n) => n.type === 'public');
    assert.match(pub?.ip_address ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(active.tags, ['thebacknd', 'thebacknd-7d8f0c1e-0d7b-4a7e-9a43-6c1f2b3a4d5e', 'thebacknd-deadline-1767225600']);
    assert.equal(active.size.price_hourly, 0.00893);
    assert.ok(Date.parse(active.created_at) <= Date.now());

    const del = await api.droplet.deleteDroplet({ droplet_id: d0.id });
    assert.equal(del.status, 204);
    const gone = await doStatus(api.droplet.getDroplet({ droplet_id: d0.id }));
    assert.equal(gone.status, 404);
    assert.equal(gone.data.id, 'not_found');
    assertClean(emu);
  });

  test('ipv6: true gives the droplet a public v6 network once active', async () => {
    const api = dots(emu);
    const { data } = await api.droplet.createDroplet({ name: 'v6', region: 'ams3', size: 's-1vcpu-1gb', image: 'debian-12-x64', ipv6: true });
    const d = await until('active', async () => {
      const r = await api.droplet.getDroplet({ droplet_id: data.droplet.id });
      return r.data.droplet.status === 'active' ? r.data.droplet : undefined;
    });
    assert.equal(d.networks.v6.length, 1);
    assert.match(d.networks.v6[0].ip_address, /:/);
    await api.droplet.deleteDroplet({ droplet_id: d.id });
    assertClean(emu);
  });

  test('list by tag_name walks several pages (links.pages, meta.total) and never shows untagged droplets', async () => {
    const api = dots(emu);
    const mine = Array.from({ length: 7 }, (_v, i) => emu.addDroplet({ name: `thebacknd-${i + 10}`, tags: ['thebacknd', 'pager'] }));
    const theirs = [emu.addDroplet({ name: 'user-web', tags: ['web'] }), emu.addDroplet({ name: 'user-db' })];

    const seen: number[] = [];
    let page = 1;
    for (;;) {
      const { data } = await api.droplet.listDroplets({ tag_name: 'pager', per_page: 3, page });
      assert.equal(data.meta?.total, 7);
      seen.push(...data.droplets.map((d) => d.id));
      const pages = (data.links as { pages?: { next?: string; last?: string; prev?: string } }).pages ?? {};
      if (page === 1) assert.equal(pages.prev, undefined);
      if (!pages.next) break;
      assert.match(pages.next, new RegExp(`^${emu.doUrl}/droplets\\?`));
      assert.equal(new URL(pages.next).searchParams.get('tag_name'), 'pager');
      page = Number(new URL(pages.next).searchParams.get('page'));
    }
    assert.equal(page, 3);
    assert.deepEqual(seen.sort(), mine.map((d) => d.id).sort());

    // Following the absolute link itself works too (what a generic pager does).
    const first = await api.droplet.listDroplets({ tag_name: 'pager', per_page: 3 });
    const next = (first.data.links as { pages: { next: string } }).pages.next;
    const body = (await (await raw(next)).json()) as { droplets: { id: number }[] };
    assert.equal(body.droplets.length, 3);

    // Deleting by tag removes only the tagged ones.
    assert.equal((await api.droplet.deleteDropletsByTag({ tag_name: 'pager' })).status, 204);
    const left = [...emu.state.droplets.values()].map((d) => d.id);
    for (const d of mine) assert.ok(!left.includes(d.id));
    for (const d of theirs) assert.ok(left.includes(d.id));
    for (const d of theirs) await api.droplet.deleteDroplet({ droplet_id: d.id });
    assertClean(emu);
  });

  test('power_off / power_on are actions with a pollable status, and a pending action blocks another', async () => {
    const api = dots(emu);
    const d = emu.addDroplet({ name: 'thebacknd-2', tags: ['thebacknd'] });
    const off = await api.droplet.powerOffDroplet({ droplet_id: d.id });
    assert.equal(off.status, 201);
    assert.equal(off.data.action.status, 'in-progress');
    assert.equal(off.data.action.type, 'power_off');
    const busy = await doStatus(api.droplet.powerOnDroplet({ droplet_id: d.id }));
    assert.equal(busy.status, 422);

    await until('power_off completed', async () => {
      const r = await api.droplet.getDropletAction({ droplet_id: d.id, action_id: off.data.action.id });
      return r.data.action.status === 'completed' || undefined;
    });
    assert.equal((await api.droplet.getDroplet({ droplet_id: d.id })).data.droplet.status, 'off');
    const global = await api.action.getAction({ action_id: off.data.action.id });
    assert.equal(global.data.action.resource_id, d.id);

    const on = await api.droplet.powerOnDroplet({ droplet_id: d.id });
    await until('power_on completed', async () => {
      const r = await api.action.getAction({ action_id: on.data.action.id });
      return r.data.action.status === 'completed' || undefined;
    });
    assert.equal((await api.droplet.getDroplet({ droplet_id: d.id })).data.droplet.status, 'active');

    // Powered off from inside the VM: no action, the state changes at once.
    emu.powerOff('digitalocean', d.id);
    assert.equal((await api.droplet.getDroplet({ droplet_id: d.id })).data.droplet.status, 'off');
    await api.droplet.deleteDroplet({ droplet_id: d.id });
    assertClean(emu);
  });

  test('tags: a deadline tag is a valid name; tagging needs an existing tag; untag works; bad names are 422', async () => {
    const api = dots(emu);
    const d = emu.addDroplet({ name: 'thebacknd-3', tags: ['thebacknd', 'thebacknd-deadline-1767225600'] });
    const missing = await doStatus(api.tag.tagResources({ tag_name: 'thebacknd-deadline-1767229200', resources: [{ resource_id: String(d.id), resource_type: 'droplet' }] }));
    assert.equal(missing.status, 404);

    const created = await api.tag.createTag({ name: 'thebacknd-deadline-1767229200' });
    assert.equal(created.status, 201);
    assert.equal(created.data.tag.name, 'thebacknd-deadline-1767229200');
    await api.tag.tagResources({ tag_name: 'thebacknd-deadline-1767229200', resources: [{ resource_id: String(d.id), resource_type: 'droplet' }] });
    await api.tag.untagResources({ tag_name: 'thebacknd-deadline-1767225600', resources: [{ resource_id: String(d.id), resource_type: 'droplet' }] });
    const now = await api.droplet.getDroplet({ droplet_id: d.id });
    assert.deepEqual(now.data.droplet.tags, ['thebacknd', 'thebacknd-deadline-1767229200']);
    const tag = await api.tag.getTag({ tag_name: 'thebacknd-deadline-1767229200' });
    assert.equal(tag.data.tag.resources.droplets.count, 1);

    // DigitalOcean tags allow letters, digits, '_', '-' and ':' only (the spec's pattern).
    const bad = await raw(`${emu.doUrl}/tags`, { method: 'POST', body: JSON.stringify({ name: 'deadline=2026-01-01T00:00' }) });
    assert.equal(bad.status, 422);
    assert.equal(((await bad.json()) as { id: string }).id, 'unprocessable_entity');
    emu.violations.length = 0; // that request was off-spec on purpose
    const badCreate = await doStatus(api.droplet.createDroplet({ name: 'x', region: 'fra1', size: 's-1vcpu-1gb', image: THEBACKND_IMAGE, tags: ['has space'] }));
    assert.equal(badCreate.status, 422);
    await api.droplet.deleteDroplet({ droplet_id: d.id });
    assertClean(emu);
  });

  test('an invalid region, size or image is a 422 with the DigitalOcean error body; the droplet limit is enforced', async () => {
    const api = dots(emu);
    const base = { name: 'thebacknd-9', region: 'fra1', size: 's-1vcpu-1gb', image: THEBACKND_IMAGE as string | number };
    for (const [field, value, words] of [
      ['region', 'xyz9', /invalid region/],
      ['region', 'nyc2', /invalid region/], // exists but unavailable
      ['size', 's-64vcpu-1tb', /invalid size/],
      ['image', 'windows-11', /invalid image/],
    ] as const) {
      const r = await doStatus(api.droplet.createDroplet({ ...base, [field]: value }));
      assert.equal(r.status, 422, `${field}=${value}`);
      assert.equal(r.data.id, 'unprocessable_entity');
      assert.match(r.data.message, words);
      assert.equal(typeof (r.data as { request_id?: string }).request_id, 'string');
    }
    assert.equal([...emu.state.droplets.values()].filter((d) => d.name === 'thebacknd-9').length, 0);
    const small = await startEmulator({ limits: { droplets: 1 } });
    try {
      const api2 = dots(small);
      await api2.droplet.createDroplet(base);
      const limit = await doStatus(api2.droplet.createDroplet({ ...base, name: 'thebacknd-10' }));
      assert.equal(limit.status, 422);
      assert.match(limit.data.message, /droplet limit/);
      assert.equal((await api2.account.getAccount()).data.account.droplet_limit, 1);
      assertClean(small);
    } finally {
      await small.close();
    }
    assertClean(emu);
  });

  test('images: distribution and private filters, get by slug, custom image import NEW → available', async () => {
    const api = dots(emu);
    const dist = await api.image.listImages({ type: 'distribution' });
    assert.ok(dist.data.images.every((i) => i.type === 'base'));
    assert.ok(dist.data.images.some((i) => i.slug === 'ubuntu-24-04-x64'));
    const priv = await api.image.listImages({ user_images: true });
    const custom = priv.data.images.find((i) => i.name === 'thebacknd');
    assert.equal(custom?.type, 'custom');
    assert.equal((await api.image.getImage({ slug: 'debian-12-x64' })).data.image.distribution, 'Debian');

    // DigitalOcean downloads the URL itself: serve an image file, and a missing one.
    const files = http.createServer((req, res) => {
      if (req.url === '/bucket/nixos.qcow2.gz') res.end(Buffer.alloc(300_000, 7));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    const fileBase = `http://127.0.0.1:${(files.address() as AddressInfo).port}/bucket`;
    let ready;
    try {
      const imported = await api.image.createCustomImage({
        name: 'thebacknd-next',
        url: `${fileBase}/nixos.qcow2.gz`,
        region: 'fra1',
        distribution: 'Unknown',
        description: 'imported by a test',
        tags: ['thebacknd'],
      });
      assert.equal(imported.status, 202);
      assert.equal(imported.data.image.status, 'NEW');
      ready = await until('image available', async () => {
        const r = await api.image.getImage({ image_id: imported.data.image.id });
        return r.data.image.status === 'available' ? r.data.image : undefined;
      });
      assert.deepEqual(ready.regions, ['fra1']);
      assert.equal(ready.size_gigabytes, 0.01);

      const missing = await api.image.createCustomImage({ name: 'broken', url: `${fileBase}/expired.qcow2`, region: 'fra1', distribution: 'Unknown' });
      const failed = await until('import failed', async () => {
        const r = await api.image.getImage({ image_id: missing.data.image.id });
        return r.data.image.status === 'deleted' ? r.data.image : undefined;
      });
      assert.match((failed as { error_message?: string }).error_message ?? '', /HTTP 404/);
    } finally {
      await new Promise<void>((r) => files.close(() => r()));
    }
    // The new image can be used for droplets in its region only.
    const elsewhere = await doStatus(api.droplet.createDroplet({ name: 'a', region: 'nyc3', size: 's-1vcpu-1gb', image: ready.id }));
    assert.equal(elsewhere.status, 422);
    const bad = await doStatus(api.image.createCustomImage({ name: 'x', url: 'ftp://nope', region: 'fra1', distribution: 'Unknown' }));
    assert.equal(bad.status, 422);
    await api.image.deleteImage({ image_id: ready.id });
    assertClean(emu);
  });

  test('sizes carry hourly prices, regions list their sizes, account and keys answer', async () => {
    const api = dots(emu);
    const sizes = (await api.size.listSizes({ per_page: 200 })).data.sizes;
    const s = sizes.find((x) => x.slug === 's-2vcpu-4gb');
    assert.equal(s?.price_hourly, 0.03571);
    assert.equal(s?.price_monthly, 24);
    assert.ok(s?.regions.includes('fra1'));
    const regions = (await api.region.listRegions({ per_page: 200 })).data.regions;
    const fra = regions.find((r) => r.slug === 'fra1');
    assert.equal(fra?.available, true);
    assert.ok(fra?.sizes.includes('s-1vcpu-1gb'));
    assert.equal(regions.find((r) => r.slug === 'nyc2')?.available, false);
    const account = (await api.account.getAccount()).data.account;
    assert.equal(account.status, 'active');
    const keys = (await api.sshKey.listSshKeys({})).data.ssh_keys;
    assert.equal(keys[0].name, 'thebacknd-test');
    assertClean(emu);
  });

  test('a rejected token gets 401 with the DigitalOcean error body; every answer has rate-limit and Date headers', async () => {
    const r = await doStatus(dots(emu, 'revoked-token').droplet.listDroplets({}));
    assert.equal(r.status, 401);
    assert.equal(r.data.id, 'Unauthorized');
    const none = await fetch(`${emu.doUrl}/droplets`);
    assert.equal(none.status, 401);

    const a = await raw(`${emu.doUrl}/account`);
    const b = await raw(`${emu.doUrl}/account`);
    for (const res of [none, a, b]) {
      assert.equal(res.headers.get('ratelimit-limit'), '5000');
      assert.match(res.headers.get('ratelimit-reset') ?? '', /^\d{10}$/);
      assert.ok(res.headers.get('date'));
    }
    assert.equal(Number(b.headers.get('ratelimit-remaining')), Number(a.headers.get('ratelimit-remaining')) - 1);
    // 5000 an hour is one every 720 ms: after 720 ms one is back, and the next request takes it again.
    rateNow += 720;
    const c = await raw(`${emu.doUrl}/account`);
    assert.equal(Number(c.headers.get('ratelimit-remaining')), Number(b.headers.get('ratelimit-remaining')));
    assertClean(emu);
  });

  test('concurrent creates all succeed with distinct ids', async () => {
    const api = dots(emu);
    const rs = await Promise.all(
      Array.from({ length: 6 }, (_v, i) => api.droplet.createDroplet({ name: `race-${i}`, region: 'fra1', size: 's-1vcpu-1gb', image: THEBACKND_IMAGE, tags: ['race'] })),
    );
    assert.equal(new Set(rs.map((r) => r.data.droplet.id)).size, 6);
    assert.equal((await api.droplet.listDroplets({ tag_name: 'race' })).data.meta?.total, 6);
    await api.droplet.deleteDropletsByTag({ tag_name: 'race' });
    assert.equal((await api.droplet.listDroplets({ tag_name: 'race' })).data.meta?.total, 0);
    assertClean(emu);
  });
});
