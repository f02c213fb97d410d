// The machine-side deploy script: shellcheck-clean, and installed by the base image's module on PATH as
// `thebacknd-deploy`, the very file, with the tools it needs in front of a root login's PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { moduleStandIn } from '../../fixtures/nix-module-stand-in';

const run = promisify(execFile);
const nixDir = path.resolve(__dirname, '../../../../nix');
const script = path.join(nixDir, 'agent', 'thebacknd-deploy.sh');

test('the deploy script is shellcheck-clean', async () => {
  try {
    await run('shellcheck', ['--shell=bash', script], { encoding: 'utf8' });
  } catch (err) {
    const e = err as Error & { stdout?: string };
    assert.fail(`shellcheck: ${e.stdout || e.message}`);
  }
});

test('the module puts thebacknd-deploy on PATH: the script as is, after a PATH with jq, nix, setsid and systemd', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-nixeval-'));
  try {
    const file = path.join(dir, 'eval.nix');
    fs.writeFileSync(
      file,
      `let
${moduleStandIn(path.join(nixDir, 'module.nix'))}
      in map (p: { inherit (p) name text; }) (builtins.filter (p: p.name == "thebacknd-deploy") m.config.environment.systemPackages)`,
    );
    const { stdout } = await run('nix', ['eval', '--json', '--file', file], { env: { ...process.env, NIX_CONFIG: 'experimental-features = nix-command' }, encoding: 'utf8' });
    const [pkg] = JSON.parse(stdout) as { name: string; text: string }[];
    assert.ok(pkg, 'thebacknd-deploy is in environment.systemPackages');
    const [first, ...rest] = pkg.text.split('\n');
    assert.equal(first, 'export PATH=bash/bin:coreutils/bin:jq/bin:gnugrep/bin:gnused/bin:util-linux/bin:nix/bin:systemd/bin:$PATH');
    assert.equal(rest.join('\n'), `${fs.readFileSync(script, 'utf8')}\n`, 'the script follows, as is');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
