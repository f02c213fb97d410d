// `thebacknd reaper`: the arguments it refuses (exit 2, one line, no stack), and deploy → status → remove through
// main() against the emulated DigitalOcean Functions, with the state file it keeps for `thebacknd run`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../../src/cli/main';
import { startEmulator, type Emulator } from '../../fixtures/emulator';

const TOKEN = 'cli-reaper-token-0123456789abcdef';

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (c: Buffer, _e, done) => (add(c.toString()), done()) });
  const code = await main(args, {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env,
    interactive: false,
    providerOptions: { retry: { retries: 1, baseDelayMs: 5, maxDelayMs: 10 } },
  });
  return { code, stdout, stderr };
}

function env(emu: Emulator | undefined, stateDir: string, over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DIGITALOCEAN_ACCESS_TOKEN: TOKEN,
    THEBACKND_STATE_DIR: stateDir,
    ...(emu ? { THEBACKND_DO_ENDPOINT: emu.doUrl, THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl } : {}),
    ...over,
  };
}

test('reaper: wrong arguments are usage errors (exit 2) naming what to do', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-reaper-'));
  try {
    const cases: [string[], RegExp][] = [
      [['reaper'], /reaper takes one of deploy, status, remove/],
      [['reaper', 'launch'], /reaper takes one of deploy, status, remove/],
      [['reaper', 'deploy', '--interval', '25'], /25 minutes does not divide the hour .* use 20 or 30 \(--interval\)/],
      [['reaper', 'deploy', '--interval', '0'], /--interval must be a whole number from 1 to 120/],
      [['reaper', 'deploy', '--max-age', 'soon'], /--max-age must be a whole number/],
      [['reaper', 'deploy', '--region', 'Mars'], /--region must be a DigitalOcean region/],
      [['reaper', 'status', '--interval', '20'], /--interval does not apply to reaper status/],
    ];
    for (const [args, expected] of cases) {
      const r = await run(args, env(undefined, dir));
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expected);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    const noToken = await run(['reaper', 'deploy'], { THEBACKND_STATE_DIR: dir, HCLOUD_TOKEN: TOKEN });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /runs on DigitalOcean Functions: set DIGITALOCEAN_ACCESS_TOKEN/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reaper deploy keeps its state 0600 and prints the cost; status shows the trigger; remove undoes it all', async (t) => {
  const emu = await startEmulator();
  t.after(() => emu.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-reaper-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const none = await run(['reaper', 'status'], env(emu, dir));
  assert.equal(none.code, 1);
  assert.match(none.stdout, /No cloud reaper.*thebacknd reaper deploy/);

  const d = await run(['reaper', 'deploy', '--interval', '30', '--region', 'fra1'], env(emu, dir));
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /destroy-old every 30 min \(\*\/30 \* \* \* \*\)/);
  assert.match(d.stdout, /It reaps tagged DigitalOcean machines/, 'no Hetzner token: DigitalOcean only');
  assert.match(d.stdout, /about 1,440 activations a month.*free 90,000 GiB-s a month, so \$0\.00 a month/);
  const file = path.join(dir, 'reaper.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { secret: string; url: string };
  assert.ok(!d.stdout.includes(stored.secret) && !d.stderr.includes(stored.secret) && !d.stdout.includes(TOKEN));
  assert.equal([...emu.functions.namespaces.values()][0]?.region, 'fra1');

  const s = await run(['reaper', 'status'], env(emu, dir));
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /4 of 4 actions/);
  assert.match(s.stdout, /Trigger thebacknd-destroy-old: \*\/30 \* \* \* \*; last run never; next run \d{4}-/);

  const r = await run(['reaper', 'remove'], env(emu, dir));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Deleted the namespace Thebacknd had created/);
  assert.ok(!fs.existsSync(file), 'the secret is forgotten');
  assert.equal(emu.functions.namespaces.size, 0);
});
