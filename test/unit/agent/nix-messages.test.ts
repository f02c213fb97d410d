// The agent's reading of Nix's failure messages (fetch_failure in nix/agent/thebacknd-agent.sh), for the wordings
// of the Nix on the tests' machine (Debian's 2.8, also run for real in agent.test.ts) and of current Nix on real
// machines. The ≥ 2.10 line is Nix's own format string (src/libstore/build/substitution-goal.cc in NixOS/nix:
// "ignoring substitute for '%s' from '%s', as it's not signed by any of the keys in 'trusted-public-keys'").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAgentLine } from '../../../src/agent/log';

const run = promisify(execFile);
const agent = path.resolve(__dirname, '../../../../nix/agent/thebacknd-agent.sh');
const P = '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-test';
const U = 'https://cache.example/bucket';

/** Sources the agent (definitions only) and runs fetch_failure on a log holding `stderr`. */
async function explain(stderr: string): Promise<ReturnType<typeof parseAgentLine>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-nixmsg-'));
  try {
    fs.writeFileSync(path.join(dir, 'fetch.log'), stderr);
    const script = `source "$1"; user_data=/dev/null; log_file="$2/agent.log"; fetch_failure "$2/fetch.log" "$3"`;
    const out = await run('bash', ['-c', script, 'bash', agent, dir, P], { encoding: 'utf8' }).catch((e: { stdout: string }) => e);
    const line = out.stdout.trim().split('\n').pop() ?? '';
    return parseAgentLine(line);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const wordings: [string, string][] = [
  [
    'Nix 2.8',
    `warning: the substitute for '${P}' from '${U}' is not signed by any of the keys in 'trusted-public-keys'\nerror: path '${P}' is required, but there is no substituter that can build it\n`,
  ],
  [
    'Nix >= 2.10',
    `warning: ignoring substitute for '${P}' from '${U}', as it's not signed by any of the keys in 'trusted-public-keys'\nerror: path '${P}' is required, but there is no substituter that can build it\n`,
  ],
];

for (const [nix, stderr] of wordings) {
  test(`a substitute signed by another key is untrusted-signature with its path (${nix} wording)`, async () => {
    const ev = await explain(stderr);
    assert.equal(ev?.stage, 'failed');
    const f = ev as Extract<typeof ev, { stage: 'failed' }>;
    assert.equal(f.reason, 'untrusted-signature');
    assert.equal(f.path, P);
  });
}

test('another error is not mistaken for a signature problem', async () => {
  const ev = (await explain(`error: cannot connect to socket at '/nix/var/nix/daemon-socket/socket'\n`)) as { reason?: string };
  assert.equal(ev.reason, 'fetch-failed');
});
