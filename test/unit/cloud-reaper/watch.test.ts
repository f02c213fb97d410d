// The reaper watch behind the Machines view's reaper rows, against the emulator's DigitalOcean Functions: nothing
// deployed → the warning row; after deployReaper and a scheduled pass → "Cloud reaper: last pass …", for both
// providers whose tokens were bound. Status is fetched once per reaper period, whatever the number of renders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deployReaper } from '../../../src/cloud-reaper/deploy';
import { ReaperWatch, type LocalTimerInfo } from '../../../src/cloud-reaper/watch';
import type { ProviderId } from '../../../src/providers/types';
import { reaperRow } from '../../../src/views/reaperPresent';
import { artefact, assertNoSecrets, mintSecret } from '../../fixtures/secrets';
import { assertClean, emulator, fastRetry } from '../providers/emu';

const DO_TOKEN = mintSecret('DigitalOcean token (reaper watch)', 'dop_v1_', 64);
const HZ_TOKEN = mintSecret('Hetzner token (reaper watch)', 'hz', 62);

test('the watch: warning row before a deploy, "last pass" after a scheduled pass; one fetch per period', async (t) => {
  const emu = await emulator(t);
  let now = 1_000_000;
  const local: Partial<Record<ProviderId, LocalTimerInfo>> = {};
  const watch = new ReaperWatch({
    digitalocean: async () => ({ token: DO_TOKEN, endpoint: emu.doUrl }),
    localTimers: () => local,
    periodMs: () => 20 * 60_000,
    now: () => now,
    retry: fastRetry().retry,
  });
  let changes = 0;
  watch.onDidChange(() => changes++);
  /** The cloud's now, as the view takes it from the DigitalOcean clock. */
  let cloudNow = Date.now();
  const row = (p: ProviderId, hasDigitalOceanToken = true) => reaperRow(p, watch.snapshot(), { nowMs: cloudNow, hasDigitalOceanToken });

  assert.equal(row('digitalocean'), undefined, 'nothing is shown before the first answer');
  await watch.refresh();
  assert.equal(watch.fetches, 1);
  for (const p of ['digitalocean', 'hetzner'] as const) {
    const r = row(p)!;
    assert.equal(r.label, 'No reaper while VS Code is closed');
    assert.equal(r.contextValue, 'reaper:none');
    assert.deepEqual(r.command, { id: 'thebacknd.deployCloudReaper', args: [] });
    assert.equal(r.warning, true);
  }
  assert.deepEqual(row('hetzner', false)!.command, { id: 'thebacknd.installLocalReaper', args: ['hetzner'] }, 'Hetzner only: the local timer');

  // Renders within the period read the cache.
  for (let i = 0; i < 5; i++) watch.ensureFresh();
  now += 19 * 60_000;
  watch.ensureFresh();
  assert.equal(watch.fetches, 1, 'no fetch within one reaper period');

  const d = await deployReaper({
    digitaloceanToken: DO_TOKEN,
    hetznerToken: HZ_TOKEN,
    endpoints: { digitalocean: emu.doUrl, hetzner: emu.hetznerUrl },
    intervalMinutes: 20,
    maxAgeMinutes: 60,
    retry: fastRetry().retry,
  });
  watch.invalidate();
  await watch.refresh();
  assert.equal(watch.fetches, 2);
  assert.deepEqual(watch.snapshot()!.cloud!.providers, ['digitalocean', 'hetzner']);
  assert.equal(row('digitalocean')!.label, 'Cloud reaper: no pass yet');

  const fired = await emu.functions.advanceClock(20 * 60_000);
  const pass = fired.find((a) => a.name === 'destroy-old');
  assert.ok(pass, 'the trigger ran destroy-old');
  cloudNow = pass.start + 3 * 60_000;
  now += 2 * 60_000; // 21 min after the first fetch: due again
  watch.ensureFresh();
  await watch.refresh();
  for (const p of ['digitalocean', 'hetzner'] as const) {
    const r = row(p)!;
    assert.equal(r.label, 'Cloud reaper: last pass 3 min ago');
    assert.equal(r.description, 'every 20 min');
    assert.equal(r.contextValue, 'reaper:cloud');
    assert.equal(r.command, undefined);
    assert.match(r.tooltip, new RegExp(`Namespace \`${d.namespace.replace(/[-]/g, '\\\\?-')}\``));
    assertNoSecrets([artefact(`reaper row ${p}`, JSON.stringify(r))]);
  }
  assert.ok(changes >= 3);
  assertNoSecrets([artefact('snapshot', JSON.stringify(watch.snapshot()))]);
  assertClean(emu);
});

test('a failed status shows "status unknown" without the token, and is retried after a minute, not a period', async (t) => {
  const emu = await emulator(t, { rejectTokens: [DO_TOKEN] });
  let now = 0;
  const watch = new ReaperWatch({
    digitalocean: async () => ({ token: DO_TOKEN, endpoint: emu.doUrl }),
    localTimers: () => ({ hetzner: { kind: 'systemd', everyMinutes: 15 } }),
    periodMs: () => 20 * 60_000,
    now: () => now,
    retry: fastRetry().retry,
  });
  await watch.refresh();
  const r = reaperRow('digitalocean', watch.snapshot(), { nowMs: 0, hasDigitalOceanToken: true })!;
  assert.equal(r.label, 'Cloud reaper: status unknown');
  assert.ok(!r.tooltip.includes(DO_TOKEN));
  assert.equal(reaperRow('hetzner', watch.snapshot(), { nowMs: 0, hasDigitalOceanToken: true })!.label, 'Local reaper timer: every 15 min');
  now += 30_000;
  watch.ensureFresh();
  assert.equal(watch.fetches, 1);
  now += 31_000;
  watch.ensureFresh();
  assert.equal(watch.fetches, 2, 'a failure is retried after a minute');
});
