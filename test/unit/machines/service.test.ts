// The machine service against the cloud emulator through the real provider clients: one list per provider per
// refresh, optimistic state reconciled by the next list, Extend stored on the machine, errors kept per provider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type Emulator } from '../../fixtures/emulator';
import { createProvider } from '../../../src/providers';
import { doTags, hetznerLabels, newRunId } from '../../../src/providers/tags';
import { isLocal, MachineService } from '../../../src/machines/service';
import { ListingLog } from '../../../src/machines/listing-log';
import { extendedDeadline } from '../../../src/machines/deadline';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import type { ProviderId } from '../../../src/providers/types';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tokens } from '../../../src/base/tokens';
import { runTokenCommand } from '../../../src/base/token-command';
import { artefact, assertNoSecrets, mintSecret } from '../../fixtures/secrets';
import { waitFor } from '../../fixtures/wait';

const TOKEN = 'emulator-token-0123456789';
const min = 60_000;

function service(emu: Emulator, o: { tokens?: Partial<Record<ProviderId, string>>; now?: () => number } = {}) {
  const tokens = o.tokens ?? { digitalocean: TOKEN, hetzner: TOKEN };
  const settings: Settings = {
    ...DEFAULTS,
    digitalocean: { ...DEFAULTS.digitalocean, endpoint: emu.doUrl },
    hetzner: { ...DEFAULTS.hetzner, endpoint: emu.hetznerUrl },
  };
  let created = 0;
  const svc = new MachineService({
    tokens: { get: async (p) => (tokens[p] ? { token: tokens[p]!, source: 'environment' } : undefined) },
    settings: () => settings,
    createProvider: (id, opts) => {
      created++;
      return createProvider(id, { ...opts, retry: { retries: 0 } });
    },
    ...(o.now ? { now: o.now } : {}),
  });
  return { svc, clients: () => created };
}

async function withEmulator(fn: (emu: Emulator) => Promise<void>, opts: Parameters<typeof startEmulator>[0] = {}): Promise<void> {
  const emu = await startEmulator({ delays: { doActiveMs: 0, deleteMs: 0, actionMs: 0 }, ...opts });
  try {
    await fn(emu);
    assert.deepEqual(emu.violations, [], 'every request and answer is on-spec');
  } finally {
    await emu.close();
  }
}

const lists = (emu: Emulator) => emu.requests.filter((r) => r.method === 'GET' && /\/(droplets|servers)$/.test(r.path)).length;

test('one list call per provider per refresh, even with concurrent callers; clients built once', () =>
  withEmulator(async (emu) => {
    emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() + 30 * min)) });
    emu.addDroplet({ name: 'not-ours', tags: ['web'] });
    emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
    const { svc, clients } = service(emu);
    await svc.refresh();
    assert.equal(lists(emu), 2);
    assert.deepEqual(
      svc
        .machines()
        .map((m) => `${m.provider}/${m.name}`)
        .sort(),
      ['digitalocean/thebacknd-1', 'hetzner/thebacknd-1'],
    );
    // Three callers at once: the first starts a list, the second waits for the next one (it must see a list that
    // started after its call), the third joins the one in flight. Two lists per provider, not three.
    await Promise.all([svc.refresh(), svc.refresh(), svc.refresh({ join: true }), svc.refresh()]);
    assert.equal(lists(emu), 2 + 2 * 2, 'callers arriving during a list share the next one');
    assert.equal(clients(), 2, 'one client per provider, reused');
    const snap = svc.snapshot();
    assert.ok(snap.every((p) => p.local && p.loaded && !p.error));
  }));

test('Destroy shows at once as destroying, and the next list removes the machine', () =>
  withEmulator(
    async (emu) => {
      const d = emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), new Date(Date.now() + 30 * min)) });
      const { svc } = service(emu, { tokens: { digitalocean: TOKEN } });
      await svc.refresh();
      let changes = 0;
      svc.onDidChange(() => changes++);
      const m = svc.machines()[0]!;
      const destroying = svc.destroy(m);
      assert.equal(svc.machines()[0]!.status, 'destroying', 'optimistic, before the cloud answered');
      assert.ok(changes >= 1, 'views were told');
      assert.equal(svc.inTransition(), true);
      await destroying;
      // The emulator keeps a deleted droplet listed (locked) for deleteMs: the overlay holds meanwhile.
      await svc.refresh();
      assert.equal(svc.machines()[0]?.status, 'destroying');
      // Once the cloud has let it go (an event in the emulator, not a guess of 400 ms), the next list drops it.
      await waitFor('the droplet to leave the cloud', () => !emu.state.droplets.has(d.id));
      await svc.refresh();
      assert.deepEqual(svc.machines(), []);
      assert.equal(svc.inTransition(), false);
      assert.equal(emu.state.droplets.has(d.id), false);
    },
    { delays: { doActiveMs: 0, deleteMs: 300, actionMs: 0 } },
  ));

test('a failed Destroy rolls the optimistic state back', () =>
  withEmulator(async (emu) => {
    emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
    const { svc } = service(emu, { tokens: { hetzner: TOKEN } });
    await svc.refresh();
    emu.fault({ provider: 'hetzner', method: 'DELETE', path: '/servers/{id}', kind: 500, times: 5 });
    await assert.rejects(svc.destroy(svc.machines()[0]!), /Hetzner/);
    assert.equal(svc.machines()[0]!.status, 'running');
    assert.equal(svc.inTransition(), false);
  }));

test('Extend stores max(now, deadline) + minutes on the machine, on the server clock', () => {
  // Both clocks injected and frozen on a whole second: this machine's at L, the server's 7 minutes ahead. Every
  // deadline below is then exact, however long the requests take.
  const L = Date.UTC(2026, 5, 1, 12, 0, 0);
  return withEmulator(
    async (emu) => {
      emu.setClock(7 * min);
      const future = new Date(L + 7 * min + 20 * min);
      emu.addDroplet({ name: 'thebacknd-1', tags: doTags(newRunId(), future) });
      emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(L + 7 * min - 30 * min)) });
      const { svc } = service(emu, { now: () => L });
      await svc.refresh();
      const [dm, hm] = [svc.machines().find((m) => m.provider === 'digitalocean')!, svc.machines().find((m) => m.provider === 'hetzner')!];
      const d1 = await svc.extend(dm, 30);
      assert.equal(d1.getTime(), future.getTime() + 30 * min, 'from the current deadline when it is ahead');
      // Overdue by 30 minutes: counted from the server's now, not from the past deadline, not from our clock.
      assert.equal(svc.serverNow('hetzner'), L + 7 * min, 'server now is the local clock + 7 min');
      const d2 = await svc.extend(hm, 15);
      assert.equal(d2.getTime(), L + 7 * min + 15 * min, 'server now + 15 min');
      // Shown at once, and what the cloud stores agrees after a fresh list.
      await svc.refresh();
      const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
      const after = svc.machines();
      assert.equal(seconds(new Date(after.find((m) => m.provider === 'digitalocean')!.deadline!)), seconds(d1));
      assert.equal(seconds(new Date(after.find((m) => m.provider === 'hetzner')!.deadline!)), seconds(d2));
    },
    { clock: () => L },
  );
});

test('Extend refuses to move a deadline past the longest lifetime the reaper honours, and says how much is left', () => {
  const L = Date.UTC(2026, 5, 10, 12, 0, 0);
  const day = 24 * 60 * min;
  return withEmulator(
    async (emu) => {
      // Created 7 days ago: the reaper honours a deadline up to creation + 8 days (the longest first deadline, a day,
      // plus the longest Extend, a week), so 20 minutes are left above this deadline 23 h 40 min from now.
      const created = new Date(L - 7 * day).toISOString();
      const deadline = new Date(L + day - 20 * min);
      emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), deadline), created });
      const { svc } = service(emu, { tokens: { hetzner: TOKEN }, now: () => L });
      await svc.refresh();
      const m = svc.machines()[0]!;
      await assert.rejects(svc.extend(m, 30), /thebacknd-1 .*at most 20 min/);
      await svc.refresh();
      assert.equal(svc.machines()[0]!.deadline, deadline.toISOString(), 'the deadline is unchanged');
      assert.equal((await svc.extend(m, 20)).getTime(), L + day, 'up to the cap is fine');
      await assert.rejects(svc.extend({ ...m, deadline: new Date(L + day).toISOString() }, 1), /thebacknd-1 .*longest lifetime/);
    },
    { clock: () => L },
  );
});

test('a rejected token is an auth error on that provider only; a failing list keeps the last machines and backs off', () =>
  withEmulator(
    async (emu) => {
      emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
      const { svc } = service(emu, { tokens: { digitalocean: 'rejected-token-0123456789', hetzner: TOKEN } });
      await svc.refresh();
      const [d, h] = svc.snapshot();
      assert.equal(d!.error?.auth, true);
      assert.match(d!.error!.message, /token was rejected/);
      assert.ok(!d!.error!.message.includes('rejected-token-0123456789'), 'the token never shows');
      assert.equal(h!.error, undefined);
      assert.equal(svc.failures, 1);
      emu.fault({ provider: 'hetzner', path: '/servers', method: 'GET', kind: 503, times: 1 });
      await svc.refresh();
      const h2 = svc.snapshot()[1]!;
      assert.equal(h2.error?.auth, false);
      assert.equal(h2.machines.length, 1, 'the last good list stays on screen');
      assert.equal(svc.failures, 2);
      assert.deepEqual(svc.failedProviders().sort(), ['digitalocean', 'hetzner']);
    },
    { rejectTokens: ['rejected-token-0123456789'] },
  ));

test('the Output channel gets one line when a list starts failing or fails otherwise, none per retry, one when it lists again', () =>
  withEmulator(async (emu) => {
    const { svc } = service(emu, { tokens: { hetzner: TOKEN } });
    const log = new ListingLog();
    const lines: string[] = [];
    const step = async () => {
      await svc.refresh();
      lines.push(...log.lines(svc.snapshot()).map((l) => `${l.level}: ${l.text}`));
    };
    await step();
    assert.deepEqual(lines, [], 'listing works; a provider without a token is a state, not a failure');
    emu.fault({ provider: 'hetzner', path: '/servers', method: 'GET', kind: 503, times: 2 });
    await step();
    await step();
    emu.fault({ provider: 'hetzner', path: '/servers', method: 'GET', kind: 'reset', times: 1 });
    await step();
    await step();
    await step();
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0]!, /^warn: Listing Hetzner machines failed: .+ Retrying\.$/);
    assert.match(lines[1]!, /^warn: Listing Hetzner machines failed: .+ Retrying\.$/);
    assert.notEqual(lines[0], lines[1], 'another reason, another line');
    assert.equal(lines[2], 'info: Listing Hetzner machines works again.');
    assert.ok(!lines.join('\n').includes(TOKEN), 'the token never shows');
  }));

test('a list that fails, then a new token, then a good list: the Output channel still says it works again', () =>
  withEmulator(async (emu) => {
    const tokens: Partial<Record<ProviderId, string>> = { hetzner: TOKEN };
    const { svc } = service(emu, { tokens });
    const log = new ListingLog();
    const lines: string[] = [];
    // As the extension wires it: every change of the service, including the one a new configuration makes.
    svc.onDidChange(() => lines.push(...log.lines(svc.snapshot()).map((l) => `${l.level}: ${l.text}`)));
    emu.fault({ provider: 'hetzner', path: '/servers', method: 'GET', kind: 503, times: 1 });
    await svc.refresh();
    // Another token replaces the provider's entry: configured, not listed yet, no error; then its first list.
    tokens.hetzner = `${TOKEN}-renewed`;
    await svc.reconfigure();
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /^warn: Listing Hetzner machines failed: .+ Retrying\.$/);
    assert.equal(lines[1], 'info: Listing Hetzner machines works again.');
    // A failure, then the token removed: nothing lists any more, so nothing "works again" later either.
    emu.fault({ provider: 'hetzner', path: '/servers', method: 'GET', kind: 503, times: 1 });
    await svc.refresh();
    delete tokens.hetzner;
    await svc.reconfigure();
    tokens.hetzner = TOKEN;
    await svc.reconfigure();
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[2]!, /^warn: Listing Hetzner machines failed: .+ Retrying\.$/);
  }));

test('after a failed list, the retry reads the settings again: an endpoint changed without an event is used', () =>
  withEmulator(async (emu) => {
    let endpoint = 'http://127.0.0.1:9/v1'; // nothing listens there
    const svc = new MachineService({
      tokens: { get: async (p) => (p === 'hetzner' ? { token: TOKEN, source: 'environment' } : undefined) },
      settings: () => ({ ...DEFAULTS, hetzner: { ...DEFAULTS.hetzner, endpoint } }),
      createProvider: (id, opts) => createProvider(id, { ...opts, retry: { retries: 0 } }),
    });
    emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
    await svc.refresh();
    assert.ok(svc.snapshot()[0]!.error, 'the first list failed');
    endpoint = emu.hetznerUrl; // no reconfigure(): as if the change event never came
    await svc.refresh();
    const [h] = svc.snapshot();
    assert.equal(h!.error, undefined);
    assert.deepEqual(
      h!.machines.map((m) => m.name),
      ['thebacknd-1'],
    );
  }));

test('a provider without a token shows as such, without counting as a failure', () =>
  withEmulator(async (emu) => {
    const { svc } = service(emu, { tokens: { hetzner: TOKEN } });
    await svc.refresh();
    const d = svc.snapshot().find((p) => p.id === 'digitalocean')!;
    assert.equal(d.tokenSource, undefined, 'pointed at an endpoint but without a token: listed, saying so');
    assert.equal(svc.failures, 0);
    assert.equal(lists(emu), 1, 'no call without a token');
  }));

test('tokens from commands (the real runner): one lists with its token; a failing one says so; Refresh runs it again', () => {
  const rejected = mintSecret('rejected token from a command (machine service)', 'dop_v1_');
  return withEmulator(
    async (emu) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-svc-'));
      try {
        emu.addServer({ name: 'thebacknd-1', labels: hetznerLabels(newRunId(), new Date(Date.now() + 30 * min)) });
        const file = path.join(dir, 'do-token');
        // DigitalOcean's command prints the file; without it, it fails after printing a secret on both streams.
        const leaked = mintSecret('output of a failing token command (machine service)', 'dop_v1_');
        const commands: Record<ProviderId, string> = {
          digitalocean: `cat ${file} 2>/dev/null || { echo ${leaked}; echo ${leaked} >&2; exit 7; }`,
          hetzner: `echo ${TOKEN}`,
        };
        const noSecrets = { get: async () => undefined, store: async () => {}, delete: async () => {} };
        const tokens = new Tokens(noSecrets, {}, { command: (p) => commands[p], run: (p, c) => runTokenCommand(p, c, { env: { PATH: process.env.PATH } }) });
        const settings: Settings = { ...DEFAULTS, digitalocean: { ...DEFAULTS.digitalocean, endpoint: emu.doUrl }, hetzner: { ...DEFAULTS.hetzner, endpoint: emu.hetznerUrl } };
        const svc = new MachineService({ tokens, settings: () => settings, createProvider: (id, opts) => createProvider(id, { ...opts, retry: { retries: 0 } }) });
        const byId = (id: ProviderId) => svc.snapshot().find((p) => p.id === id)!;

        await svc.refresh();
        assert.equal(byId('hetzner').tokenSource, 'token command');
        assert.deepEqual(
          byId('hetzner').machines.map((m) => m.name),
          ['thebacknd-1'],
          'listed with the token the command printed',
        );
        assert.equal(byId('digitalocean').tokenSource, 'token command');
        assert.deepEqual(byId('digitalocean').error, {
          message: 'The DigitalOcean token command failed (exit status 7); its output is not shown.',
          auth: false,
          tokenCommand: true,
        });
        assert.equal(svc.failures, 0, 'no list was tried, so nothing to back off from');
        await assert.rejects(svc.provider('digitalocean'), /token command failed \(exit status 7\)/);

        // The token sent is the command's output: one the API rejects is reported as rejected.
        fs.writeFileSync(file, `${rejected}\n`);
        await svc.reconfigure();
        assert.equal(byId('digitalocean').error?.auth, true);
        // A good token in the password manager now; the rejected answer is kept until forgotten (as Refresh does).
        fs.writeFileSync(file, `${TOKEN}\n`);
        await svc.reconfigure();
        assert.equal(byId('digitalocean').error?.auth, true, 'the command ran once: its answer is kept for the session');
        tokens.forget('digitalocean');
        await svc.reconfigure();
        assert.equal(byId('digitalocean').error, undefined);
        assert.equal(byId('digitalocean').loaded, true);
        assertNoSecrets([artefact('snapshot', svc.snapshot())]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    { rejectTokens: [rejected] },
  );
});

test('extendedDeadline and isLocal', () => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  const m = (deadline: string | undefined) => ({ name: 'thebacknd-1', deadline, createdAt: '2026-11-23T11:00:00Z' });
  assert.equal(extendedDeadline(m('2026-11-23T12:30:00Z'), now, 60).toISOString(), '2026-11-23T13:30:00.000Z');
  assert.equal(extendedDeadline(m('2026-11-23T11:00:00Z'), now, 60).toISOString(), '2026-11-23T13:00:00.000Z');
  assert.equal(extendedDeadline(m(undefined), now, 15).toISOString(), '2026-11-23T12:15:00.000Z');
  assert.ok(isLocal('http://127.0.0.1:4010/v2'));
  assert.ok(isLocal('http://localhost:1/'));
  assert.ok(isLocal('http://[::1]:8080'));
  assert.ok(!isLocal('https://api.digitalocean.com'));
  assert.ok(!isLocal(''));
});
