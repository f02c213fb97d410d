import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Tokens, checkToken, secretKey } from '../../../src/base/tokens';
import { runTokenCommand } from '../../../src/base/token-command';
import type { ProviderId } from '../../../src/providers/types';
import { artefact, assertNoSecrets, mintSecret } from '../../fixtures/secrets';

class MemorySecrets {
  readonly map = new Map<string, string>();
  async get(k: string) {
    return this.map.get(k);
  }
  async store(k: string, v: string) {
    this.map.set(k, v);
  }
  async delete(k: string) {
    this.map.delete(k);
  }
}

const DO_TOKEN = 'dop_v1_0123456789abcdef0123456789abcdef';

test('secret storage wins over the environment, which is the fallback', async () => {
  const secrets = new MemorySecrets();
  const t = new Tokens(secrets, { DIGITALOCEAN_ACCESS_TOKEN: 'env-token-0123456789', HCLOUD_TOKEN: '' });
  assert.deepEqual(await t.get('digitalocean'), { token: 'env-token-0123456789', source: 'environment' });
  assert.equal(await t.get('hetzner'), undefined);
  await t.set('digitalocean', `  ${DO_TOKEN}\n`);
  assert.deepEqual(await t.get('digitalocean'), { token: DO_TOKEN, source: 'secret storage' });
  assert.equal(secrets.map.get(secretKey('digitalocean')), DO_TOKEN);
  assert.deepEqual(await t.configured(), ['digitalocean']);
  await t.clear('digitalocean');
  assert.equal((await t.get('digitalocean'))?.source, 'environment');
});

test('a malformed token is refused with a message that does not repeat it', async () => {
  const t = new Tokens(new MemorySecrets(), {});
  const bad = 'abc def ghi jkl mno';
  await assert.rejects(t.set('hetzner', bad), (e: Error) => !e.message.includes(bad) && /spaces/.test(e.message));
  assert.match(checkToken('') ?? '', /empty/);
  assert.match(checkToken('short') ?? '', /too short/);
  assert.equal(checkToken(DO_TOKEN), undefined);
});

// The token command (thebacknd.<provider>.tokenCommand), with the real runner and real child processes. Each run
// appends a line to a file, so the test counts runs by what the command did, not by a stub.
function commandTokens(secrets: MemorySecrets, env: NodeJS.ProcessEnv, commands: Partial<Record<ProviderId, string>>) {
  return new Tokens(secrets, env, {
    command: (p) => commands[p],
    run: (p, command) => runTokenCommand(p, command, { env: { PATH: process.env.PATH } }),
  });
}

test('precedence: secret storage, then the environment, then the token command; the command runs once', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-tokens-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fromCommand = mintSecret('token from the token command (tokens test)', 'hc_cmd_');
  const runs = path.join(dir, 'runs');
  const commands: Partial<Record<ProviderId, string>> = { hetzner: `echo run >> ${runs}; echo ${fromCommand}` };
  const secrets = new MemorySecrets();
  const env: NodeJS.ProcessEnv = { HCLOUD_TOKEN: 'env-token-0123456789' };
  const tokens = commandTokens(secrets, env, commands);
  const ran = () => (fs.existsSync(runs) ? fs.readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0);

  // The environment wins over the command, which does not run.
  assert.deepEqual(await tokens.get('hetzner'), { token: 'env-token-0123456789', source: 'environment' });
  delete env.HCLOUD_TOKEN;
  // Saying whether a token is configured, or listing tokens to redact, never runs the command.
  assert.equal(await tokens.source('hetzner'), 'token command');
  assert.deepEqual(await tokens.configured(), ['hetzner']);
  assert.deepEqual(await tokens.all(), []);
  assert.equal(ran(), 0);
  // Callers at the same time share one run; later callers get its answer.
  const [a, b] = await Promise.all([tokens.get('hetzner'), tokens.get('hetzner')]);
  assert.deepEqual(a, { token: fromCommand, source: 'token command' });
  assert.deepEqual(b, a);
  assert.deepEqual(await tokens.get('hetzner'), a);
  assert.equal(ran(), 1);
  assert.deepEqual(await tokens.all(), [fromCommand], 'the answer is redacted from logs from then on');
  // A token in secret storage wins over the command.
  await tokens.set('hetzner', DO_TOKEN);
  assert.deepEqual(await tokens.get('hetzner'), { token: DO_TOKEN, source: 'secret storage' });
  await tokens.clear('hetzner');
  // forget() (the provider rejected the token) and a changed setting run the command again.
  tokens.forget('hetzner');
  assert.equal((await tokens.get('hetzner'))?.source, 'token command');
  assert.equal(ran(), 2);
  commands.hetzner = `echo run >> ${runs}; echo ${fromCommand}; true`;
  await tokens.get('hetzner');
  assert.equal(ran(), 3);
  assert.equal(await tokens.get('digitalocean'), undefined, 'a provider without a command has no token');
});

test('a failing token command is not remembered: the next use runs it again, and the message names no output', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-tokens-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secret = mintSecret('token printed by a failing token command (tokens test)', 'dop_v1_');
  const runs = path.join(dir, 'runs');
  const tokens = commandTokens(new MemorySecrets(), {}, { digitalocean: `echo run >> ${runs}; echo ${secret}; echo ${secret} >&2; exit 5` });
  const messages: string[] = [];
  for (let i = 0; i < 2; i++) {
    await assert.rejects(tokens.get('digitalocean'), (e: Error) => (messages.push(e.message), /token command failed \(exit status 5\)/.test(e.message)));
  }
  assert.equal(fs.readFileSync(runs, 'utf8'), 'run\nrun\n');
  assert.deepEqual(await tokens.all(), []);
  assertNoSecrets(messages.map((m, i) => artefact(`failure #${i}`, m)));
});
