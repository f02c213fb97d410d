// SIGTERM (a CI job's timeout), SIGHUP (a closed terminal) and SIGQUIT end a `thebacknd run` the way Ctrl-C does:
// the machine it created is destroyed, and the exit code is 128 + the signal's number. The built CLI in its own
// process, against the emulator; the signal is sent once the machine exists (read from stderr, not timed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertClean, emulator, TOKEN } from '../providers/emu';

const CLI = path.resolve(__dirname, '../../../src/cli/main.js');

for (const [sig, code] of [
  ['SIGTERM', 143],
  ['SIGHUP', 129],
  ['SIGQUIT', 131],
  ['SIGINT', 130],
] as const) {
  test(`${sig} during a run destroys the machine and exits ${code}`, { timeout: 60_000 }, async (t) => {
    const emu = await emulator(t);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-signal-'));
    t.after(() => fs.rmSync(state, { recursive: true, force: true }));
    const env = { PATH: process.env.PATH ?? '', HCLOUD_TOKEN: TOKEN, THEBACKND_HCLOUD_ENDPOINT: emu.hetznerUrl, THEBACKND_STATE_DIR: state };
    const child = spawn(process.execPath, [CLI, 'run', '-p', 'hetzner', '--bare', '--image', 'debian-12'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Printed once the create has answered: the machine exists.
      if (!sent && /Waiting until thebacknd-\d+ is running/.test(stderr)) {
        sent = true;
        child.kill(sig);
      }
    });
    const exit = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.ok(sent, stderr);
    assert.equal(exit, code, stderr);
    assert.match(stderr, /thebacknd: cancelled\./);
    assert.equal([...emu.state.servers.values()].length, 0, `the machine is destroyed: ${stderr}`);
    assertClean(emu);
  });
}
