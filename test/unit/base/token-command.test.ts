// The token command runner shared by the CLI and the extension (src/base/token-command.ts), with real child
// processes through /bin/sh: the token is the command's stdout; a failure says how the command ended and never
// what it printed on stdout or stderr; a stuck command is stopped at the (injected) timeout, grandchildren too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lifetimeTokenRunner, runTokenCommand, runTokenCommandSync } from '../../../src/base/token-command';
import { Lifetime } from '../../../src/base/lifetime';
import { UserError } from '../../../src/base/errors';
import { artefact, assertNoSecrets, mintSecret } from '../../fixtures/secrets';
import { waitFor } from '../../fixtures/wait';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-tokencmd-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const env = { PATH: process.env.PATH };

/** The rejection's message, which the test then scans for the secrets. */
async function failureOf(p: Promise<string>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `a UserError, not ${String(e)}`);
    return e.message;
  }
  assert.fail('the command should have failed');
}

test("the token is the command's stdout, trimmed; the command gets the environment handed in", async (t) => {
  const token = mintSecret('token printed by a command', 'hc_cmd_');
  const file = path.join(tmp(t), 'token');
  fs.writeFileSync(file, `\n${token}\n`, { mode: 0o600 });
  assert.equal(await runTokenCommand('hetzner', `cat "$TOKEN_FILE"`, { env: { ...env, TOKEN_FILE: file } }), token);
  assert.equal(runTokenCommandSync('hetzner', `cat "$TOKEN_FILE"`, { env: { ...env, TOKEN_FILE: file } }), token);
});

test('a failing command: only its exit status and the hint, never its stdout or stderr', async () => {
  const token = mintSecret('token a failing command printed', 'dop_v1_');
  const stderrSecret = mintSecret('secret a failing command printed on stderr', 'err_');
  const command = `echo ${token}; echo "gpg: wrong passphrase for ${stderrSecret}" >&2; exit 3`;
  const hint = 'Run it in a terminal to see why (setting thebacknd.digitalocean.tokenCommand).';
  const message = await failureOf(runTokenCommand('digitalocean', command, { env, hint }));
  assert.equal(message, `The DigitalOcean token command failed (exit status 3); its output is not shown. ${hint}`);
  // The CLI's variant: the same message (its stderr is the user's terminal, not this test's: not captured here).
  let sync = '';
  try {
    runTokenCommandSync('digitalocean', `echo ${token}; exit 3`, { env });
  } catch (e) {
    sync = (e as Error).message;
  }
  assert.equal(sync, 'The DigitalOcean token command failed (exit status 3); its output is not shown.');
  assertNoSecrets([artefact('async failure', message), artefact('sync failure', sync)]);
});

test('output that cannot be a token alone is refused without being repeated', async () => {
  const token = mintSecret('token a chatty command printed', 'hc_');
  const chatty = await failureOf(runTokenCommand('hetzner', `echo "token: ${token}"`, { env }));
  assert.match(chatty, /printed more than one word: it should print the token alone \(its output is not shown\)/);
  const empty = await failureOf(runTokenCommand('hetzner', 'true', { env }));
  assert.match(empty, /printed nothing: it should print the token alone/);
  // A runaway command (yes prints forever) is stopped once its output passes any token's size.
  const flood = await failureOf(runTokenCommand('hetzner', `yes ${token}`, { env }));
  assert.match(flood, /printed more than 64 KiB/);
  assertNoSecrets([artefact('chatty', chatty), artefact('empty', empty), artefact('flood', flood)]);
});

test('a command that never ends is stopped at the timeout, with a child that holds its output open', async (t) => {
  const dir = tmp(t);
  const pidFile = path.join(dir, 'grandchild.pid');
  // The shell waits on a grandchild that keeps stdout open: killing only the shell would leave the pipe open and
  // the runner waiting for the grandchild's end (an hour). The runner settles only if the whole group is stopped.
  const command = `sleep 3600 & echo $! > ${pidFile}; wait`;
  const message = await failureOf(runTokenCommand('hetzner', command, { env, timeoutMs: 300, hint: 'HINT' }));
  assert.equal(message, 'The Hetzner token command did not finish within 0.3 s; it was stopped. HINT');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(pid > 0);
  // The grandchild got SIGKILL with its group (a test that fails here hangs until the runner's own timeout).
  await waitFor('the grandchild to be stopped with its group', () => dead(pid));
});

test('a command still running when the extension shuts down is stopped with its group, and shutdown waits for it', async (t) => {
  const dir = tmp(t);
  const pidFile = path.join(dir, 'grandchild.pid');
  const life = new Lifetime();
  // A password manager waiting for a passphrase nobody will type: without the cancel it runs to its timeout (5
  // minutes by default, long after VS Code has closed; 20 s here, so that a runner without the cancel fails, not hangs).
  const run = lifetimeTokenRunner(life, { env, timeoutMs: 20_000, hint: () => 'HINT' });
  const running = run('hetzner', `sleep 3600 & echo $! > ${pidFile}; wait`);
  const pid = await waitFor('the command to start its grandchild', () => (fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8'))) || undefined);
  await life.shutdown();
  const message = await failureOf(running);
  assert.equal(message, 'The Hetzner token command was cancelled: Thebacknd is shutting down.');
  assert.ok(dead(pid), 'the grandchild is gone once shutdown has resolved');
  // After shutdown, a command is not even started.
  assert.equal(await failureOf(run('hetzner', `touch ${path.join(dir, 'ran')}; echo x`)), message);
  assert.equal(fs.existsSync(path.join(dir, 'ran')), false);
});

test("the CLI's synchronous runner stops a stuck command at the timeout too", () => {
  let message = '';
  try {
    runTokenCommandSync('digitalocean', 'exec sleep 3600', { env, timeoutMs: 200 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert.equal(message, 'The DigitalOcean token command did not finish within 0.2 s; it was stopped.');
});

/** Dead: gone, or a zombie nobody has reaped yet. */
function dead(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}
