// --token-command (vps-worker's tokenCmd): the token comes from a command's output, e.g. a password manager, and that
// output is never printed, logged or sent anywhere but the API's Authorization header. The built CLI in its own
// process, against the emulator; everything it printed and everything the emulator saw is scanned for the tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_COMPILED, runCli, type ProcessRun as Run } from '../../fixtures/cli';
import { artefact, assertNoSecrets, emulatorArtefacts, mintSecret } from '../../fixtures/secrets';
import { emulator } from '../providers/emu';

const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, { env: { PATH: process.env.PATH, ...env } }, CLI_COMPILED);

test('--token-command and THEBACKND_HCLOUD_TOKEN_COMMAND give the token; its output never shows, even when it fails', async (t) => {
  const good = mintSecret('hetzner-token-from-command', 'hc_cmd_');
  const revoked = mintSecret('revoked-hetzner-token-from-command', 'hc_rev_');
  const emu = await emulator(t, { rejectTokens: [revoked] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-tokencmd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode: 0o600 });
    return f;
  };
  const goodFile = file('good', `${good}\n`);
  const revokedFile = file('revoked', revoked);
  const base = { THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl };
  const runs: [string, Run][] = [];
  const run = async (what: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await cli(args, { ...base, ...env });
    runs.push([what, r]);
    return r;
  };

  const ok = await run('flag', ['--provider', 'hetzner', '--token-command', `cat ${goodFile}`, 'list']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'No thebacknd machines.\n');

  // The token really is the command's output: a revoked one is refused by the API, and the message names no token.
  const refused = await run('revoked', ['--provider', 'hetzner', '--token-command', `cat ${revokedFile}`, 'list']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /token/i);

  const failed = await run('failing command', ['--provider', 'hetzner', '--token-command', `cat ${goodFile}; exit 3`, 'list']);
  assert.equal(failed.code, 1);
  assert.equal(failed.stderr, 'thebacknd: The Hetzner token command failed (exit status 3); its output is not shown.\n');

  const chatty = await run('two words', ['--provider', 'hetzner', '--token-command', `echo token: $(cat ${goodFile})`, 'list']);
  assert.equal(chatty.code, 1);
  assert.match(chatty.stderr, /printed more than one word: it should print the token alone \(its output is not shown\)/);

  // The setting: used when HCLOUD_TOKEN is unset, for the provider that needs it only.
  const setting = await run('setting', ['list'], { THEBACKND_HCLOUD_TOKEN_COMMAND: `cat ${goodFile}` });
  assert.equal(setting.code, 0, setting.stderr);
  assert.equal(setting.stdout, 'No thebacknd machines.\n');

  const usage = await run('no provider', ['--token-command', `cat ${goodFile}`, 'list']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--token-command applies to one provider: add --provider/);

  assertNoSecrets([...runs.flatMap(([what, r]) => [artefact(`cli stdout (${what})`, r.stdout), artefact(`cli stderr (${what})`, r.stderr)]), ...emulatorArtefacts(emu)]);
});
