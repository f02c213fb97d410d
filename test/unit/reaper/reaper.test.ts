// The reaper against the cloud emulator, through the real provider clients and a real lease directory: what it
// destroys, what it never touches, on whose clock, what it logs, and that two windows never both reap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import { doTags, hetznerLabels, newRunId } from '../../../src/providers/tags';
import { MachineService } from '../../../src/machines/service';
import { Lease } from '../../../src/reaper/lease';
import { Reaper } from '../../../src/reaper/reaper';
import { DEFAULTS, type Settings } from '../../../src/base/settings';

const TOKEN = 'emulator-token-0123456789';
const min = 60_000;

interface Window {
  service: MachineService;
  reaper: Reaper;
  logs: string[];
}

function openWindow(emu: Emulator, leaseDir: string, o: { intervalMs?: number; owner?: string } = {}): Window {
  const settings: Settings = {
    ...DEFAULTS,
    digitalocean: { ...DEFAULTS.digitalocean, endpoint: emu.doUrl },
    hetzner: { ...DEFAULTS.hetzner, endpoint: emu.hetznerUrl },
  };
  const service = new MachineService({
    tokens: { get: async () => ({ token: TOKEN, source: 'environment' }) },
    settings: () => settings,
    createProvider: (id, opts) => createProvider(id, { ...opts, retry: { retries: 0 } }),
  });
  const logs: string[] = [];
  const reaper = new Reaper({
    service,
    lease: new Lease(leaseDir, { ttlMs: 90_000, ...(o.owner ? { owner: o.owner } : {}) }),
    intervalMs: () => o.intervalMs ?? 20 * min,
    maxAgeMinutes: () => 60,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  return { service, reaper, logs };
}

async function setup(t: { after(fn: () => Promise<void> | void): void }, opts: Parameters<typeof startEmulator>[0] = {}) {
  const emu = await startEmulator({ delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 }, ...opts });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-reaper-'));
  t.after(async () => {
    await emu.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { emu, dir };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const deletes = (emu: Emulator, re: RegExp) => emu.requests.filter((r) => r.method === 'DELETE' && re.test(r.path));

test('destroys tagged machines past their deadline or powered off; never untagged ones nor ones within their deadline', async (t) => {
  const { emu, dir } = await setup(t);
  const now = Date.now();
  const expired = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(now - 3 * min)) });
  const fresh = emu.addDroplet({ name: 'thebacknd-2', tags: doTags(newRunId(), new Date(now + 30 * min)) });
  const offTagged = emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(now + 30 * min)) });
  emu.powerOff('hetzner', offTagged.id);
  // The user's own machines: old, powered off, deadline-looking tags without the thebacknd tag. Never ours.
  const untagged = emu.addDroplet({ name: 'web-1', tags: ['web', `thebacknd-deadline:20200101T000000Z`], createdAt: iso(now - 48 * 60 * min) });
  emu.powerOff('digitalocean', untagged.id);
  const untaggedServer = emu.addServer({ name: 'db-1', labels: { role: 'db' }, created: iso(now - 48 * 60 * min) });
  emu.powerOff('hetzner', untaggedServer.id);
  // Tagged but without a deadline (created by an older version): old after maxAgeMinutes (60) from creation.
  const noDeadlineOld = emu.addDroplet({ name: 'thebacknd-3', tags: ['thebacknd', newRunId()], createdAt: iso(now - 2 * 60 * min) });
  const noDeadlineYoung = emu.addDroplet({ name: 'thebacknd-4', tags: ['thebacknd', newRunId()], createdAt: iso(now - 10 * min) });

  const w = openWindow(emu, dir);
  const done = await w.reaper.pass();
  assert.deepEqual(done.map((r) => `${r.machine.provider}/${r.machine.name}:${r.reason}`).sort(), [
    'digitalocean/thebacknd-1:deadline',
    'digitalocean/thebacknd-3:age',
    'hetzner/thebacknd-1:off',
  ]);
  assert.ok(done.every((r) => !r.error));
  const droplets = emu.state.droplets;
  const servers = emu.state.servers;
  assert.equal(droplets.has(expired.id), false);
  assert.equal(droplets.has(noDeadlineOld.id), false);
  assert.equal(servers.has(offTagged.id), false);
  for (const kept of [fresh, untagged, noDeadlineYoung]) assert.ok(droplets.has(kept.id), `${kept.name} survives`);
  assert.ok(servers.has(untaggedServer.id), 'the untagged server survives');
  assert.equal(deletes(emu, /./).length, 3, 'no other delete was even attempted');

  // Each reaping is logged with the machine's name and the reason.
  const reaped = w.logs.filter((l) => l.includes('Reaper: destroyed'));
  assert.equal(reaped.length, 3);
  assert.ok(
    reaped.some((l) => /thebacknd-1 \(DigitalOcean, id \d+\): deadline passed 3 min ago/.test(l)),
    reaped.join('\n'),
  );
  assert.ok(
    reaped.some((l) => /thebacknd-1 \(Hetzner, id \d+\): it powered itself off/.test(l)),
    reaped.join('\n'),
  );
  assert.ok(
    reaped.some((l) => /thebacknd-3 .*no deadline and 2 h old/.test(l)),
    reaped.join('\n'),
  );
  assert.deepEqual(emu.violations, []);
});

test("deadlines are judged on the provider's clock, not the local one", async (t) => {
  const { emu, dir } = await setup(t);
  // The DigitalOcean server's clock runs 10 minutes ahead of ours.
  emu.setClock(10 * min);
  const now = Date.now();
  // Past on the server's clock (now + 10 min), still ahead on ours: reaped.
  const pastThere = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(now + 5 * min)) });
  // Ahead on the server's clock, already past on ours if the server were 20 minutes behind: kept.
  const aheadThere = emu.addDroplet({ name: 'thebacknd-2', tags: doTags(newRunId(), new Date(now + 15 * min)) });
  const w = openWindow(emu, dir);
  const done = await w.reaper.pass();
  assert.deepEqual(
    done.map((r) => r.machine.name),
    ['thebacknd-1'],
  );
  assert.equal(emu.state.droplets.has(pastThere.id), false);
  assert.ok(emu.state.droplets.has(aheadThere.id));

  // And the other way: a server 20 minutes behind us keeps a machine that our clock calls overdue.
  emu.setClock(-20 * min);
  const pastHere = emu.addDroplet({ name: 'thebacknd-3', tags: doTags(newRunId(), new Date(Date.now() - 5 * min)) });
  const again = await w.reaper.pass();
  assert.deepEqual(
    again.map((r) => r.machine.name),
    [],
  );
  assert.ok(emu.state.droplets.has(pastHere.id), "not yet due on the provider's clock");
});

test('a provider whose list fails is skipped: nothing is destroyed on stale data', async (t) => {
  const { emu, dir } = await setup(t);
  const w = openWindow(emu, dir);
  await w.service.refresh();
  const d = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() - min)) });
  const s = emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() - min)) });
  emu.fault({ provider: 'digitalocean', method: 'GET', path: '/droplets', kind: 503, times: 1 });
  const done = await w.reaper.pass();
  assert.deepEqual(
    done.map((r) => `${r.machine.provider}/${r.machine.name}`),
    ['hetzner/thebacknd-1'],
  );
  assert.ok(emu.state.droplets.has(d.id));
  assert.equal(emu.state.servers.has(s.id), false);
  assert.ok(w.logs.some((l) => /skipped DigitalOcean: its machines could not be listed/.test(l)));
  // The next pass, with the list back, reaps it.
  await w.reaper.pass();
  assert.equal(emu.state.droplets.has(d.id), false);
});

test('ticks: a pass when the period is due or when an already-listed machine is due, and not otherwise', async (t) => {
  const { emu, dir } = await setup(t);
  const w = openWindow(emu, dir, { intervalMs: 20 * min });
  const first = await w.reaper.tick();
  assert.deepEqual(first, [], 'the first tick of a fresh lease runs a pass (nothing to reap)');
  assert.ok(w.logs.some((l) => l.includes('this window now runs the reaper')));
  const listsBefore = emu.requests.filter((r) => r.method === 'GET').length;
  assert.equal(await w.reaper.tick(), undefined, 'within the period and nothing seen due: no pass');
  assert.equal(emu.requests.filter((r) => r.method === 'GET').length, listsBefore, 'and no list call');
  // A machine the tree has already seen expire is reaped at the next tick, not a whole period later.
  const d = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() - min)) });
  await w.service.refresh();
  const second = await w.reaper.tick();
  assert.deepEqual(
    second?.map((r) => r.machine.name),
    ['thebacknd-1'],
  );
  assert.equal(emu.state.droplets.has(d.id), false);
  await w.reaper.dispose();
});

test('two windows sharing the lease directory: only one reaps, each machine is destroyed once', async (t) => {
  // Deleted machines stay listed for a while, as on the real clouds: a second reaper would delete them again.
  const { emu, dir } = await setup(t, { delays: { doActiveMs: 0, deleteMs: 1500, actionMs: 0 } });
  const a = openWindow(emu, dir, { intervalMs: 0, owner: 'window-a' });
  const b = openWindow(emu, dir, { intervalMs: 0, owner: 'window-b' });
  const ids: number[] = [];
  for (let round = 0; round < 4; round++) {
    ids.push(emu.addDroplet({ name: `thebacknd-${round + 1}`, tags: doTags(newRunId(), new Date(Date.now() - min)) }).id);
    // Both windows tick at the same moment, every round (interval 0: a pass is always due for the holder).
    await Promise.all([a.reaper.tick(), b.reaper.tick(), a.service.refresh(), b.service.refresh()]);
  }
  for (const id of ids) {
    assert.equal(deletes(emu, new RegExp(`/droplets/${id}$`)).length, 1, `droplet ${id} deleted exactly once`);
  }
  const reapers = [a, b].filter((w) => w.logs.some((l) => l.includes('Reaper: destroyed')));
  assert.equal(reapers.length, 1, 'one window did all the reaping');
  assert.equal([a, b].filter((w) => w.reaper.isHolder).length, 1);
  // The holder closes: the other takes over at its next tick and reaps.
  const [holder, other] = a.reaper.isHolder ? [a, b] : [b, a];
  await holder.reaper.dispose();
  const late = emu.addDroplet({ name: 'thebacknd-9', tags: doTags(newRunId(), new Date(Date.now() - min)) });
  await other.service.refresh();
  await other.reaper.tick();
  assert.equal(other.reaper.isHolder, true);
  assert.equal(deletes(emu, new RegExp(`/droplets/${late.id}$`)).length, 1);
  await other.reaper.dispose();
});
