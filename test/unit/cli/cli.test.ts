// The `thebacknd` command end to end: the built CLI in its own process, talking to the emulator through the
// environment a user would set; stdout, stderr and exit codes are what is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { COMMANDS, main } from '../../../src/cli/main';
import { GLOBAL_OPTIONS, type CommandSpec } from '../../../src/cli/command';
import type { Machine } from '../../../src/providers/types';
import { bootTargetOf, parseUserData } from '../../../src/agent/user-data';
import { loadMachineKeys } from '../../../src/ssh/keys';
import { formatDeadline } from '../../../src/providers/tags';
import { assertClean, emulator, existing, seed, TOKEN } from '../providers/emu';
import type { Emulator } from '../../fixtures/emulator';
import { cliEnv, runCli } from '../../fixtures/cli';

const root = path.resolve(__dirname, '../../../..');

function env(emu: Emulator, over: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cliEnv(emu, { digitalocean: TOKEN, hetzner: TOKEN }, over);
}

const cli = (args: string[], environment: NodeJS.ProcessEnv) => runCli(args, { env: environment, killAfterMs: 60_000 });

function assertOneCleanLine(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${stderr}`);
  assert.match(lines[0]!, /^thebacknd: /);
  assert.ok(!/\bat .*:\d+:\d+/.test(stderr), 'no stack trace');
  assert.ok(!stderr.includes(TOKEN), 'never the token');
}

const MACHINE_KEYS = ['createdAt', 'currency', 'deadline', 'id', 'ipv4', 'ipv6', 'name', 'pricePerHour', 'provider', 'region', 'runId', 'size', 'status', 'tagged', 'toplevel'];

test('help, version and wrong arguments', async (t) => {
  const emu = await emulator(t);
  const e = env(emu);
  const help = await cli(['--help'], e);
  assert.equal(help.code, 0);
  for (const c of ['list', 'create', 'destroy', 'destroy-all', 'destroy-old', 'extend']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  const version = await cli(['--version'], e);
  assert.equal(version.stdout.trim(), JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
  for (const args of [['bogus'], ['list', '--provider', 'aws'], ['extend', 'thebacknd-1'], ['list', '--no-such-flag'], ['list', '--endpoint', 'http://x']]) {
    const r = await cli(args, e);
    assert.equal(r.code, 2, `${args.join(' ')} is a usage error`);
    assertOneCleanLine(r.stderr);
  }
  const none = await cli(['list'], env(emu, { DIGITALOCEAN_ACCESS_TOKEN: undefined, HCLOUD_TOKEN: undefined }));
  assert.equal(none.code, 1);
  assert.match(none.stderr, /No cloud token: set DIGITALOCEAN_ACCESS_TOKEN and\/or HCLOUD_TOKEN/);
  assertClean(emu);
});

test('extend refuses to move a deadline past the longest lifetime the reaper honours (exit 1, what is left, deadline unchanged)', async (t) => {
  const emu = await emulator(t);
  // Created 7 days ago (whole seconds): the reaper honours a deadline up to creation + 8 days, 20 min above this one.
  const created = Math.floor(Date.now() / 1000) * 1000 - 7 * 24 * 3_600_000;
  const deadline = new Date(created + 8 * 24 * 3_600_000 - 20 * 60_000);
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true, deadline: formatDeadline(deadline), createdAt: new Date(created).toISOString() });
  const e = env(emu);
  const r = await cli(['extend', 'thebacknd-1', '30'], e);
  assert.equal(r.code, 1, r.stdout);
  assertOneCleanLine(r.stderr);
  assert.match(r.stderr, /thebacknd-1 .*at most 20 min/);
  const [after] = JSON.parse((await cli(['list', '--json'], e)).stdout) as Machine[];
  assert.equal(after!.deadline, deadline.toISOString(), 'the deadline is unchanged');
  const ok = await cli(['extend', 'thebacknd-1', '20'], e);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse((await cli(['list', '--json'], e)).stdout)[0].deadline, new Date(created + 8 * 24 * 3_600_000).toISOString());
  assertClean(emu);
});

test('list --json prints the tagged machines of both providers as Machine objects', async (t) => {
  const emu = await emulator(t);
  seed(emu, 'digitalocean', { name: 'thebacknd-1', tagged: true, deadline: '20991231T000000Z' });
  seed(emu, 'digitalocean', { name: 'web', tagged: false });
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true });
  seed(emu, 'hetzner', { name: 'db', tagged: false });
  const r = await cli(['list', '--json'], env(emu));
  assert.equal(r.code, 0, r.stderr);
  const machines = JSON.parse(r.stdout) as Machine[];
  assert.deepEqual(machines.map((m) => `${m.provider}/${m.name}`).sort(), ['digitalocean/thebacknd-1', 'hetzner/thebacknd-1']);
  for (const m of machines) assert.deepEqual(Object.keys(m).sort(), MACHINE_KEYS);
  assert.equal(machines.find((m) => m.provider === 'digitalocean')?.deadline, '2099-12-31T00:00:00.000Z');

  const one = JSON.parse((await cli(['list', '--json', '--provider', 'hetzner'], env(emu))).stdout) as Machine[];
  assert.deepEqual(
    one.map((m) => m.provider),
    ['hetzner'],
  );
  const text = await cli(['list'], env(emu));
  assert.match(text.stdout, /^PROVIDER +NAME +ID +STATUS/);
  assert.match(text.stdout, /DigitalOcean +thebacknd-1 .* running /);
  assertClean(emu);
});

test('create, extend and destroy by name, with the deadline on the provider clock', async (t) => {
  const emu = await emulator(t);
  emu.setClock(3 * 3_600_000); // the local clock is 3 h behind the cloud: deadlines follow the cloud
  const e = env(emu);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-state-'));
  t.after(() => fs.rmSync(state, { recursive: true, force: true }));
  const createFrom = Date.now();
  const made = await cli(['create', '--provider', 'hetzner', '--image', 'debian-12', '--minutes', '30', '--state-dir', state, '--json'], e);
  const createTo = Date.now();
  assert.equal(made.code, 0, made.stderr);
  const m = JSON.parse(made.stdout) as Machine;
  assert.equal(m.name, 'thebacknd-1');
  assert.equal(m.region, 'fsn1');
  // The default user-data is a valid bare run, with the login key kept here (the agent rejects `{}`).
  const data = parseUserData(emu.state.servers.get(Number(m.id))!.userData);
  assert.deepEqual(bootTargetOf(data), { kind: 'bare' });
  const keys = (await loadMachineKeys(state, m.runId!))!;
  assert.deepEqual(data.authorizedKeys, [keys.loginPublicKey.trim()]);
  assert.equal(data.hostKey?.public, keys.hostPublicKey.trim());
  assert.equal(
    (await cli(['create', '--provider', 'hetzner', '--toplevel', '/nix/store/lk6igl2f0i137q36wscfrc6n9r0jn52l-x'], e)).code,
    2,
    'create --toplevel is gone: thebacknd run does it for real',
  );
  // 30 min after the cloud's time at the create (3 h ahead of ours; whole seconds, as the label stores it).
  const deadline = Date.parse(m.deadline!) - 3 * 3_600_000 - 30 * 60_000;
  assert.ok(deadline >= createFrom - 2000 && deadline <= createTo + 2000, `deadline 30 min ahead of the cloud's clock (${deadline - createFrom} ms after the create began)`);

  const extendFrom = Date.now();
  const ext = await cli(['extend', 'thebacknd-1', '15'], e);
  const extendTo = Date.now();
  assert.equal(ext.code, 0, ext.stderr);
  // "in N min" on the cloud's clock at the extend: 45 min unless the machine has run for a while by then.
  const said = /^thebacknd-1: deadline (\S+) \(in (\d+) min\)\.$/m.exec(ext.stdout);
  assert.ok(said, ext.stdout);
  const extended = Date.parse(said[1]!) - 3 * 3_600_000;
  const inMin = Number(said[2]);
  assert.ok(
    inMin >= Math.floor((extended - extendTo) / 60_000) && inMin <= Math.floor((extended - extendFrom + 2000) / 60_000) && inMin <= 45,
    `${ext.stdout} (read ${(extendFrom - createFrom) / 1000} s after the create)`,
  );
  const [after] = JSON.parse((await cli(['list', '--json'], e)).stdout) as Machine[];
  assert.equal(Date.parse(after!.deadline!) - Date.parse(m.deadline!), 15 * 60_000);

  const gone = await cli(['destroy', 'thebacknd-1'], e);
  assert.equal(gone.code, 0, gone.stderr);
  assert.match(gone.stdout, /Destroyed thebacknd-1 \(Hetzner \d+\)/);
  assert.deepEqual(existing(emu, 'hetzner'), []);
  const again = await cli(['destroy', 'thebacknd-1'], e);
  assert.equal(again.code, 1);
  assertOneCleanLine(again.stderr);
  assert.match(again.stderr, /No thebacknd machine named or numbered "thebacknd-1"/);

  const bad = await cli(['create', '--provider', 'digitalocean', '--image', 'debian-12-x64', '--region', 'mars1'], e);
  assert.equal(bad.code, 1);
  assertOneCleanLine(bad.stderr);
  assert.match(bad.stderr, /no region "mars1"\. Valid regions: .*ams3/);
  assertClean(emu);
});

test('create on Hetzner refuses --ipv6-only and Arm types up front (the base image cannot boot them): usage, no API call', async (t) => {
  const emu = await emulator(t);
  const e = env(emu);
  const before = emu.requests.length;
  const v6 = await cli(['create', '--provider', 'hetzner', '--image', 'debian-12', '--ipv6-only'], e);
  assert.equal(v6.code, 2);
  assertOneCleanLine(v6.stderr);
  assert.match(v6.stderr, /IPv6-only Hetzner machines are not supported: .*drop --ipv6-only/);
  const arm = await cli(['create', '--provider', 'hetzner', '--image', 'debian-12', '--size', 'cax11'], e);
  assert.equal(arm.code, 2);
  assertOneCleanLine(arm.stderr);
  assert.match(arm.stderr, /Hetzner Arm server types \(cax11\) are not supported: the Thebacknd base image is x86-64 only/);
  assert.equal(emu.requests.length, before, 'refused before any API call');
  assert.deepEqual(existing(emu, 'hetzner'), []);
  assertClean(emu);
});

test("regions, sizes and images; create without --image takes the account's only Thebacknd image, or says there is none", async (t) => {
  const emu = await emulator(t);
  const e = env(emu);
  const sizes = await cli(['sizes', '--provider', 'hetzner', '--json'], e);
  assert.equal(sizes.code, 0, sizes.stderr);
  const cx22 = (JSON.parse(sizes.stdout) as { slug: string; pricePerHour: number; currency: string }[]).find((s) => s.slug === 'cx22');
  assert.ok(cx22 && cx22.pricePerHour > 0 && cx22.currency === 'EUR');
  const regions = await cli(['regions', '--provider', 'digitalocean'], e);
  assert.match(regions.stdout, /^REGION +NAME +AVAILABLE\n(.*\n)*ams3 +Amsterdam/m);
  const images = await cli(['images', '--provider', 'digitalocean'], e);
  assert.match(images.stdout, /debian-12-x64 +distribution/);
  // Without --image: the account's only Thebacknd image (the emulated account has one, "thebacknd", 171010001).
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-state-'));
  t.after(() => fs.rmSync(state, { recursive: true, force: true }));
  const noImage = await cli(['create', '--provider', 'digitalocean', '--state-dir', state, '--json'], e);
  assert.equal(noImage.code, 0, noImage.stderr);
  const made = JSON.parse(noImage.stdout) as Machine;
  assert.equal(emu.state.droplets.get(Number(made.id))?.imageId, 171010001);
  // With none, a clear error before anything is created.
  emu.state.doImages.delete(171010001);
  const none = await cli(['create', '--provider', 'digitalocean', '--state-dir', state], e);
  assert.equal(none.code, 1);
  assertOneCleanLine(none.stderr);
  assert.match(none.stderr, /No Thebacknd base image in this DigitalOcean account: import one \(thebacknd import-image\), or pass --image ID or set \$THEBACKND_DO_IMAGE\./);
  assert.equal(existing(emu, 'digitalocean').length, 1);
  assertClean(emu);
});

test('destroy-all takes every tagged machine and nothing else', async (t) => {
  const emu = await emulator(t);
  const foreign = { digitalocean: seed(emu, 'digitalocean', { name: 'web', tagged: false }), hetzner: seed(emu, 'hetzner', { name: 'thebacknd-9', tagged: false }) };
  for (const id of ['digitalocean', 'hetzner'] as const) for (const n of [1, 2]) seed(emu, id, { name: `thebacknd-${n}`, tagged: true });
  const r = await cli(['destroy-all'], env(emu));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 4);
  assert.deepEqual(existing(emu, 'digitalocean'), [foreign.digitalocean]);
  assert.deepEqual(existing(emu, 'hetzner'), [foreign.hetzner]);
  const none = await cli(['destroy-all'], env(emu));
  assert.equal(none.code, 0);
  assert.match(none.stdout, /No thebacknd machines to destroy/);
  assertClean(emu);
});

test('destroy-all asks on a terminal; only yes destroys', async (t) => {
  const emu = await emulator(t);
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true });
  const run = async (answer: string, args: string[] = ['destroy-all']) => {
    let out = '';
    let err = '';
    const sink = (add: (s: string) => void) => new Writable({ write: (chunk: Buffer, _enc, done) => (add(chunk.toString()), done()) });
    const code = await main(args, {
      stdout: sink((s) => (out += s)),
      stderr: sink((s) => (err += s)),
      stdin: Readable.from([answer]),
      env: env(emu, { DIGITALOCEAN_ACCESS_TOKEN: undefined }),
      interactive: true,
    });
    return { code, out, err };
  };
  const no = await run('n\n');
  assert.equal(no.code, 1);
  assert.match(no.err, /Destroy 1 machine \(thebacknd-1\)\? \[y\/N\] Nothing destroyed\./);
  assert.equal(existing(emu, 'hetzner').length, 1);
  const yes = await run('y\n');
  assert.equal(yes.code, 0, yes.err);
  assert.match(yes.out, /Destroyed thebacknd-1/);
  assert.deepEqual(existing(emu, 'hetzner'), []);
  assertClean(emu);
});

test('destroy-old: past deadline, powered off, and old without a deadline; never untagged', async (t) => {
  const emu = await emulator(t);
  const ago = (min: number) => new Date(Date.now() - min * 60_000);
  const doIso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const basic = (d: Date) =>
    d
      .toISOString()
      .replace(/\.\d{3}/, '')
      .replace(/[-:]/g, '');
  seed(emu, 'digitalocean', { name: 'thebacknd-1', tagged: true, deadline: basic(ago(5)) });
  const fresh = seed(emu, 'digitalocean', { name: 'thebacknd-2', tagged: true, deadline: basic(ago(-30)) });
  seed(emu, 'digitalocean', { name: 'thebacknd-3', tagged: true, createdAt: doIso(ago(90)) });
  const foreignOld = seed(emu, 'digitalocean', { name: 'legacy', tagged: false, createdAt: doIso(ago(900)) });
  const off = seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true, deadline: basic(ago(-30)) });
  emu.powerOff('hetzner', Number(off));
  const keep = seed(emu, 'hetzner', { name: 'thebacknd-2', tagged: true, deadline: basic(ago(-30)) });

  const dry = await cli(['destroy-old', '--dry-run'], env(emu));
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout.trim().split('\n').length, 3);
  assert.equal(existing(emu, 'digitalocean').length, 4);

  const r = await cli(['destroy-old'], env(emu));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Destroyed thebacknd-1: deadline passed 5 min ago\./);
  assert.match(r.stdout, /Destroyed thebacknd-3: no deadline and 90 min old \(max 60 min\)\./);
  assert.match(r.stdout, /Destroyed thebacknd-1: powered off\./);
  assert.deepEqual(existing(emu, 'digitalocean').sort(), [fresh, foreignOld].sort());
  assert.deepEqual(existing(emu, 'hetzner'), [keep]);
  assertClean(emu);
});

test('a rejected token: exit 1, one line naming the provider, no token; the other provider still listed', async (t) => {
  const emu = await emulator(t, { rejectTokens: ['rejected-token-0123456789'] });
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true });
  const e = env(emu, { DIGITALOCEAN_ACCESS_TOKEN: 'rejected-token-0123456789' });
  const only = await cli(['list', '--provider', 'digitalocean'], e);
  assert.equal(only.code, 1);
  assertOneCleanLine(only.stderr);
  assert.match(only.stderr, /The DigitalOcean token was rejected \(HTTP 401\): set a valid one/);
  assert.ok(!only.stderr.includes('rejected-token-0123456789'));

  const both = await cli(['list', '--json'], e);
  assert.equal(both.code, 1, 'a provider failed');
  assert.deepEqual(
    (JSON.parse(both.stdout) as Machine[]).map((m) => m.provider),
    ['hetzner'],
  );
  assert.match(both.stderr, /DigitalOcean: The DigitalOcean token was rejected/);
  assertClean(emu);
});

test('a command gets its parsed options and positionals wherever they stand, and its exit code is the exit code', async () => {
  let seen: unknown;
  const echo: CommandSpec = {
    name: 'echo',
    summary: 'test',
    usage: 'echo …',
    options: { flag: { type: 'string' } },
    run: async (ctx, args) => ((seen = args), ctx.out('hi'), 3),
  };
  let out = '';
  const stdout = new Writable({ write: (c: Buffer, _e, done) => ((out += c.toString()), done()) });
  const code = await main(['--flag', 'x', 'echo', 'y'], { stdout, stderr: stdout, env: {}, interactive: false }, [echo]);
  assert.equal(code, 3);
  assert.deepEqual(JSON.parse(JSON.stringify(seen)), { values: { flag: 'x' }, positionals: ['y'] });
  assert.equal(out, 'hi\n');
});

test('--token-file and --endpoint instead of the environment', async (t) => {
  const emu = await emulator(t);
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  fs.writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
  const bare = { PATH: process.env.PATH ?? '' };
  const r = await cli(['--provider', 'hetzner', '--token-file', file, '--endpoint', emu.hetznerUrl, 'list', '--json'], bare);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as Machine[]).length, 1);
  const missing = await cli(['--provider', 'hetzner', '--token-file', path.join(dir, 'nope'), 'list'], bare);
  assert.equal(missing.code, 1);
  assertOneCleanLine(missing.stderr);
  assert.match(missing.stderr, /Cannot read the token file .*nope \(ENOENT\)/);
  assertClean(emu);
});

test('one parser: a global option before the command is honoured by every command, or refused with exit 2', async (t) => {
  const emu = await emulator(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  // Only DigitalOcean is configured by the environment: a dropped option would land there.
  const e = env(emu, { HCLOUD_TOKEN: undefined, THEBACKND_HCLOUD_ENDPOINT: undefined });
  const est = await cli(['--provider', 'hetzner', '--token-file', tokenFile, '--endpoint', emu.hetznerUrl, 'build', '--workers', '1', '--estimate'], e);
  assert.equal(est.code, 0, est.stderr);
  assert.match(est.stderr, /^Hetzner server types in /m);
  assert.equal(emu.requests.filter((r) => r.path.startsWith('/v2/')).length, 0, 'DigitalOcean got no request');

  const refused: [string[], RegExp][] = [
    [['--provider', 'aws', 'run', '--bare'], /--provider must be one of digitalocean, hetzner/],
    [
      ['-p', 'digitalocean', '--endpoint', 'http://127.0.0.1:9', 'push', '/nix/store/00000000000000000000000000000000-x'],
      /--provider, --endpoint: push talks to no cloud API \(the cache's endpoint is --cache-endpoint\)/,
    ],
    [['--provider', 'hetzner', 'keygen', '--dir', dir], /--provider: keygen talks to no cloud/],
    [['-p', 'hetzner', 'build', '--flake', dir], /--provider: these apply to build --workers N only/],
    [['build', '--workers', '1', '--cache-bucket', 'b'], /--cache-bucket: the workers build where they are/],
  ];
  for (const [args, why] of refused) {
    const r = await cli(args, e);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assertOneCleanLine(r.stderr);
    assert.match(r.stderr, why);
  }
  assert.deepEqual(fs.readdirSync(dir), ['token'], 'keygen wrote nothing');
  // import-image reads --token-file given before it (and says it cannot), instead of asking for --provider.
  const nope = await cli(['--provider', 'hetzner', '--token-file', path.join(dir, 'nope'), 'import-image', '--file', path.join(dir, 'img')], e);
  assert.equal(nope.code, 1);
  assert.match(nope.stderr, /Cannot read the token file .*nope \(ENOENT\)/);
  assertClean(emu);
});

test('every option name means one thing in every command, and no command redeclares a global one', () => {
  const seen = new Map<string, string>();
  for (const c of COMMANDS) {
    for (const [name, spec] of Object.entries(c.options ?? {})) {
      assert.ok(!Object.hasOwn(GLOBAL_OPTIONS, name), `${c.name} redeclares the global --${name}`);
      const shape = JSON.stringify([spec.type, spec.short ?? '', spec.multiple ?? false]);
      assert.equal(seen.get(name) ?? shape, shape, `--${name} has one type in every command (${c.name} differs)`);
      seen.set(name, shape);
    }
  }
});

test('numbers are whole decimal numbers with the bounds in the message; create --toplevel is refused', async (t) => {
  const emu = await emulator(t);
  seed(emu, 'hetzner', { name: 'thebacknd-1', tagged: true, deadline: '20991231T000000Z' });
  const e = env(emu);
  const refused: [string[], RegExp][] = [
    [['extend', 'thebacknd-1', '0x10'], /minutes must be a whole number from 1 to 1440 \(got "0x10"\)/],
    [['extend', 'thebacknd-1', '1e2'], /minutes must be a whole number from 1 to 1440 \(got "1e2"\)/],
    [['extend', 'thebacknd-1', ' 7'], /minutes must be a whole number from 1 to 1440/],
    [['create', '-p', 'hetzner', '--image', 'debian-12', '--minutes', '1e3'], /minutes must be a whole number from 1 to 1440 \(got "1e3"\)/],
    [['destroy-old', '--max-age', '0x3c'], /--max-age \(minutes\) must be a whole number from 5 to 1440 \(got "0x3c"\)/],
    // create --toplevel is gone (#17: `thebacknd run` boots a toplevel for real): any value is refused, never dropped.
    [['create', '-p', 'hetzner', '--image', 'debian-12', '--toplevel', './result'], /--toplevel/],
    [['build', '--workers', '2.0', '--estimate'], /--workers must be a whole number from 1 to 10 \(got "2\.0"\)/],
    [['build', '--workers', '1', '--hours', '1e1', '--estimate'], /--hours must be a number from 0\.1 to 24/],
    [['run', '--bare', '--minutes', '0x1e'], /--minutes must be a whole number from 5 to 1440 \(got "0x1e"\)/],
    // shell reads the same options as build --workers, the same way.
    [['shell', '-p', 'hetzner', '--workers', '0x2'], /--workers must be a whole number from 1 to 10 \(got "0x2"\)/],
    [['shell', '-p', 'hetzner', '--workers', ' 2 '], /--workers must be a whole number from 1 to 10 \(got " 2 "\)/],
    [['shell', '-p', 'hetzner', '--workers', '1', '--hours', '1e1'], /--hours must be a number from 0\.1 to 24, like 1\.5 \(got "1e1"\)/],
    [['shell', '-p', 'hetzner', '--workers', '1', '--max-jobs', '0x2'], /--max-jobs must be a whole number from 1 to 256 \(got "0x2"\)/],
  ];
  for (const [args, why] of refused) {
    const r = await cli(args, e);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assertOneCleanLine(r.stderr);
    assert.match(r.stderr, why);
  }
  assert.deepEqual(
    emu.requests.filter((r) => r.method !== 'GET'),
    [],
    'nothing was created or changed',
  );
  assertClean(emu);
});
