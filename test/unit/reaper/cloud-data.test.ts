// Tags, labels and addresses from the cloud are data, not truth (issue #14): a deadline tag years ahead, a foreign
// machine copying a run id, a list that is seconds old, an "IP" that is not one. Against the emulator through the
// real provider clients, the real reaper and the real CLI's destroy-old.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startEmulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import { doTags, hetznerLabels, newRunId } from '../../../src/providers/tags';
import { MachineService } from '../../../src/machines/service';
import { Lease } from '../../../src/reaper/lease';
import { Reaper } from '../../../src/reaper/reaper';
import { decideReaping } from '../../../src/reaper/policy';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { machineDescription } from '../../../src/views/present';
import { main } from '../../../src/cli/main';
import { createMachineKeys } from '../../../src/ssh/keys';
import { rememberMachine } from '../../../src/cli/run-state';

const TOKEN = 'emulator-token-0123456789';
const min = 60_000;
const day = 24 * 60 * min;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function world(t: { after(fn: () => Promise<void> | void): void }) {
  const emu = await startEmulator({ delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cloud-data-'));
  t.after(async () => {
    await emu.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const settings: Settings = { ...DEFAULTS, digitalocean: { ...DEFAULTS.digitalocean, endpoint: emu.doUrl }, hetzner: { ...DEFAULTS.hetzner, endpoint: emu.hetznerUrl } };
  const service = new MachineService({
    tokens: { get: async () => ({ token: TOKEN, source: 'environment' }) },
    settings: () => settings,
    createProvider: (id, opts) => createProvider(id, { ...opts, retry: { retries: 0 } }),
  });
  const logs: string[] = [];
  const reaper = new Reaper({ service, lease: new Lease(dir, { ttlMs: 90_000 }), intervalMs: () => 20 * min, maxAgeMinutes: () => 60, log: (l, m) => logs.push(`${l}: ${m}`) });
  return { emu, dir, service, reaper, logs };
}

test('a deadline tag years ahead is honoured only to creation + the longest Extend, and shown as tampered', async (t) => {
  const { emu, service, reaper, logs } = await world(t);
  const now = Date.now();
  const forever = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(now + 3650 * day)), createdAt: iso(now - 10 * day) });
  const young = emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(now + 3650 * day)), created: iso(now - 10 * min) });
  await service.refresh();
  const shown = service.machines().find((m) => m.provider === 'hetzner')!;
  assert.match(machineDescription(shown, now), /tampered deadline \(20\d\d-.*\), honoured to \d+d \d+h left/);
  const done = await reaper.pass();
  assert.deepEqual(
    done.map((r) => `${r.machine.name}:${r.reason}`),
    ['thebacknd-1:deadline'],
  );
  assert.equal(emu.state.droplets.has(forever.id), false, 'the 10-day-old machine with a 10-year deadline is reaped');
  assert.ok(emu.state.servers.has(young.id), 'a young one keeps running up to the cap');
  assert.ok(
    logs.some((l) => /deadline tag .* is beyond what Extend allows/.test(l)),
    logs.join('\n'),
  );
});

test('the reaper reads the deadline again right before each destroy', async (t) => {
  const { emu, service, reaper, logs } = await world(t);
  const d = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() - min)) });
  await service.refresh();
  // Another window extends it after our list: the list says overdue, the machine says 30 more minutes.
  const other = createProvider('digitalocean', { token: TOKEN, endpoint: emu.doUrl, retry: { retries: 0 } });
  await other.setDeadline(String(d.id), new Date(Date.now() + 30 * min));
  const done = await reaper.pass({ maxAgeMs: 60_000 });
  assert.deepEqual(done, []);
  assert.ok(emu.state.droplets.has(d.id), 'the extended machine survives the stale list');
  assert.ok(
    logs.some((l) => /kept thebacknd-1 .*its deadline was moved since the list/.test(l)),
    logs.join('\n'),
  );
});

test('destroy-old never destroys the machine a local run created, even when a foreign older one copies its run id', async (t) => {
  const { emu, dir } = await world(t);
  const runId = newRunId();
  const now = Date.now();
  const foreign = emu.addDroplet({ name: 'thebacknd-7', tags: doTags(runId, new Date(now + 50 * min)), createdAt: iso(now - 5 * min) });
  const mine = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(runId, new Date(now + 50 * min)), createdAt: iso(now - 1 * min) });
  const state = path.join(dir, 'state');
  await createMachineKeys(state, runId);
  rememberMachine(state, { provider: 'digitalocean', id: String(mine.id), runId });
  let out = '';
  const sink = new Writable({ write: (c: Buffer, _e, done) => ((out += c.toString()), done()) });
  const env = { DIGITALOCEAN_ACCESS_TOKEN: TOKEN, THEBACKND_DO_ENDPOINT: emu.doUrl, THEBACKND_STATE_DIR: state };
  const code = await main(['destroy-old', '-p', 'digitalocean'], { stdout: sink, stderr: sink, env, interactive: false });
  assert.equal(code, 0, out);
  assert.ok(emu.state.droplets.has(mine.id), `the run's own machine survives: ${out}`);
  assert.equal(emu.state.droplets.has(foreign.id), false, 'the copy is the duplicate');
});

test('addresses from the API are used only when they are IP literals', async (t) => {
  const { emu } = await world(t);
  const bad = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() + 30 * min)) });
  bad.ipv4 = '10.0.0.1 -oProxyCommand=touch${IFS}/tmp/x';
  bad.ipv6 = 'host.example.org';
  const good = emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
  const evil = emu.addServer({ name: 'thebacknd-2', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
  evil.ipv4 = { id: 1, ip: 'attacker.example' };
  evil.ipv6 = { id: 2, ip: 'fe80::%eth0/64' };
  const m = (await createProvider('digitalocean', { token: TOKEN, endpoint: emu.doUrl }).list()).machines[0]!;
  assert.equal(m.ipv4, undefined);
  assert.equal(m.ipv6, undefined);
  const servers = (await createProvider('hetzner', { token: TOKEN, endpoint: emu.hetznerUrl }).list()).machines;
  const e = servers.find((s) => s.id === String(evil.id))!;
  assert.equal(e.ipv4, undefined);
  assert.equal(e.ipv6, undefined);
  const g = servers.find((s) => s.id === String(good.id))!;
  assert.match(g.ipv4 ?? '', /^\d+\.\d+\.\d+\.\d+$/);
});

test('policy: the cap is creation + the longest first deadline + the longest Extend', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const m = (createdAgo: number, deadlineIn: number) => ({
    id: '1',
    provider: 'hetzner' as const,
    name: 'thebacknd-1',
    status: 'running' as const,
    tagged: true,
    region: 'fsn1',
    size: 'cx22',
    createdAt: new Date(now - createdAgo).toISOString(),
    deadline: new Date(now + deadlineIn).toISOString(),
    pricePerHour: undefined,
    currency: 'EUR' as const,
    runId: undefined,
    ipv4: undefined,
    ipv6: undefined,
    toplevel: undefined,
  });
  const decided = (x: ReturnType<typeof m>) => decideReaping({ machines: [x], serverTime: new Date(now), maxAgeMinutes: 60 }).length;
  assert.equal(decided(m(8 * day + 1 * min, 365 * day)), 1, 'past creation + 1 day + 7 days');
  assert.equal(decided(m(7 * day, 365 * day)), 0, 'still within the cap');
  assert.equal(decided(m(2 * day, 10 * min)), 0, 'an honest (extended) deadline is not touched');
});
