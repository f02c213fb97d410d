// Real Debian nix-bin on the test flake: discovery, configurations, builds with their log, the readable failures,
// signing keys and signatures.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../../src/base/errors';
import { build } from '../../../src/nix/build';
import { closureOf } from '../../../src/nix/closure';
import { findFlakes, listNixosConfigurations, toplevelInstallable } from '../../../src/nix/flake';
import { resolveTarget } from '../../../src/nix/installable';
import { resolveNix } from '../../../src/nix/run';
import { checkSigningKeyFile, generateSigningKey, signClosure } from '../../../src/nix/sign';
import { isStorePath } from '../../../src/nix/storePath';
import { checkNix } from '../../../src/nix/version';
import { tempFlake, type TempFlake } from './helpers';

let f: TempFlake;
before(() => {
  f = tempFlake();
});
after(() => f.cleanup());

const userError = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

test('finds flakes at the root of the open folders only', () => {
  const other = path.dirname(f.dir);
  assert.deepEqual(findFlakes([other, f.dir, '/nonexistent']), [f.dir]);
});

test('Nix 2.8 passes the version check', async () => {
  const v = await checkNix({ env: f.env });
  assert.ok(v.major === 2 && v.minor >= 4, v.text);
});

test('without nix on PATH, the message says how to install it', async () => {
  const env = { ...f.env, PATH: '/nonexistent', HOME: '/nonexistent' };
  if (resolveNix(env)) return assert.fail('nix is installed in a fallback location; this check cannot run here');
  await assert.rejects(checkNix({ env }), (e: unknown) => {
    assert.ok(e instanceof UserError && e.fix?.kind === 'installNix');
    assert.match(e.message, /Nix is not installed/);
    assert.match(e.message, /https:\/\/nixos\.org\/download/);
    assert.match(e.message, /apt install nix-bin/);
    return true;
  });
});

test('a Nix older than 2.4 is reported as too old, with the install hint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-oldnix-'));
  try {
    // A stand-in for an old installation: only its --version answer matters to the check.
    fs.writeFileSync(path.join(dir, 'nix'), '#!/bin/sh\necho "nix-env (Nix) 2.3.16"\n', { mode: 0o755 });
    await assert.rejects(checkNix({ env: f.env, nixBin: path.join(dir, 'nix') }), userError(/Nix 2\.3\.16 is too old.*2\.4 or newer.*nixos\.org\/download/));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lists nixosConfigurations, and [] for a flake without any', async () => {
  assert.deepEqual(await listNixosConfigurations(f.dir, { env: f.env }), ['demo', 'small', 'with.dot']);
  const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-bare-'));
  try {
    fs.writeFileSync(path.join(bare, 'flake.nix'), '{ outputs = { self }: { }; }\n');
    assert.deepEqual(await listNixosConfigurations(bare, { env: f.env }), []);
    await assert.rejects(resolveTarget(undefined, bare, { env: f.env }), userError(/has no nixosConfigurations: name what to build/));
  } finally {
    fs.rmSync(bare, { recursive: true, force: true });
  }
  await assert.rejects(resolveTarget(undefined, f.dir, { env: f.env }), userError(/several nixosConfigurations \(demo, small, with\.dot\): name the one to build/));
});

test('builds a toplevel, streaming the log, and reads the path from --json', async () => {
  const lines: string[] = [];
  const r = await build(toplevelInstallable(f.dir, 'small'), { env: f.env, onLog: (l) => lines.push(l) });
  assert.ok(isStorePath(r.path), r.path);
  assert.match(r.path, /-thebacknd-test-app$/);
  assert.ok(fs.existsSync(path.join(r.path, 'bin/app')));
  // The script refers to its dependencies by store path: the closure is the three derivations.
  const closure = await closureOf([r.path], { env: f.env });
  assert.deepEqual(
    closure.map((i) => i.path.replace(/^.*?-thebacknd-test-/, '')),
    ['base', 'lib', 'app'],
  );
  // Nix prints nothing when everything is already built; the log is checked on a build that cannot be cached.
  const failing: string[] = [];
  await build(`${f.dir}#failing`, { env: f.env, onLog: (l) => failing.push(l) }).catch(() => undefined);
  assert.ok(
    failing.some((l) => /about to fail on purpose/.test(l)),
    `log lines seen: ${failing.join(' | ')}`,
  );
});

test('a configuration name with a dot is quoted for Nix', async () => {
  const t = await resolveTarget('with.dot', f.dir, { env: f.env });
  const r = await build(t.installable, { env: f.env });
  assert.match(r.path, /-thebacknd-test-base$/);
});

test('a missing flake attribute gives a readable error', async () => {
  await assert.rejects(
    build(toplevelInstallable(f.dir, 'nope'), { env: f.env }),
    userError(/^Building .*#nixosConfigurations\.nope\.config\.system\.build\.toplevel failed: flake '.*' does not provide attribute .*nixosConfigurations\.nope/),
  );
});

test('an evaluation error gives a readable error', async () => {
  await assert.rejects(build(`${f.dir}#broken`, { env: f.env }), userError(/failed: thebacknd test: deliberate evaluation error$/));
});

test('a failed build names the builder and keeps its last log lines', async () => {
  await assert.rejects(build(`${f.dir}#failing`, { env: f.env }), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /failed: builder for '\/nix\/store\/[a-z0-9]{32}-thebacknd-test-failing\.drv' failed with exit code 3$/);
    assert.match(e.detail ?? '', /about to fail on purpose/);
    return true;
  });
});

test('a build can be cancelled', async () => {
  const ctl = new AbortController();
  const slow = fs.mkdtempSync(path.join(os.tmpdir(), 'thebacknd-slow-'));
  try {
    // A unique derivation each run, so there is always something to build.
    fs.writeFileSync(
      path.join(slow, 'flake.nix'),
      `{ outputs = { self }: { packages.x86_64-linux.default = derivation { name = "slow"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo started; sleep 30; mkdir $out" ]; PATH = "/bin:/usr/bin"; nonce = "${Date.now()}"; }; }; }\n`,
    );
    const out = execFileSync('nix', ['eval', '--raw', `${slow}#default.outPath`], { env: f.env, encoding: 'utf8' });
    const p = build(`${slow}#default`, { env: f.env, signal: ctl.signal, onLog: (l) => /started/.test(l) && ctl.abort() });
    await assert.rejects(p, (e: unknown) => (e as Error).name === 'AbortError');
    // build() settles when nix has exited: had it been waited for, the output would exist by now.
    assert.equal(fs.existsSync(out), false, 'the build was stopped, not waited for');
  } finally {
    fs.rmSync(slow, { recursive: true, force: true });
  }
});

test('generates a signing key: secret 0600, public key printed, never overwritten', async () => {
  const dir = path.join(path.dirname(f.dir), 'keys');
  const k = await generateSigningKey('test.example-1', dir, { env: f.env });
  assert.equal(fs.statSync(k.secretKeyFile).mode & 0o777, 0o600);
  assert.match(k.publicKey, /^test\.example-1:[A-Za-z0-9+/]{43}=$/);
  assert.equal(fs.readFileSync(k.publicKeyFile, 'utf8').trim(), k.publicKey);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['test.example-1.pub', 'test.example-1.sec'], 'no temporary files left');
  checkSigningKeyFile(k.secretKeyFile);
  await assert.rejects(generateSigningKey('test.example-1', dir, { env: f.env }), userError(/already exists/));
  await assert.rejects(generateSigningKey('bad name', dir, { env: f.env }), userError(/not a usable key name/));
  assert.throws(() => checkSigningKeyFile(k.publicKeyFile), userError(/is not a Nix secret signing key/));
  assert.throws(() => checkSigningKeyFile(''), userError(/No signing key is set/));
  assert.throws(() => checkSigningKeyFile(path.join(dir, 'missing.sec')), userError(/Cannot read the signing key .*ENOENT/));
});

test('signs the whole closure with the key', async () => {
  const dir = path.join(path.dirname(f.dir), 'keys2');
  const k = await generateSigningKey('sign-test-1', dir, { env: f.env });
  const r = await build(`${f.dir}#app`, { env: f.env });
  await signClosure([r.path], k.secretKeyFile, { env: f.env });
  const closure = await closureOf([r.path], { env: f.env });
  assert.equal(closure.length, 3);
  for (const i of closure)
    assert.ok(
      i.signatures.some((s) => s.startsWith('sign-test-1:')),
      `${i.path} is signed`,
    );
});
