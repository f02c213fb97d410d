// `thebacknd run` end to end: without a binary cache the CLI builds the flake here, copies the closure to the new
// machine over SSH pinned to its host key (`nix copy --to ssh-ng://…`), and the agent switches to it without any
// cache; the stages go to stderr and `NAME IP` to stdout. Then the CLI's argument checks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { main } from '../../../src/cli/main';
import type { CliIo } from '../../../src/cli/context';
import { parseUserData } from '../../../src/agent/user-data';
import { destroyRunMachine } from '../../../src/run';
import { assertGone, assertNoUnmarkedMachine, startWorld, TOKEN, writeFlake, type TestFlake, type World } from './world';

let w: World;
let flake: TestFlake;

before(async () => {
  w = await startWorld();
  flake = writeFlake(w.dir, `cli-${process.pid}-${Date.now()}`);
});

after(async () => w?.close());

function capture(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = capture();
  const err = capture();
  const io: CliIo = {
    stdout: out.stream,
    stderr: err.stream,
    env: { ...w.env, DIGITALOCEAN_ACCESS_TOKEN: TOKEN, HCLOUD_TOKEN: TOKEN, ...env },
    interactive: false,
    signal: new AbortController().signal,
    providerOptions: { retry: { baseDelayMs: 5, maxDelayMs: 50 } },
  };
  const code = await main(['run', ...argv], io);
  return { code, stdout: out.text(), stderr: err.text() };
}

test('no cache: the closure is copied over pinned SSH and the agent switches to it without a cache', { timeout: 120_000 }, async (t) => {
  const stateDir = path.join(w.dir, 'state');
  t.after(async () => {
    for (const m of await w.alive())
      await w
        .provider(m.provider)
        .destroy(m.id)
        .catch(() => undefined);
  });
  const r = await cli(['--provider', 'digitalocean', '--endpoint', w.emu.doUrl, '--flake', flake.dir, '--state-dir', stateDir, '--minutes', '30', 'e2e']);
  assert.equal(r.code, 0, r.stderr);
  const m = /^(thebacknd-\d+) (10\.213\.\d+\.\d+)\n$/.exec(r.stdout);
  assert.ok(m, `stdout is "NAME IP": ${JSON.stringify(r.stdout)}`);
  const [, name, ip] = m;

  // The stages, in order, on stderr; then how to connect.
  assert.match(
    r.stderr,
    /^DigitalOcean s-1vcpu-1gb in ams3: 1 core · 1 GiB RAM · 25 GiB disk · \$0\.\d{4}\/h; destroyed after 30 min\. No binary cache: the closure goes over SSH\.\n/,
  );
  const stages = [...r.stderr.matchAll(/^\[\d\d:\d\d:\d\d\] (.*)$/gm)].map((x) => x[1]!.replace(/\/nix\/store\/\S+/g, 'STORE').replace(/ \(.*\)$/, ''));
  assert.deepEqual(stages, [
    `Building ${flake.dir}#nixosConfigurations.e2e.config.system.build.toplevel`,
    "Generating the machine's login key and host key",
    'Creating the machine',
    `Waiting until ${name} is running`,
    `Waiting for SSH on ${ip} with the pinned host key`,
    'Copying the closure of STORE over SSH',
    "Following the machine's boot log",
    `${name} is ready`,
  ]);
  assert.match(r.stderr, /^  thebacknd-\d+ \(\d+\), run id thebacknd-[0-9a-f-]{36}, deadline \d{4}-\d\d-\d\dT/m);
  assert.match(r.stderr, /^thebacknd: stage=closure source=ssh wait=1800s path=\/nix\/store\/\S+$/m);
  assert.doesNotMatch(r.stderr, /stage=(cache|fetch)/, 'nothing was substituted');
  assert.match(
    r.stderr,
    new RegExp(
      `^Connect: ssh -i ${stateDir}/machines/thebacknd-[0-9a-f-]{36}/login_ed25519 -o UserKnownHostsFile=\\S+ -o StrictHostKeyChecking=yes root@${ip.replace(/\./g, '\\.')}$`,
      'm',
    ),
  );
  const toplevel = /stage=done result=switched toplevel=(\/nix\/store\/\S+)/.exec(r.stderr)?.[1];
  assert.ok(toplevel, r.stderr);

  // The user-data names the toplevel and the SSH transfer, and no cache at all.
  const machine = (await w.alive()).find((x) => x.name === name)!;
  const data = parseUserData(w.userDataOf(machine));
  assert.equal(data.toplevel, toplevel);
  assert.equal(data.closure, 'ssh');
  assert.equal(data.cache, undefined);

  // The host switched, and its store holds exactly the toplevel's closure, copied from this machine's store.
  const host = w.hostOf(machine)!;
  assert.equal(fs.readFileSync(host.file('root/run-e2e-marker'), 'utf8'), flake.greeting);
  const local = (await promisify(execFile)('nix-store', ['-qR', toplevel], { env: w.env })).stdout
    .trim()
    .split('\n')
    .map((p) => path.basename(p));
  assert.deepEqual(
    fs
      .readdirSync(host.file('nix/store'))
      .filter((f) => !f.startsWith('.'))
      .sort(),
    local.sort(),
  );

  // OpenSSH, as a user would run the printed command, reaches it with the pinned key only.
  const connect = /^Connect: (ssh .*)$/m.exec(r.stderr)![1]!.split(' ');
  const out = await promisify(execFile)(connect[0]!, [...connect.slice(1, -1), '-o', 'BatchMode=yes', connect.at(-1)!, 'cat /root/run-e2e-marker'], {
    env: { ...process.env, HOME: w.dir },
  });
  assert.equal(out.stdout, flake.greeting);

  const ns = host.ns;
  await destroyRunMachine({ provider: w.provider('digitalocean'), keysRoot: stateDir }, machine);
  await assertGone(w, machine, ns, stateDir);
  assert.deepEqual(fs.readdirSync(path.join(stateDir, 'machines')), [], 'no key folder is left');
  await assertNoUnmarkedMachine(w, [machine.runId!]);
});

test('wrong arguments exit 2 with a pointer to the help; settings that cannot work fail before any machine exists', async () => {
  const before = (await w.alive()).length;
  const bare = await cli(['--bare', '/nix/store/00000000000000000000000000000000-x']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^thebacknd: run: --bare runs the base image as it is: name nothing else\. Run 'thebacknd run --help'\.\n$/);
  assert.equal((await cli(['--minutes', '2', '--bare'])).code, 2);
  assert.equal((await cli(['--frobnicate'])).code, 2);
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: thebacknd run \[options\]/);

  // A cache that does not answer and no signing key: refused before building or creating anything, at the first
  // missing step (the checks of src/setup/checks.ts go token, image, cache, signing key, nix), with its CLI fix.
  const noKey = await cli(['-p', 'hetzner', '--endpoint', w.emu.hetznerUrl, '--flake', flake.dir, '--cache-endpoint', 'http://127.0.0.1:9', '--cache-bucket', 'b', 'e2e'], {
    AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret-never-shown-0123',
  });
  assert.equal(noKey.code, 1);
  assert.match(noKey.stderr, /^thebacknd: Binary cache: Cannot reach the cache at http:\/\/127\.0\.0\.1:9 .* Fix: --cache-endpoint/);
  assert.doesNotMatch(noKey.stderr, /secret-never-shown/);
  assert.equal((await w.alive()).length, before, 'no machine was created');
});
