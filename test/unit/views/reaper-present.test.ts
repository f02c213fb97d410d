// The reaper rows of the Machines view and the status bar's tooltip section (src/views/reaperPresent.ts): pure, so
// every state is pinned here with fixed clocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReaperStatus } from '../../../src/cloud-reaper/deploy';
import type { ReaperSnapshot } from '../../../src/cloud-reaper/watch';
import type { ProviderId } from '../../../src/providers/types';
import { ago, cronPeriodMinutes, reaperRow, reaperTooltipLines } from '../../../src/views/reaperPresent';

const T0 = Date.parse('2026-12-06T12:00:00Z');
const min = 60_000;

function status(over: Partial<ReaperStatus> = {}): ReaperStatus {
  return {
    deployed: true,
    namespace: 'fn-1234',
    region: 'ams3',
    actions: ['thebacknd/list', 'thebacknd/destroy-old', 'thebacknd/destroy-all', 'thebacknd/destroy-self'],
    trigger: { name: 'thebacknd-destroy-old', cron: '*/20 * * * *', enabled: true, nextRunAt: new Date(T0 + 17 * min).toISOString() },
    activations: [],
    ...over,
  };
}

function snap(o: { cloud?: ReaperStatus; providers?: ProviderId[]; error?: string; local?: ReaperSnapshot['local'] } = {}): ReaperSnapshot {
  return {
    fetchedAt: T0,
    cloud: o.cloud ? { status: o.cloud, providers: o.providers ?? ['digitalocean', 'hetzner'] } : undefined,
    cloudError: o.error,
    local: o.local ?? {},
  };
}

const pass = (minutesAgo: number, over: Partial<{ ok: boolean; destroyed: string[]; error: string }> = {}) => ({
  at: new Date(T0 - minutesAgo * min).toISOString(),
  action: 'destroy-old',
  ok: true,
  destroyed: [],
  ...over,
});

test('cron periods and "ago"', () => {
  assert.deepEqual(['* * * * *', '*/20 * * * *', '0 * * * *', '0 */2 * * *', '5 4 * * *'].map(cronPeriodMinutes), [1, 20, 60, 120, undefined]);
  assert.deepEqual([0, 59_999, 3 * min, 59 * min, 65 * min].map(ago), ['just now', 'just now', '3 min ago', '59 min ago', '1h 05m ago']);
});

test('a cloud reaper with a recent pass: "Cloud reaper: last pass 3 min ago", no command, no warning', () => {
  const s = snap({ cloud: status({ activations: [pass(3, { destroyed: ['thebacknd-4'] }), { ...pass(5), action: 'destroy-self' }] }) });
  const r = reaperRow('hetzner', s, { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(r.label, 'Cloud reaper: last pass 3 min ago');
  assert.equal(r.description, 'every 20 min');
  assert.equal(r.contextValue, 'reaper:cloud');
  assert.deepEqual(r.icon, { id: 'pass', color: 'charts.green' });
  assert.equal(r.command, undefined);
  assert.equal(r.warning, false);
  assert.match(r.tooltip, /Namespace `fn\\-1234` \(ams3\)/);
  assert.match(r.tooltip, /- destroy\\-old 3 min ago: destroyed thebacknd\\-4/);
});

test("the last pass is the newest destroy-old (not destroy-self), else the trigger's last run; none yet: when the first comes", () => {
  const s = snap({ cloud: status({ activations: [{ ...pass(1), action: 'destroy-self' }, pass(7)] }) });
  assert.equal(reaperRow('digitalocean', s, { nowMs: T0, hasDigitalOceanToken: true })!.label, 'Cloud reaper: last pass 7 min ago');
  const byTrigger = snap({ cloud: status({ trigger: { ...status().trigger!, lastRunAt: new Date(T0 - 12 * min).toISOString() } }) });
  assert.equal(reaperRow('digitalocean', byTrigger, { nowMs: T0, hasDigitalOceanToken: true })!.label, 'Cloud reaper: last pass 12 min ago');
  const none = reaperRow('digitalocean', snap({ cloud: status() }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(none.label, 'Cloud reaper: no pass yet');
  assert.equal(none.description, 'first pass in 17m');
  assert.equal(none.warning, false);
});

test('a late or failed pass, a paused or missing schedule: a warning that deploys again', () => {
  const late = reaperRow('digitalocean', snap({ cloud: status({ activations: [pass(42)] }) }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(late.label, 'Cloud reaper: last pass 42 min ago');
  assert.match(late.description, /^late \(every 20 min\)/);
  assert.equal(late.contextValue, 'reaper:cloud+late');
  assert.deepEqual(late.command, { id: 'thebacknd.deployCloudReaper', args: [] });
  assert.equal(late.warning, true);
  // Two periods and a minute is still on time (a pass may take a while to show).
  assert.equal(reaperRow('digitalocean', snap({ cloud: status({ activations: [pass(41)] }) }), { nowMs: T0, hasDigitalOceanToken: true })!.warning, false);

  const failed = reaperRow('digitalocean', snap({ cloud: status({ activations: [pass(2, { ok: false, error: 'Hetzner said 401 [x](command:evil)' })] }) }), {
    nowMs: T0,
    hasDigitalOceanToken: true,
  })!;
  assert.equal(failed.contextValue, 'reaper:cloud+failed');
  assert.match(failed.tooltip, /The last pass failed: Hetzner said 401 \\\[x\\\]\\\(command:evil\\\)/, 'cloud text is escaped: no link injected');

  const paused = reaperRow('digitalocean', snap({ cloud: status({ trigger: { ...status().trigger!, enabled: false } }) }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(paused.label, 'Cloud reaper: schedule paused');
  const noTrigger = reaperRow('digitalocean', snap({ cloud: status({ deployed: false, trigger: undefined }) }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(noTrigger.label, 'Cloud reaper: no schedule');
  assert.deepEqual(noTrigger.command, { id: 'thebacknd.deployCloudReaper', args: [] });
});

test('no reaper: deploy with a DigitalOcean token, the local timer without; a local timer or a reaper without this token', () => {
  const none = snap();
  const withDo = reaperRow('hetzner', none, { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(withDo.label, 'No reaper while VS Code is closed');
  assert.deepEqual(withDo.command, { id: 'thebacknd.deployCloudReaper', args: [] });
  assert.deepEqual(withDo.icon, { id: 'warning', color: 'list.warningForeground' });
  const hetznerOnly = reaperRow('hetzner', none, { nowMs: T0, hasDigitalOceanToken: false })!;
  assert.deepEqual(hetznerOnly.command, { id: 'thebacknd.installLocalReaper', args: ['hetzner'] });
  assert.match(hetznerOnly.tooltip, /thebacknd reaper install --local/);

  const local = reaperRow('hetzner', snap({ local: { hetzner: { kind: 'systemd', everyMinutes: 20 } } }), { nowMs: T0, hasDigitalOceanToken: false })!;
  assert.equal(local.label, 'Local reaper timer: every 20 min');
  assert.equal(local.contextValue, 'reaper:local');
  assert.equal(local.warning, false);

  const notBound = reaperRow('hetzner', snap({ cloud: status({ activations: [pass(3)] }), providers: ['digitalocean'] }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(notBound.label, 'Cloud reaper: not for Hetzner');
  assert.equal(notBound.warning, true);

  const unknown = reaperRow('digitalocean', snap({ error: 'DigitalOcean is unreachable' }), { nowMs: T0, hasDigitalOceanToken: true })!;
  assert.equal(unknown.label, 'Cloud reaper: status unknown');
  assert.deepEqual(unknown.command, { id: 'thebacknd.refresh', args: [] });
  assert.equal(reaperRow('digitalocean', undefined, { nowMs: T0, hasDigitalOceanToken: true }), undefined, 'nothing before the first answer');
});

test("the status bar's section says the same, with the fix as a command link", () => {
  const s = snap({ cloud: status({ activations: [pass(3)] }), providers: ['digitalocean'] });
  const rows = (['digitalocean', 'hetzner'] as const).map((provider) => ({ provider, row: reaperRow(provider, s, { nowMs: T0, hasDigitalOceanToken: true })! }));
  assert.deepEqual(reaperTooltipLines(rows), [
    '**While VS Code is closed**',
    '',
    '- $(pass) DigitalOcean: Cloud reaper: last pass 3 min ago (every 20 min)',
    '- $(warning) Hetzner: Cloud reaper: not for Hetzner — [Deploy Cloud Reaper…](command:thebacknd.deployCloudReaper)',
  ]);
  const local = reaperRow('hetzner', snap(), { nowMs: T0, hasDigitalOceanToken: false })!;
  assert.deepEqual(
    reaperTooltipLines([{ provider: 'hetzner', row: local }]).at(-1),
    `- $(warning) Hetzner: No reaper while VS Code is closed — [Install Local Timer…](command:thebacknd.installLocalReaper?${encodeURIComponent('["hetzner"]')})`,
  );
  assert.deepEqual(reaperTooltipLines([]), []);
});
