// The one command shape, as a user meets it through main: every subcommand's help, usage errors (exit 2, one line
// that says what is wrong and where the help is), old spellings (a warning that names the new flag), and a
// cancelled command (its own last word, exit 128 + the signal's number). In process, no cloud: none is reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { COMMANDS, main } from '../../../src/cli/main';
import type { CommandSpec } from '../../../src/cli/command';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], opts: { commands?: CommandSpec[]; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const sink = (add: (s: string) => void) => new Writable({ write: (c: Buffer, _e, done) => (add(c.toString()), done()) });
  const io = { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), env: opts.env ?? {}, interactive: false, ...(opts.signal ? { signal: opts.signal } : {}) };
  const code = await main(args, io, opts.commands);
  return { code, stdout, stderr };
}

test('every subcommand has its help from main: --help or -h, before or after its name, exit 0, nothing on stderr', async () => {
  const top = await run(['--help']);
  assert.equal(top.code, 0);
  assert.ok(COMMANDS.length >= 17, `${COMMANDS.length} commands`);
  for (const c of COMMANDS) {
    assert.match(top.stdout, new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `${c.name} in thebacknd --help`);
    for (const args of [
      [c.name, '--help'],
      [c.name, '-h'],
      ['--help', c.name],
    ]) {
      const r = await run(args, { env: { DIGITALOCEAN_ACCESS_TOKEN: 'never-read-0123456789' } });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '', args.join(' '));
      assert.ok(r.stdout.startsWith(`Usage: thebacknd ${c.name}`), `${args.join(' ')}: ${r.stdout.slice(0, 80)}`);
      assert.match(r.stdout, /^Global options, before or after the command: --provider P, --token-file F, --endpoint URL/m);
    }
  }
  const none = await run([]);
  assert.equal(none.code, 2, 'no command is wrong arguments');
  assert.match(none.stdout, /^Usage: thebacknd \[options\] <command>/);
});

test('wrong arguments: exit 2 and one line saying what is wrong and which help to read', async () => {
  const cases: [string[], RegExp][] = [
    [['bogus'], /^thebacknd: unknown command 'bogus'\. Run 'thebacknd --help'\.$/],
    [['list', '--frobnicate'], /^thebacknd: Unknown option '--frobnicate'\..* Run 'thebacknd list --help'\.$/],
    [['run', '--minutes'], /^thebacknd: Option '--minutes <value>' argument missing.* Run 'thebacknd run --help'\.$/],
    [['destroy'], /^thebacknd: destroy takes one machine name or id: destroy thebacknd-1 Run 'thebacknd destroy --help'\.$/],
    [['list', '--endpoint', 'http://127.0.0.1:9'], /^thebacknd: --endpoint applies to one provider: add --provider digitalocean\|hetzner\. Run 'thebacknd list --help'\.$/],
    [
      ['push', '--bucket', 'old', '--cache-bucket', 'new', '/nix/store/00000000000000000000000000000000-x'],
      /^thebacknd: --bucket and --cache-bucket name the same thing: use --cache-bucket alone\. Run 'thebacknd push --help'\.$/,
    ],
    [['build', '--region', 'fra1'], /^thebacknd: --region: these apply to build --workers N only\./],
    [['build', '--bucket', 'b'], /^thebacknd: --bucket is not an option of build here \(did you mean --cache-bucket\?\)\./],
  ];
  for (const [args, expected] of cases) {
    const r = await run(args, { env: { DIGITALOCEAN_ACCESS_TOKEN: 'secret-token-0123456789' } });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), expected);
    assert.ok(!r.stderr.includes('secret-token'), 'never the token');
  }
});

/** A command that waits for its cancel, as the long ones do (the push, the run, the shell). */
function waiter(cancel: CommandSpec['cancel']): CommandSpec {
  return {
    name: 'wait',
    summary: 'test',
    usage: 'wait',
    ...(cancel ? { cancel } : {}),
    run: (ctx) =>
      new Promise((_resolve, reject) => {
        const abort = (): void => reject(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
        if (ctx.signal?.aborted) abort();
        else ctx.signal?.addEventListener('abort', abort, { once: true });
      }),
  };
}

test('a cancelled command: main says its last word and exits 130; one that is not cancellable fails as any other', async () => {
  const ctl = new AbortController();
  const running = run(['wait'], { commands: [waiter({ said: 'cancelled; nothing was left behind.' })], signal: ctl.signal });
  ctl.abort();
  const r = await running;
  assert.equal(r.code, 130);
  assert.equal(r.stderr, 'thebacknd: cancelled; nothing was left behind.\n');

  const quiet = new AbortController();
  quiet.abort();
  const silent = await run(['wait'], { commands: [waiter({})], signal: quiet.signal });
  assert.deepEqual([silent.code, silent.stderr], [130, ''], 'a command with nothing to say (the shell) says nothing');

  const plain = new AbortController();
  const other = run(['wait'], { commands: [waiter(undefined)], signal: plain.signal });
  plain.abort();
  const failed = await other;
  assert.equal(failed.code, 1);
  assert.equal(failed.stderr, 'thebacknd: The operation was aborted.\n');
});

test('an old spelling reaches the command under its new name, with one warning that names the new flag', async () => {
  let seen: unknown;
  const renamed: CommandSpec = {
    name: 'renamed',
    summary: 'test',
    usage: 'renamed',
    options: { 'cache-thing': { type: 'string' }, pushing: { type: 'boolean' } },
    deprecated: [{ old: 'thing', now: 'cache-thing', when: (v) => v.pushing === true }],
    run: async (_ctx, args) => ((seen = args.values), 0),
  };
  const old = await run(['renamed', '--thing', 'x', '--pushing'], { commands: [renamed] });
  assert.equal(old.code, 0, old.stderr);
  assert.deepEqual({ ...(seen as object) }, { 'cache-thing': 'x', pushing: true });
  assert.equal(old.stderr, 'thebacknd: warning: --thing is deprecated in renamed: use --cache-thing (the old spelling goes in the next release).\n');
  const now = await run(['renamed', '--cache-thing', 'x', '--pushing'], { commands: [renamed] });
  assert.deepEqual([now.code, now.stderr], [0, '']);
  assert.deepEqual({ ...(seen as object) }, { 'cache-thing': 'x', pushing: true });
  // Outside the mode that took it, the old name is no option of the command: refused, never dropped.
  seen = undefined;
  const elsewhere = await run(['renamed', '--thing', 'x'], { commands: [renamed] });
  assert.equal(elsewhere.code, 2);
  assert.equal(elsewhere.stderr, "thebacknd: --thing is not an option of renamed here (did you mean --cache-thing?). Run 'thebacknd renamed --help'.\n");
  assert.equal(seen, undefined);
});

test('any failure is exit 1 and one line, whatever was thrown (an errno code that is a number, not an Error at all)', async () => {
  const thrower = (value: unknown): CommandSpec => ({ name: 'fail', summary: 'test', usage: 'fail', cancel: {}, run: () => Promise.reject(value) });
  const numbered = await run(['fail'], { commands: [thrower(Object.assign(new Error('No space left on device'), { code: 28 }))] });
  assert.deepEqual([numbered.code, numbered.stderr], [1, 'thebacknd: No space left on device.\n']);
  const bare = await run(['fail'], { commands: [thrower(null)] });
  assert.deepEqual([bare.code, bare.stderr], [1, 'thebacknd: null.\n']);
});
