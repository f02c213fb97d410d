// The boot order test hosts use (test/fixtures/testhost/units.ts), from nix/module.nix's declared units.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { bootOrder, HOST_UNITS, moduleUnits, type UnitDecl } from '../../fixtures/testhost';

const moduleFile = path.resolve(__dirname, '../../../../nix/module.nix');

test('the module orders the agent after multi-user.target: keys, sshd, the target, then the agent', async () => {
  const units: Record<string, UnitDecl> = { ...HOST_UNITS, ...(await moduleUnits(moduleFile)) };
  assert.deepEqual(bootOrder(units), ['thebacknd-keys.service', 'sshd.service', 'multi-user.target', 'thebacknd-agent.service']);
  // No unit may order itself after the agent: it would hold multi-user.target back (or make a cycle).
  for (const [name, u] of Object.entries(units)) assert.ok(!(u.after ?? []).includes('thebacknd-agent.service'), `${name} is ordered after the agent`);
});

test('without After=multi-user.target the target waits for the agent (the bug): it becomes active only after it', () => {
  const order = bootOrder({
    ...HOST_UNITS,
    'thebacknd-keys.service': { wantedBy: ['multi-user.target', 'sshd.service'], before: ['sshd.service'] },
    'thebacknd-agent.service': { wantedBy: ['multi-user.target'], after: ['thebacknd-keys.service', 'sshd.service'] },
  });
  assert.ok(order.indexOf('multi-user.target') > order.indexOf('thebacknd-agent.service'), order.join(' '));
});

test('a unit wanted by multi-user.target and ordered after the agent is a cycle', () => {
  assert.throws(
    () =>
      bootOrder({
        ...HOST_UNITS,
        'thebacknd-agent.service': { wantedBy: ['multi-user.target'], after: ['multi-user.target'] },
        'later.service': { wantedBy: ['multi-user.target'], after: ['thebacknd-agent.service'] },
      }),
    /ordering cycle/,
  );
});
