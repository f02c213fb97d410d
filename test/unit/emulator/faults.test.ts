// Injected faults, per route and call count, seen through raw fetch and the real clients.
import * as assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { assertClean, doStatus, dots, hcloud, raw, until } from './helpers';

const dropletBody = (name: string, run: string) => JSON.stringify({ name, region: 'fra1', size: 's-1vcpu-1gb', image: 171010001, tags: ['thebacknd', run] });
const serverBody = (name: string, run: string) => JSON.stringify({ name, server_type: 'cx22', image: '201000001', labels: { thebacknd: '', 'thebacknd-run': run } });

async function networkError(p: Promise<Response>): Promise<Error> {
  try {
    const r = await p;
    throw new Error(`expected a network error, got HTTP ${r.status}`);
  } catch (e) {
    if (e instanceof Error && /expected a network error/.test(e.message)) throw e;
    return e as Error;
  }
}

describe('emulator faults', () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator({ delays: { doActiveMs: 50, hetznerStartingMs: 20, hetznerRunningMs: 20, actionMs: 20 } });
  });
  beforeEach(() => {
    emu.clearFaults();
    for (const id of [...emu.state.droplets.keys()]) emu.state.droplets.delete(id);
    for (const id of [...emu.state.servers.keys()]) emu.state.servers.delete(id);
  });
  after(() => emu.close());

  test('429: no side effect, reset headers in the future, the next call goes through', async () => {
    // A frozen server clock: the reset times are compared exactly, however long the requests take.
    const T = Date.UTC(2026, 0, 2, 3, 4, 5, 600);
    const frozen = await startEmulator({ clock: () => T });
    try {
      frozen.fault({ provider: 'digitalocean', method: 'POST', path: '/v2/droplets', kind: 429, resetAfterSec: 30 });
      const r = await raw(`${frozen.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-1', 'run-429') });
      assert.equal(r.status, 429);
      assert.equal(((await r.json()) as { id: string }).id, 'too_many_requests');
      assert.equal(r.headers.get('ratelimit-remaining'), '0');
      assert.equal(Number(r.headers.get('ratelimit-reset')), Math.ceil(T / 1000) + 30, "reset: the server's now + 30 s");
      assert.equal(frozen.state.droplets.size, 0);
      const again = await raw(`${frozen.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-1', 'run-429') });
      assert.equal(again.status, 202);

      // Hetzner, through openapi-fetch: RateLimit-Reset (a fault's default: a second on) and the rate_limit_exceeded code.
      frozen.fault({ provider: 'hetzner', path: '/servers', kind: 429 });
      const h = await hcloud(frozen).GET('/servers');
      assert.equal(h.response.status, 429);
      assert.equal(h.error?.error.code, 'rate_limit_exceeded');
      assert.equal(h.response.headers.get('RateLimit-Remaining'), '0');
      assert.equal(Number(h.response.headers.get('RateLimit-Reset')), Math.ceil(T / 1000) + 1);
      // dots-wrapper surfaces it as an axios error with the headers.
      frozen.fault({ provider: 'digitalocean', path: '/droplets', method: 'GET', kind: 429 });
      const d = await doStatus(dots(frozen).droplet.listDroplets({}));
      assert.equal(d.status, 429);
      assertClean(frozen);
    } finally {
      await frozen.close();
    }
  });

  test('a real rate limit: the bucket empties and answers 429 with remaining 0', async () => {
    // A frozen refill clock: no token comes back between the requests, however slow they are.
    const small = await startEmulator({ rateLimit: { hetzner: 3 }, rateLimitClock: () => 0 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await raw(`${small.hetznerUrl}/locations`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const r = await raw(`${small.hetznerUrl}/locations`);
      assert.equal(r.headers.get('RateLimit-Remaining'), '0');
      assertClean(small);
    } finally {
      await small.close();
    }
  });

  for (const kind of [500, 502, 503] as const) {
    test(`${kind}: error body of the provider, no side effect`, async () => {
      emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers', kind });
      const r = await raw(`${emu.hetznerUrl}/servers`, { method: 'POST', body: serverBody('thebacknd-1', 'run-5xx') });
      assert.equal(r.status, kind);
      const body = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(typeof body.error.code, 'string');
      assert.equal(emu.state.servers.size, 0);
      emu.fault({ provider: 'digitalocean', method: 'GET', path: '/droplets', kind });
      const d = await raw(`${emu.doUrl}/droplets`);
      assert.equal(d.status, kind);
      assert.equal(typeof ((await d.json()) as { id: string }).id, 'string');
      assertClean(emu);
    });
  }

  test('5xx after the side effect: the server exists though the answer was an error', async () => {
    emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers', kind: 503, sideEffect: true });
    const r = await raw(`${emu.hetznerUrl}/servers`, { method: 'POST', body: serverBody('thebacknd-1', 'run-after') });
    assert.equal(r.status, 503);
    const found = await hcloud(emu).GET('/servers', { params: { query: { label_selector: 'thebacknd-run=run-after' } } });
    assert.equal(found.data?.servers.length, 1);
    assertClean(emu);
  });

  test('timeout: the request hangs until the client gives up, with no side effect (or with one, if asked)', async () => {
    emu.fault({ provider: 'digitalocean', method: 'POST', path: '/droplets', kind: 'timeout' });
    const e = await networkError(raw(`${emu.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-1', 'run-t'), signal: AbortSignal.timeout(200) }));
    // The client's own timer ended it (not an answer, not a reset), and the emulator had sent nothing.
    assert.equal(e.name, 'TimeoutError');
    assert.deepEqual(
      emu.requests.filter((q) => q.fault === 'timeout').map((q) => q.status),
      [0],
    );
    assert.equal(emu.state.droplets.size, 0);

    // dots-wrapper's own timeout.
    emu.fault({ provider: 'digitalocean', method: 'GET', path: '/droplets', kind: 'timeout' });
    const api = await import('dots-wrapper').then((m) => m.createApiClient({ endpoint: emu.doUrl, token: 't', requestTimeoutInMs: 150 }));
    await assert.rejects(api.droplet.listDroplets({}), (err: { code?: string }) => err.code === 'ECONNABORTED');

    emu.fault({ provider: 'digitalocean', method: 'POST', path: '/droplets', kind: 'timeout', sideEffect: true });
    await networkError(raw(`${emu.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-1', 'run-t2'), signal: AbortSignal.timeout(200) }));
    const list = await dots(emu).droplet.listDroplets({ tag_name: 'run-t2' });
    assert.equal(list.data.droplets.length, 1);

    // With delayMs, the emulator drops the connection itself.
    emu.fault({ provider: 'hetzner', path: '/locations', kind: 'timeout', delayMs: 100 });
    await networkError(raw(`${emu.hetznerUrl}/locations`));
    assertClean(emu);
  });

  test('reset: the connection is reset before anything happens', async () => {
    emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers', kind: 'reset' });
    const e = await networkError(raw(`${emu.hetznerUrl}/servers`, { method: 'POST', body: serverBody('thebacknd-1', 'run-r') }));
    assert.match(String((e as Error & { cause?: { code?: string } }).cause?.code ?? e.message), /ECONNRESET|other side closed|fetch failed/);
    assert.equal(emu.state.servers.size, 0);
    // openapi-fetch rejects as well.
    emu.fault({ provider: 'hetzner', method: 'GET', path: '/servers', kind: 'reset' });
    await assert.rejects(hcloud(emu).GET('/servers'));
    assertClean(emu);
  });

  test('lost: the side effect happens exactly once, then the connection is reset', async () => {
    emu.fault({ provider: 'digitalocean', method: 'POST', path: '/droplets', kind: 'lost' });
    await networkError(raw(`${emu.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-1', 'run-lost') }));
    const byRun = await dots(emu).droplet.listDroplets({ tag_name: 'run-lost' });
    assert.equal(byRun.data.droplets.length, 1);
    assert.equal(byRun.data.droplets[0].name, 'thebacknd-1');

    emu.fault({ provider: 'hetzner', method: 'POST', path: '/servers', kind: 'lost' });
    await networkError(raw(`${emu.hetznerUrl}/servers`, { method: 'POST', body: serverBody('thebacknd-1', 'run-lost') }));
    const servers = await hcloud(emu).GET('/servers', { params: { query: { label_selector: 'thebacknd-run=run-lost' } } });
    assert.equal(servers.data?.servers.length, 1);
    const logged = emu.requests.filter((r) => r.fault === 'lost');
    assert.deepEqual(
      logged.map((r) => r.status),
      [0, 0],
    );
    assertClean(emu);
  });

  test('delay: the answer comes, late', async () => {
    emu.fault({ provider: 'hetzner', path: '/server_types', kind: 'delay', delayMs: 250 });
    // A lower bound on a monotonic clock: a slow machine only makes it longer (a timer never fires early by more
    // than its 1 ms rounding), so this cannot fail for want of speed.
    const t = performance.now();
    const r = await raw(`${emu.hetznerUrl}/server_types`);
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t >= 249, 'the answer waited for the delay');
    assert.equal(emu.requests.at(-1)?.fault, 'delay');
    assertClean(emu);
  });

  test('faults select by method, path template or RegExp, call count (afterCalls) and times', async () => {
    const a = emu.addServer({ name: 'a' });
    emu.fault({ provider: 'hetzner', method: 'GET', path: '/servers/{id}', kind: 500, afterCalls: 1, times: 2 });
    const get = async () => (await raw(`${emu.hetznerUrl}/servers/${a.id}`)).status;
    assert.deepEqual([await get(), await get(), await get(), await get()], [200, 500, 500, 200]);
    // Another method on the same path is not affected.
    emu.fault({ provider: 'hetzner', method: 'DELETE', path: /\/servers\/\d+$/, kind: 502 });
    assert.equal(await get(), 200);
    assert.equal((await raw(`${emu.hetznerUrl}/servers/${a.id}`, { method: 'DELETE' })).status, 502);
    // A fault for the other provider never fires here.
    emu.fault({ provider: 'digitalocean', path: /.*/, kind: 503, times: 100 });
    assert.equal(await get(), 200);
    emu.clearFaults();
    assert.equal((await raw(`${emu.doUrl}/account`)).status, 200);
    assertClean(emu);
  });

  test('a lost create still yields one machine that becomes active (the state machine keeps running)', async () => {
    emu.fault({ provider: 'digitalocean', method: 'POST', path: '/droplets', kind: 'lost' });
    await networkError(raw(`${emu.doUrl}/droplets`, { method: 'POST', body: dropletBody('thebacknd-4', 'run-x') }));
    const d = await until('active', async () => {
      const l = await dots(emu).droplet.listDroplets({ tag_name: 'run-x' });
      return l.data.droplets[0]?.status === 'active' ? l.data.droplets[0] : undefined;
    });
    assert.equal(d.name, 'thebacknd-4');
    assertClean(emu);
  });
});
