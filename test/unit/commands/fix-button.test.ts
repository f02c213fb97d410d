// The button beside an error message (src/commands/register.ts): each fix opens the prompt that fixes it, through a
// command the extension registers or contributes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fixButton } from '../../../src/commands/fix-button';
import { COMMANDS } from '../../../src/commands/index';
import { UserError } from '../../../src/base/errors';

const root = path.resolve(__dirname, '../../../..');
const contributed = new Set((JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).contributes.commands as { command: string }[]).map((c) => c.command));

test('a setToken fix opens the prompt for what it names: DigitalOcean, Hetzner, or the cache credentials', () => {
  const cases: [string | undefined, string, string][] = [
    ['digitalocean', 'Set Token…', 'thebacknd.setDigitalOceanToken'],
    ['hetzner', 'Set Token…', 'thebacknd.setHetznerToken'],
    ['cache', 'Set Cache Credentials…', 'thebacknd.setCacheCredentials'],
    [undefined, 'Set Token…', 'thebacknd.setToken'],
  ];
  for (const [provider, label, command] of cases) {
    const fix = new UserError('x', { kind: 'setToken', ...(provider ? { provider } : {}) }).fix;
    assert.deepEqual(fixButton(fix), { label, command }, `provider ${provider}`);
    assert.ok(Object.hasOwn(COMMANDS, command) && contributed.has(command), `${command} is registered and contributed`);
  }
});

test('the other fixes: settings at the named one, a command by its id and label, none for none', () => {
  assert.deepEqual(fixButton({ kind: 'openSettings', setting: 'thebacknd.cache.bucket' }), {
    label: 'Open Settings',
    command: 'workbench.action.openSettings',
    args: ['thebacknd.cache.bucket'],
  });
  assert.deepEqual(fixButton({ kind: 'runCommand', command: 'thebacknd.setup', label: 'Check Setup' }), { label: 'Check Setup', command: 'thebacknd.setup' });
  assert.equal(fixButton(undefined), undefined);
  assert.equal(fixButton({ kind: 'retry' }), undefined);
});
