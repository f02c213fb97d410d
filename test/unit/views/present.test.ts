// What a user reads in the tree, the tooltip and the status bar, pinned on the pure presentation functions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Machine } from '../../../src/providers/types';
import {
  byDeadline,
  costSoFar,
  formatDuration,
  machineContextValue,
  machineDescription,
  machineIcon,
  machinePickRow,
  machineTooltip,
  providerDescription,
  providerNotice,
  statusBarModel,
  timeLeftText,
  withEffectiveDeadline,
} from '../../../src/views/present';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const min = 60_000;

function machine(over: Partial<Machine> = {}): Machine {
  return {
    id: '101',
    provider: 'digitalocean',
    name: 'thebacknd-2',
    runId: 'thebacknd-0b7e5a52-9f0c-4bb8-9d0e-3d3f4c1d2e10',
    status: 'running',
    ipv4: '203.0.113.7',
    ipv6: undefined,
    region: 'ams3',
    size: 's-1vcpu-1gb',
    pricePerHour: 0.00893,
    currency: 'USD',
    createdAt: new Date(NOW - 19 * min).toISOString(),
    deadline: new Date(NOW + 41 * min).toISOString(),
    toplevel: '/nix/store/0c5d2r0j6ydd0m5ycyc7h9nbk4sz4xvn',
    ...over,
  };
}

test('durations read at a glance: seconds, minutes, hours with padded minutes, days', () => {
  assert.equal(formatDuration(45_000), '45s');
  assert.equal(formatDuration(41 * min + 59_000), '41m');
  assert.equal(formatDuration(65 * min), '1h 05m');
  assert.equal(formatDuration(27 * 60 * min), '1d 3h');
  assert.equal(formatDuration(-5), '0s');
});

test('the tree row: label is the name, description is IP · time left, per state', () => {
  assert.equal(machineDescription(machine(), NOW), '203.0.113.7 · 41m left');
  assert.equal(machineDescription(machine({ deadline: new Date(NOW - 3 * min).toISOString() }), NOW), '203.0.113.7 · overdue 3m');
  assert.equal(machineDescription(machine({ status: 'creating', ipv4: undefined }), NOW), 'creating… · 41m left');
  assert.equal(machineDescription(machine({ ipv4: undefined, ipv6: '2001:db8::1' }), NOW), '2001:db8::1 · 41m left');
  assert.equal(machineDescription(machine({ status: 'off' }), NOW), '203.0.113.7 · powered off · reaped at the next pass');
  assert.equal(machineDescription(machine({ status: 'destroying' }), NOW), 'destroying…');
  assert.equal(timeLeftText(machine({ deadline: undefined }), NOW), 'no deadline');
});

test("contextValue carries the state and traits that the manifest's menus match", () => {
  // The regexes are the ones in package.json's view/item/context entries.
  const terminal = /^machine:running\b.*\+ssh/;
  const copy = /^machine:.*\+ip/;
  const lifecycle = /^machine:(creating|running|off)\b/;
  const running = machineContextValue(machine());
  assert.equal(running, 'machine:running+ip+ssh');
  assert.match(running, terminal);
  assert.match(running, copy);
  assert.match(running, lifecycle);
  const noIp = machineContextValue(machine({ status: 'creating', ipv4: undefined }));
  assert.equal(noIp, 'machine:creating');
  assert.doesNotMatch(noIp, copy);
  assert.doesNotMatch(noIp, terminal);
  const destroying = machineContextValue(machine({ status: 'destroying' }));
  assert.doesNotMatch(destroying, lifecycle, 'a machine being destroyed offers no Destroy or Extend');
  assert.doesNotMatch(machineContextValue(machine({ status: 'off' })), terminal);
});

test('icons and colours by state; a running machine near or past its deadline changes colour', () => {
  assert.deepEqual(machineIcon(machine({ status: 'creating' }), NOW), { id: 'loading~spin', color: 'charts.yellow' });
  assert.deepEqual(machineIcon(machine(), NOW), { id: 'vm-running', color: 'charts.green' });
  assert.deepEqual(machineIcon(machine({ status: 'off' }), NOW), { id: 'vm-outline', color: 'disabledForeground' });
  assert.deepEqual(machineIcon(machine({ status: 'destroying' }), NOW), { id: 'trash', color: 'charts.red' });
  assert.equal(machineIcon(machine({ deadline: new Date(NOW + 4 * min).toISOString() }), NOW).color, 'list.warningForeground');
  assert.equal(machineIcon(machine({ deadline: new Date(NOW - 1).toISOString() }), NOW).color, 'errorForeground');
});

test("cost so far follows each cloud's billing: DigitalOcean per second (1 min minimum), Hetzner per started hour", () => {
  const created = new Date(NOW - 30 * min).toISOString();
  assert.ok(Math.abs(costSoFar({ provider: 'digitalocean', pricePerHour: 0.01, createdAt: created }, NOW)! - 0.005) < 1e-9);
  assert.ok(Math.abs(costSoFar({ provider: 'digitalocean', pricePerHour: 0.6, createdAt: new Date(NOW - 1000).toISOString() }, NOW)! - 0.01) < 1e-9);
  assert.equal(costSoFar({ provider: 'hetzner', pricePerHour: 0.006, createdAt: created }, NOW), 0.006);
  assert.equal(costSoFar({ provider: 'hetzner', pricePerHour: 0.006, createdAt: new Date(NOW - 61 * min).toISOString() }, NOW), 0.012);
  assert.equal(costSoFar({ provider: 'hetzner', pricePerHour: undefined, createdAt: created }, NOW), undefined);
});

test('the tooltip has region, size, price, cost, age, deadline, toplevel and run id, and escapes cloud text', () => {
  const tip = machineTooltip(machine(), NOW, { local: true, clock: (d) => d.toISOString().slice(11, 16) });
  for (const want of [
    '| Provider | DigitalOcean (local emulator) |',
    '| Region | ams3 |',
    '| Size | s\\-1vcpu\\-1gb |',
    '| Price | $0.0089 per hour |',
    '| Cost so far | ≈ $0.0028 |',
    '| Age | 19m (created 11:41) |',
    '| Deadline | 12:41 (41m left) |',
    '| Toplevel | `/nix/store/0c5d2r0j6ydd0m5ycyc7h9nbk4sz4xvn` |',
    '| Run id | `thebacknd-0b7e5a52-9f0c-4bb8-9d0e-3d3f4c1d2e10` |',
  ])
    assert.ok(tip.includes(want), `${want}\nin\n${tip}`);
  const evil = machineTooltip(machine({ name: 'x](command:rm)', region: 'a|b' }), NOW);
  assert.ok(!evil.includes('](command:'), 'no link can be injected through a name');
  assert.ok(evil.includes('a\\|b'), 'a pipe cannot break the table');
});

test('a machine without a deadline tag counts down to created + max age, and the tooltip says so', () => {
  const m = machine({ deadline: undefined });
  const eff = withEffectiveDeadline(m, 60);
  assert.equal(eff.implicit, true);
  assert.equal(timeLeftText(eff.machine, NOW), '41m left');
  assert.match(machineTooltip(eff.machine, NOW, { implicitDeadline: true }), /none on the machine: created \+ max age/);
  assert.equal(withEffectiveDeadline(machine(), 60).implicit, false);
});

test('status bar: soonest deadline, warning under five minutes, hidden while nothing runs', () => {
  const a = { machine: machine({ id: '1', name: 'thebacknd-1', deadline: new Date(NOW + 50 * min).toISOString() }), nowMs: NOW };
  const b = { machine: machine({ id: '2', name: 'thebacknd-2' }), nowMs: NOW };
  assert.deepEqual(statusBarModel([a, b]), { text: '$(server) thebacknd-2 · 41m +1', warning: false, soonest: b.machine, count: 2 });
  assert.equal(statusBarModel([b])!.text, '$(server) thebacknd-2 · 41m');
  const soon = { machine: machine({ deadline: new Date(NOW + 4 * min + 30_000).toISOString() }), nowMs: NOW };
  assert.deepEqual(statusBarModel([soon]), { text: '$(server) thebacknd-2 · 4m', warning: true, soonest: soon.machine, count: 1 });
  const late = { machine: machine({ deadline: new Date(NOW - 2 * min).toISOString() }), nowMs: NOW };
  assert.equal(statusBarModel([late])!.text, '$(server) thebacknd-2 · overdue 2m');
  assert.equal(statusBarModel([]), undefined);
  assert.equal(statusBarModel([{ machine: machine({ status: 'destroying' }), nowMs: NOW }]), undefined);
});

test('the provider clock decides: the same deadline reads differently on a skewed server clock', () => {
  // A server 10 minutes ahead of us: the machine has 31 minutes left, not 41.
  assert.equal(statusBarModel([{ machine: machine(), nowMs: NOW + 10 * min }])!.text, '$(server) thebacknd-2 · 31m');
});

test('quick pick rows are ordered by deadline and show the countdown', () => {
  const late = { machine: machine({ id: '3', name: 'thebacknd-3', deadline: undefined }), nowMs: NOW };
  const soon = { machine: machine({ id: '1', name: 'thebacknd-1', deadline: new Date(NOW + 2 * min).toISOString() }), nowMs: NOW };
  const mid = { machine: machine(), nowMs: NOW };
  assert.deepEqual(
    byDeadline([late, mid, soon]).map((c) => c.machine.name),
    ['thebacknd-1', 'thebacknd-2', 'thebacknd-3'],
  );
  assert.deepEqual(machinePickRow(mid), {
    label: '$(vm-running) thebacknd-2',
    description: '41m left · 203.0.113.7',
    detail: 'DigitalOcean · ams3 · s-1vcpu-1gb · $0.0089/h · running',
  });
});

test('provider rows: local emulator marked; missing or rejected token and failed lists say what to do', () => {
  const base = { id: 'hetzner' as const, tokenSource: 'environment', endpoint: 'http://127.0.0.1:4010/v1', local: true, loaded: true, machines: [machine()], error: undefined };
  assert.match(providerDescription(base), /^local emulator at [^ ]+ · 1 machine · token from environment$/);
  assert.equal(
    providerDescription({ ...base, local: false, endpoint: 'https://api.example.org/v2' }),
    'API https://api.example.org/v2 (not the default) · 1 machine · token from environment',
  );
  assert.equal(providerDescription({ ...base, local: false, endpoint: '', tokenSource: 'secret storage', machines: [] }), '0 machines');
  const missing = providerNotice({ ...base, tokenSource: undefined });
  assert.equal(missing?.label, 'No Hetzner token');
  assert.equal(missing?.command, 'thebacknd.setHetznerToken');
  const rejected = providerNotice({ ...base, error: { message: 'The Hetzner token was rejected (HTTP 401)…', auth: true } });
  assert.equal(rejected?.label, 'Hetzner rejected the token');
  assert.equal(rejected?.command, 'thebacknd.setHetznerToken');
  const failed = providerNotice({ ...base, error: { message: 'Could not reach the Hetzner API', auth: false } });
  assert.equal(failed?.label, 'Failed to list Hetzner machines');
  assert.equal(failed?.command, 'thebacknd.refresh');
  assert.match(failed!.description, /last known list/);
  assert.equal(providerNotice({ ...base, machines: [] })?.label, 'No machines');
  assert.equal(providerNotice({ ...base, loaded: false })?.label, 'Loading…');
  assert.equal(providerNotice(base), undefined, 'machines listed fine: no notice row');
  // A token command: said in the row; its failure has a row of its own, whose click runs it again.
  assert.equal(providerDescription({ ...base, tokenSource: 'token command' }).endsWith(' · 1 machine · token from command'), true);
  const command = providerNotice({
    ...base,
    tokenSource: 'token command',
    loaded: false,
    machines: [],
    error: { message: 'The Hetzner token command failed (exit status 1)…', auth: false, tokenCommand: true },
  });
  assert.equal(command?.label, 'Hetzner token command failed');
  assert.equal(command?.tooltip, 'The Hetzner token command failed (exit status 1)…');
  assert.equal(command?.command, 'thebacknd.refresh');
});
