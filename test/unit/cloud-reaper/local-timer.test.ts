// `thebacknd reaper install --local`: the built CLI in its own process writes a systemd user timer into a
// temporary XDG_CONFIG_HOME (checked by the real `systemd-analyze verify`), a launchd agent (parsed back), or prints
// a crontab line whose command is run for real with `sh -c` against the emulator. There is no systemd user session
// here (XDG_RUNTIME_DIR is an empty directory), so the install must say so and print the manual commands.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installLocal, removeLocal, writeManagedTokenFile } from '../../../src/cloud-reaper/local-install';
import { crontabLine, launchdPlist, systemdUnits, timerPaths, type TimerSpec } from '../../../src/cloud-reaper/local-timer';
import { CLI_COMPILED, runCli, runProcess, type ProcessRun as Run } from '../../fixtures/cli';
import { parsePlist } from '../../fixtures/plist';
import { artefact, assertNoSecrets, dirArtefacts, mintSecret } from '../../fixtures/secrets';
import { assertClean, emulator, existing, seed } from '../providers/emu';

const CLI = CLI_COMPILED;
const TOKEN = mintSecret('hetzner-token (local timer)', 'hc_');

interface Home {
  dir: string;
  env: NodeJS.ProcessEnv;
  tokenFile: string;
  unitDir: string;
}

/** A fresh HOME with XDG directories, a 0600 token file in a folder whose name needs quoting, and no user bus. */
function home(t: TestContext): Home {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-timer-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  const secrets = path.join(dir, "my tokens $HOME 'x'");
  fs.mkdirSync(secrets);
  const tokenFile = path.join(secrets, 'hetzner.token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_STATE_HOME: path.join(dir, 'state'),
    XDG_RUNTIME_DIR: run,
  };
  return { dir, env, tokenFile, unitDir: path.join(dir, 'config', 'systemd', 'user') };
}

const run = (file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> => runProcess(file, args, { env });

const cli = (args: string[], env: NodeJS.ProcessEnv) => runCli(args, { env }, CLI);

function assertNoStack(r: Run): void {
  assert.ok(!/\bat .*:\d+:\d+/.test(r.stderr), `no stack trace: ${r.stderr}`);
}

test('systemd: the units pass systemd-analyze verify, call this thebacknd by path, and say how to start them without a user bus', async (t) => {
  const h = home(t);
  const r = await cli(
    ['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile, '--endpoint', 'http://127.0.0.1:9/v1?a=50%&b=$x', '--every', '7'],
    h.env,
  );
  assertNoStack(r);
  assert.equal(r.code, 1, 'the timer is not running: that is a failure to report');
  assert.match(r.stderr, /The timer is not running: `systemctl --user daemon-reload` failed: /);
  assert.match(r.stderr, /^ {2}systemctl --user enable --now thebacknd-reaper-hetzner\.timer$/m);
  assert.match(r.stderr, /thebacknd reaper install --local --crontab/);

  const service = fs.readFileSync(path.join(h.unitDir, 'thebacknd-reaper-hetzner.service'), 'utf8');
  const timer = fs.readFileSync(path.join(h.unitDir, 'thebacknd-reaper-hetzner.timer'), 'utf8');
  const exec = /^ExecStart=(.*)$/m.exec(service)?.[1];
  assert.equal(
    exec,
    `"${process.execPath}" "${CLI}" "--provider" "hetzner" "--token-file" "${h.tokenFile.replace('$HOME', '$$$$HOME')}" "destroy-old"`,
    'absolute node and script; the token file, never the token; $ doubled so systemd does not expand it',
  );
  assert.match(service, /^Environment="THEBACKND_HCLOUD_ENDPOINT=http:\/\/127\.0\.0\.1:9\/v1\?a=50%%&b=\$x"$/m, '% doubled (specifiers)');
  assert.match(timer, /^OnUnitActiveSec=7min$/m);
  assert.match(timer, /^WantedBy=timers\.target$/m);

  // The real verifier, as a user manager would load them: exit 0 and not a single warning.
  const verify = await run(
    'systemd-analyze',
    ['--user', 'verify', path.join(h.unitDir, 'thebacknd-reaper-hetzner.timer'), path.join(h.unitDir, 'thebacknd-reaper-hetzner.service')],
    h.env,
  );
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warning from systemd-analyze');
  assertNoSecrets([artefact('stdout', r.stdout), artefact('stderr', r.stderr), ...dirArtefacts('units', h.unitDir)]);
});

test('systemd-analyze verify catches a broken unit (the check above can fail)', async (t) => {
  const h = home(t);
  await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile], h.env);
  const file = path.join(h.unitDir, 'thebacknd-reaper-hetzner.service');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('Type=oneshot', 'Type=oneshot\nExecStartt=/bin/true'));
  const verify = await run('systemd-analyze', ['--user', 'verify', file], h.env);
  assert.match(verify.stderr, /Unknown key 'ExecStartt'/);
});

test('a token file that group or others can read is refused, and nothing is written', async (t) => {
  const h = home(t);
  for (const mode of [0o644, 0o640, 0o604]) {
    fs.chmodSync(h.tokenFile, mode);
    const r = await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile], h.env);
    assert.equal(r.code, 1, `mode ${mode.toString(8)}`);
    assertNoStack(r);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`can be read by other users \\(mode 0${mode.toString(8)}\\)\\..*chmod 600 `));
    assert.ok(!fs.existsSync(h.unitDir), 'no unit written');
  }
  fs.chmodSync(h.tokenFile, 0o600);
  const noFile = await cli(['reaper', 'install', '--local', '--provider', 'hetzner'], { ...h.env, HCLOUD_TOKEN: TOKEN });
  assert.equal(noFile.code, 2, 'a token from the environment is not taken: the timer would need it on its command line');
  assert.match(noFile.stderr, /reads the token from a file only: pass --provider P --token-file FILE \(mode 0600\)/);
  const noLocal = await cli(['reaper', 'install', '--provider', 'hetzner', '--token-file', h.tokenFile], h.env);
  assert.equal(noLocal.code, 2);
  assert.match(noLocal.stderr, /needs --local/);
  const badEvery = await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile, '--every', '0'], h.env);
  assert.equal(badEvery.code, 2);
  assert.match(badEvery.stderr, /--every must be a whole number of minutes from 1 to 120/);
  assert.ok(!fs.existsSync(h.unitDir));
  assertNoSecrets([artefact('stderr', noFile.stderr + noLocal.stderr + badEvery.stderr)]);
});

test('--remove stops and deletes the units; removing again says there is nothing', async (t) => {
  const h = home(t);
  await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile], h.env);
  assert.equal(fs.readdirSync(h.unitDir).length, 2);
  const r = await cli(['reaper', 'install', '--local', '--remove', '--provider', 'hetzner'], h.env);
  assertNoStack(r);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Removed .*thebacknd-reaper-hetzner\.timer and .*thebacknd-reaper-hetzner\.service\.$/m);
  assert.match(r.stdout, /Could not reach the systemd user manager: .*systemctl --user stop thebacknd-reaper-hetzner\.timer/);
  assert.deepEqual(fs.readdirSync(h.unitDir), []);
  const again = await cli(['reaper', 'install', '--local', '--remove'], h.env);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /No local reaper timer for Hetzner is installed here\./);
  assert.match(again.stdout, /No local reaper timer for DigitalOcean is installed here\./);
});

test("--remove deletes the token file Install Local Reaper Timer… wrote, and says so; a token file of the user's own stays", async (t) => {
  const h = home(t);
  // The extension's command writes the token with this (then runs the install below); the README's hand-made file
  // at ~/.config/thebacknd/hetzner.token, for the command line, is the user's.
  const paths = timerPaths(h.env, h.dir);
  const written = writeManagedTokenFile(paths, 'hetzner', TOKEN);
  assert.equal(fs.statSync(written).mode & 0o777, 0o600);
  const hand = path.join(h.dir, 'config', 'thebacknd', 'hetzner.token');
  fs.writeFileSync(hand, `${TOKEN}\n`, { mode: 0o600 });
  const installed = await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', written], h.env);
  assert.match(installed.stderr, /The timer is not running/);
  const r = await cli(['reaper', 'install', '--local', '--remove', '--provider', 'hetzner'], h.env);
  assertNoStack(r);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.existsSync(written), false, 'the token file it wrote is gone');
  assert.ok(r.stdout.includes(`Removed the token file ${written} that Install Local Reaper Timer… wrote.`), r.stdout);
  assert.equal(fs.readFileSync(hand, 'utf8'), `${TOKEN}\n`, 'the hand-made one stays');
  assert.ok(r.stdout.includes(`Kept the token file ${hand}`), r.stdout);
  assertNoSecrets([artefact('stdout', r.stdout), artefact('stderr', r.stderr)]);

  // Installed with a token file of the user's own elsewhere: --remove leaves it, and claims no token file removed.
  await cli(['reaper', 'install', '--local', '--provider', 'hetzner', '--token-file', h.tokenFile], h.env);
  const own = await cli(['reaper', 'install', '--local', '--remove', '--provider', 'hetzner'], h.env);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(fs.readFileSync(h.tokenFile, 'utf8'), `${TOKEN}\n`);
  assert.doesNotMatch(own.stdout, /Removed the token file/);
});

test('launchd: the agent is a well-formed plist running this thebacknd every period, and says how to load it', async (t) => {
  const h = home(t);
  const paths = timerPaths(h.env, h.dir);
  const spec: TimerSpec = {
    provider: 'hetzner',
    tokenFile: h.tokenFile,
    everyMinutes: 20,
    node: process.execPath,
    script: CLI,
    endpoint: { name: 'THEBACKND_HCLOUD_ENDPOINT', url: 'http://127.0.0.1:9/v1?a=1&b=<2>' },
  };
  const calls: string[][] = [];
  // launchctl does not exist on Linux: the outcome is the one a Mac without a GUI session gives.
  const outcome = await installLocal(spec, {
    platform: 'darwin',
    paths,
    crontab: false,
    uid: 501,
    exec: async (file, args) => (calls.push([file, ...args]), { code: undefined, output: `${file} not found`, missing: true }),
  });
  assert.equal(outcome.ok, false);
  assert.deepEqual(calls, [
    ['launchctl', 'bootout', 'gui/501/org.thebacknd.reaper.hetzner'],
    ['launchctl', 'bootstrap', 'gui/501', path.join(h.dir, 'Library/LaunchAgents/org.thebacknd.reaper.hetzner.plist')],
  ]);
  assert.ok(outcome.lines.some((l) => l.includes(`launchctl bootstrap gui/501 ${path.join(h.dir, 'Library/LaunchAgents/org.thebacknd.reaper.hetzner.plist')}`)));
  const text = fs.readFileSync(path.join(h.dir, 'Library/LaunchAgents/org.thebacknd.reaper.hetzner.plist'), 'utf8');
  assert.deepEqual(parsePlist(text), {
    Label: 'org.thebacknd.reaper.hetzner',
    ProgramArguments: [process.execPath, CLI, '--provider', 'hetzner', '--token-file', h.tokenFile, 'destroy-old'],
    EnvironmentVariables: { THEBACKND_HCLOUD_ENDPOINT: 'http://127.0.0.1:9/v1?a=1&b=<2>' },
    StartInterval: 1200,
    RunAtLoad: true,
    ProcessType: 'Background',
    Umask: 63,
    StandardOutPath: path.join(h.dir, 'Library/Logs/thebacknd-reaper-hetzner.log'),
    StandardErrorPath: path.join(h.dir, 'Library/Logs/thebacknd-reaper-hetzner.log'),
  });
  assert.throws(() => parsePlist(text.replace('</dict>\n</plist>', '</plist>')), /not well-formed XML/, 'the parser does reject a broken plist');
  assertNoSecrets([artefact('plist', text), artefact('outcome', outcome.lines.join('\n'))]);

  const removed = await removeLocal(['hetzner'], { platform: 'darwin', paths, crontab: false, uid: 501, exec: async () => ({ code: 0, output: '', missing: false }) });
  assert.match(removed.lines.join('\n'), /Unloaded and removed .*org\.thebacknd\.reaper\.hetzner\.plist/);
  assert.deepEqual(fs.readdirSync(path.join(h.dir, 'Library/LaunchAgents')), []);
});

test('crontab: the printed line runs as cron would (sh -c) and destroys a due machine with no token in the environment', async (t) => {
  const emu = await emulator(t);
  const h = home(t);
  const basic = (d: Date) =>
    d
      .toISOString()
      .replace(/\.\d{3}/, '')
      .replace(/[-:]/g, '');
  const due = seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true, deadline: basic(new Date(Date.now() - 5 * 60_000)) });
  const keep = seed(emu, 'hetzner', { name: 'thebacknd-2', tagged: true, deadline: basic(new Date(Date.now() + 30 * 60_000)) });
  const foreign = seed(emu, 'hetzner', { name: 'db', tagged: false });

  const r = await cli(['reaper', 'install', '--local', '--crontab', '--provider', 'hetzner', '--token-file', h.tokenFile, '--endpoint', emu.hetznerUrl, '--every', '15'], h.env);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => /^[*0-9]/.test(l));
  assert.ok(line, r.stdout);
  const [, schedule, command] = /^(\S+ \S+ \S+ \S+ \S+) (.*)$/.exec(line)!;
  assert.equal(schedule, '*/15 * * * *');
  assert.ok(!command!.includes('%'), 'cron would turn a % into a line break');
  assert.ok(command!.includes(process.execPath) && command!.includes(CLI), 'this thebacknd, by absolute path');
  assert.deepEqual(existing(emu, 'hetzner').sort(), [due, keep, foreign].sort(), 'installing destroys nothing');

  // Cron's environment: no token, no endpoint variable, a bare PATH.
  const ran = await new Promise<{ err: Error | null; stdout: string; stderr: string }>((resolve) =>
    execFile('/bin/sh', ['-c', command!], { env: { PATH: '/usr/bin:/bin', HOME: h.dir } }, (err, stdout, stderr) => resolve({ err, stdout, stderr })),
  );
  assert.equal(ran.err, null, ran.stderr);
  assert.deepEqual(existing(emu, 'hetzner').sort(), [keep, foreign].sort());
  const log = fs.readFileSync(path.join(h.dir, 'state/thebacknd/thebacknd-reaper-hetzner.log'), 'utf8');
  assert.match(log, /Destroyed thebacknd-1: deadline passed 5 min ago\./);
  assertNoSecrets([artefact('stdout', r.stdout), artefact('cron output', ran.stdout + ran.stderr), artefact('log', log)]);
  assertClean(emu);
});

test('crontab schedules never run less often than asked; % and line breaks are refused, not escaped', () => {
  const spec = (everyMinutes: number, over: Partial<TimerSpec> = {}): TimerSpec => ({ provider: 'hetzner', tokenFile: '/t', everyMinutes, node: '/n', script: '/s', ...over });
  const at = (n: number) => crontabLine(spec(n), '/log').schedule;
  assert.deepEqual([1, 7, 20, 59, 60, 90, 119, 120].map(at), ['*/1 * * * *', '*/7 * * * *', '*/20 * * * *', '*/59 * * * *', '0 * * * *', '0 * * * *', '0 * * * *', '0 */2 * * *']);
  assert.throws(() => crontabLine(spec(20, { tokenFile: '/a%b' }), '/log'), /Cron reads "%" as a line break: "\/a%b"/);
  assert.throws(() => crontabLine(spec(20), '/log\n* * * * * rm -rf ~'), /line break or control character/);
  assert.throws(() => systemdUnits(spec(20, { tokenFile: '/t\nExecStartPre=/bin/evil' })), /line break or control character/);
  assert.throws(() => launchdPlist(spec(20, { script: '/s\u0000' }), '/log'), /line break or control character/);
});
