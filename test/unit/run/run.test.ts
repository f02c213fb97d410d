// Run Toplevel end to end with real parts: the emulated clouds create real test hosts (metadata service, the boot
// agent, sshd on port 22, an empty Nix store), this machine's Nix builds a flake's toplevel, signs it and pushes it
// to an S3 cache (s3rver) the hosts substitute from, and every SSH connection is pinned to the host key generated
// for the machine. What is asserted is what a user sees: the stages, the machine switched, a command's output over
// SSH, the messages of failures, and which machines and keys are left afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isAbort, UserError } from '../../../src/base/errors';
import { DEFAULTS, type Settings } from '../../../src/base/settings';
import { parseUserData } from '../../../src/agent/user-data';
import type { ProviderId } from '../../../src/providers/types';
import { destroyRunMachine, runToplevel, type Payload, type PortsOptions, type RunEvent, type RunRequest, type Stage } from '../../../src/run';
import { listMachineKeyIds, requireMachineKeys } from '../../../src/ssh/keys';
import { HostKeyMismatchError } from '../../../src/ssh/session';
import { startHostCache, type HostCache, type TestClosures } from '../../fixtures/testhost';
import { cacheSettings, eventRecorder, runRequest, sshOut, startCacheWorld, worldPorts, type CacheWorld } from './cache-world';
import { assertGone, assertNoUnmarkedMachine, runIds, until, writeFlake, type TestFlake, type World } from './world';

const TIMEOUT = 120_000;
let cw: CacheWorld;
let w: World;
let cache: HostCache;
let closures: TestClosures;
let flake: TestFlake;
let signingKeyFile: string;

before(async () => {
  cw = await startCacheWorld();
  ({ w, cache, closures, signingKeyFile } = cw);
  await cache.upload(closures.cacheDir);
  flake = writeFlake(w.dir, `${process.pid}-${Date.now()}`);
});

after(async () => {
  await cw?.close();
});

const ports = (provider: ProviderId, over: Partial<PortsOptions> = {}) => worldPorts(cw, provider, flake.dir, over);

const configuration: Payload = { kind: 'configuration', flakeRef: '', name: 'e2e' };

function request(provider: ProviderId, payload: Payload, over: Partial<RunRequest> = {}): RunRequest {
  return runRequest(provider, payload.kind === 'configuration' ? { ...payload, flakeRef: flake.dir } : payload, over);
}

function recorder() {
  const rec = eventRecorder<RunEvent>();
  return { ...rec, runId: () => rec.events.flatMap((e) => (e.type === 'machine' ? [e.machine.runId ?? ''] : []))[0] };
}

const ssh = (runId: string, ip: string, command: string): Promise<string> => sshOut(w, runId, ip, command);

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

test('happy path: a flake toplevel is built, signed, pushed, switched to; SSH is pinned; destroy removes host and keys', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const rec = recorder();
  const result = await runToplevel(ports('digitalocean'), request('digitalocean', configuration), new AbortController().signal, rec.emit, ids.next());

  assert.deepEqual(rec.stages(), ['build', 'sign', 'push', 'keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'ready']);
  assert.match(result.storePath ?? '', /^\/nix\/store\/[a-z0-9]{32}-nixos-system-run-e2e$/);
  const toplevel = result.storePath!;
  const { machine } = result;
  const ip = machine.ipv4!;
  assert.equal(machine.status, 'running');
  assert.match(machine.runId ?? '', /^thebacknd-[0-9a-f-]{36}$/);
  assert.ok(machine.deadline, 'the machine carries its deadline');

  // Pushed by src/nix/push: the toplevel's narinfo is in the bucket, and the host substituted it from there.
  const hash = path.basename(toplevel).slice(0, 32);
  assert.ok(
    cache.s3.created.some((o) => o.key === `${hash}.narinfo`),
    'the narinfo was uploaded',
  );
  assert.ok(
    cache.s3.requests.some((r) => r.method === 'GET' && r.url === `/cache/${hash}.narinfo`),
    'the host read it from the cache',
  );
  assert.ok(
    rec.log().some((l) => l.startsWith('thebacknd: stage=fetch paths=2/2')),
    rec.log().join('\n'),
  );
  assert.ok(rec.log().includes(`thebacknd: stage=done result=switched toplevel=${toplevel}`), 'the boot log reached the switch');
  assert.ok(rec.log().includes(`activated ${toplevel}`), "the switch's own output is in the log");

  // What the cloud received: the toplevel, the cache, the key to trust (derived from the signing key), the pinned
  // host key and the login key — and no secret of this computer.
  const userData = w.userDataOf(machine);
  const data = parseUserData(userData);
  assert.equal(data.toplevel, toplevel);
  assert.deepEqual(data.cache, { url: cache.url, trustedPublicKey: closures.publicKey, private: false });
  assert.equal(data.hostKey?.public, result.keys.hostPublicKey);
  assert.deepEqual(data.authorizedKeys, [result.keys.loginPublicKey]);
  const signingSecret = fs.readFileSync(signingKeyFile, 'utf8').trim().split(':')[1]!;
  assert.ok(!userData.includes(signingSecret), 'the signing key stays here');
  const loginKeyLines = fs.readFileSync(result.keys.loginPrivateKeyPath, 'utf8').trim().split('\n').slice(2, -1);
  assert.ok(loginKeyLines.length > 0 && loginKeyLines.every((l) => !userData.includes(l)), 'the login private key stays here');

  // The switched toplevel ran on the host, and a command over the pinned session prints its output.
  const host = w.hostOf(machine)!;
  assert.equal(fs.readFileSync(host.file('root/run-e2e-marker'), 'utf8'), flake.greeting);
  assert.equal(await ssh(machine.runId!, ip, 'cat /root/run-e2e-marker; readlink /run/current-system'), `${flake.greeting}${toplevel}\n`);

  // Keys: a 0700 folder, the login key 0600, a known_hosts line pinning the host key for OpenSSH clients.
  const keys = await requireMachineKeys(w.keysRoot, machine.runId!);
  assert.equal(mode(keys.dir), 0o700);
  assert.equal(mode(keys.loginKeyPath), 0o600);
  assert.equal(fs.readFileSync(keys.knownHostsPath, 'utf8'), `${ip} ${result.keys.hostPublicKey.split(' ').slice(0, 2).join(' ')}\n`);

  const ns = host.ns;
  await destroyRunMachine({ provider: w.provider('digitalocean'), keysRoot: w.keysRoot }, machine);
  await assertGone(w, machine, ns);
  await assertNoUnmarkedMachine(w, ids.all);
  assert.deepEqual(w.emu.violations, []);
});

test('a wrong host key (someone else answering) is refused, said so, and the machine is destroyed', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const rec = recorder();
  w.impersonateNext();
  await assert.rejects(
    runToplevel(ports('hetzner'), request('hetzner', { kind: 'toplevel', storePath: closures.toplevel }), new AbortController().signal, rec.emit, ids.next()),
    (err: unknown) => {
      assert.ok(err instanceof HostKeyMismatchError, String(err));
      assert.match(err.message, /^The host key of 10\.213\.\d+\.\d+ does not match the key this machine was created with — possible man-in-the-middle; not connecting\.$/);
      return true;
    },
  );
  assert.deepEqual(rec.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'cleanup']);
  const created = rec.events.find((e) => e.type === 'machine');
  assert.ok(created?.type === 'machine');
  assert.ok(
    rec.log().some((l) => l.startsWith(`Destroyed ${created.machine.name}`)),
    rec.log().join('\n'),
  );
  await assertGone(w, created.machine, undefined);
  await assertNoUnmarkedMachine(w, ids.all);
});

test('an agent failure (a path missing from the cache) shows in the run; the machine is destroyed, or kept with its deadline', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const failing: Payload = { kind: 'toplevel', storePath: closures.incompleteToplevel };
  const destroyed = recorder();
  const kept = recorder();
  const [d, k] = await Promise.allSettled([
    runToplevel(ports('hetzner'), request('hetzner', failing), new AbortController().signal, destroyed.emit, ids.next()),
    runToplevel(ports('digitalocean'), request('digitalocean', failing, { onFailure: 'keep' }), new AbortController().signal, kept.emit, ids.next()),
  ]);
  for (const [r, rec] of [
    [d, destroyed],
    [k, kept],
  ] as const) {
    assert.equal(r.status, 'rejected');
    const err = r.reason as Error;
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, /^thebacknd-\d+: Boot failed \(missing-path\): 1 path\(s\) of the closure are not in the cache \(\/nix\/store\/[a-z0-9]{32}-thebacknd-test-extra\)$/);
    assert.ok(err.message.includes(closures.missingDependency));
    assert.ok(
      rec.log().some((l) => l.startsWith('thebacknd: stage=failed reason=missing-path')),
      "the agent's failure line is in the run log",
    );
  }
  assert.deepEqual(destroyed.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'cleanup']);
  const gone = destroyed.events.find((e) => e.type === 'machine');
  assert.ok(gone?.type === 'machine');
  await assertGone(w, gone.machine, undefined);

  // Kept: still tagged with its run id and deadline (the reaper's), its keys still here to look inside.
  assert.deepEqual(kept.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'boot']);
  assert.ok(kept.log().some((l) => /^Keeping thebacknd-\d+ as asked; it is still destroyed at its deadline\.$/.test(l)));
  const left = (await w.alive()).filter((m) => m.runId === kept.runId());
  assert.equal(left.length, 1);
  assert.ok(left[0]!.deadline && Date.parse(left[0]!.deadline) > Date.now());
  await assertNoUnmarkedMachine(
    w,
    ids.all.filter((id) => id !== kept.runId()),
  );
  assert.match(await ssh(left[0]!.runId!, left[0]!.ipv4!, 'tail -n 1 /run/thebacknd/agent.log'), /stage=failed reason=missing-path/);
  await destroyRunMachine({ provider: w.provider('digitalocean'), keysRoot: w.keysRoot }, left[0]!);
  await assertGone(w, left[0]!, undefined);
  await assertNoUnmarkedMachine(w, ids.all);
});

test('a private cache: read credentials go over SSH into a root-only file, never into user-data', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const reader = { accessKeyId: 'reader', secretAccessKey: `pw-${process.pid}-${Date.now()}` };
  const priv = await startHostCache({ bucket: 'private', basicAuth: { user: reader.accessKeyId, password: reader.secretAccessKey } });
  t.after(() => priv.close());
  await priv.upload(closures.cacheDir);
  const rec = recorder();
  const p = ports('hetzner', {
    settings: cacheSettings({ cache: priv, signingKeyFile }, { trustedPublicKey: closures.publicKey }),
    cacheCredentials: priv.s3.credentials,
    cacheReadCredentials: reader,
  });
  const result = await runToplevel(
    p,
    request('hetzner', { kind: 'toplevel', storePath: closures.toplevel }, { cachePrivate: true }),
    new AbortController().signal,
    rec.emit,
    ids.next(),
  );
  assert.deepEqual(rec.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'credentials', 'boot', 'ready']);
  assert.ok(rec.log().includes(`thebacknd: stage=done result=switched toplevel=${closures.toplevel}`));
  assert.ok(priv.admitted >= 3, `the host read the cache with the credentials (${priv.admitted} requests)`);
  assert.equal(priv.refused, 0, 'the agent waited for the credentials instead of trying without');

  const host = w.hostOf(result.machine)!;
  const file = host.file('run/thebacknd/cache-credentials');
  assert.equal(fs.readFileSync(file, 'utf8'), `machine ${new URL(priv.url).hostname} login reader password ${reader.secretAccessKey}\n`);
  assert.equal(mode(file), 0o600);
  assert.equal(mode(host.file('run/thebacknd')), 0o700);

  const userData = w.userDataOf(result.machine);
  assert.equal(parseUserData(userData).cache?.private, true);
  for (const secret of [reader.secretAccessKey, priv.s3.credentials.secretAccessKey]) {
    assert.ok(!userData.includes(secret), 'no credential in the user-data');
    assert.ok(!JSON.stringify(w.emu.requests.map((r) => r.body)).includes(secret), 'no credential in any request the cloud received');
  }
  await destroyRunMachine({ provider: w.provider('hetzner'), keysRoot: w.keysRoot }, result.machine);
  await assertGone(w, result.machine, host.ns);
});

test('cancelling at each stage leaves no machine and no keys (and never an unmarked one)', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const reader = { accessKeyId: 'reader', secretAccessKey: 'cancel-test-password' };
  const priv = await startHostCache({ bucket: 'cancel', basicAuth: { user: reader.accessKeyId, password: reader.secretAccessKey } });
  t.after(() => priv.close());
  await priv.upload(closures.cacheDir); // a path not in the cache is refused before create (no stage to cancel in)
  const privateSettings: Settings = cacheSettings({ cache: priv, signingKeyFile }, { trustedPublicKey: closures.publicKey });
  // [stage, ms after it starts, variant]: the build, sign and push stages are cancelled as they start (the flake is
  // already built by then), the others while their port is at work.
  const cases: [Stage, number, 'cache' | 'private' | 'ssh'][] = [
    ['build', 0, 'cache'],
    ['sign', 0, 'cache'],
    ['push', 0, 'cache'],
    ['keys', 0, 'cache'],
    ['create', 0, 'cache'],
    ['create', 15, 'cache'],
    ['wait-running', 50, 'cache'],
    ['wait-ssh', 0, 'cache'],
    ['credentials', 0, 'private'],
    ['copy-closure', 30, 'ssh'],
    ['boot', 30, 'cache'],
  ];
  for (const [stage, afterMs, variant] of cases) {
    const ctl = new AbortController();
    const rec = recorder();
    const p =
      variant === 'private'
        ? ports('hetzner', { settings: privateSettings, cacheReadCredentials: reader })
        : variant === 'ssh'
          ? ports('hetzner', { settings: { ...DEFAULTS } })
          : ports('hetzner');
    const req = request('hetzner', variant === 'cache' ? configuration : { ...configuration, flakeRef: flake.dir }, {
      ...(variant === 'private' ? { cachePrivate: true, payload: { kind: 'toplevel', storePath: closures.toplevel } } : {}),
      ...(variant === 'ssh' ? { transfer: 'ssh' } : {}),
    });
    const runId = ids.next();
    const run = runToplevel(
      p,
      req,
      ctl.signal,
      (e) => {
        rec.emit(e);
        if (e.type === 'stage' && e.stage === stage) {
          if (afterMs === 0) ctl.abort();
          else setTimeout(() => ctl.abort(), afterMs);
        }
      },
      runId,
    );
    await assert.rejects(run, (err: unknown) => isAbort(err), `cancelled during ${stage}`);
    assert.ok(rec.stages().includes(stage), `${stage} was reached: ${rec.stages().join(' ')}`);
    assert.deepEqual(
      (await w.alive()).filter((m) => m.runId === runId).map((m) => m.name),
      [],
      `cancelled during ${stage}: nothing left`,
    );
    if (rec.runId()) assert.equal(rec.stages().at(-1), 'cleanup', 'a created machine is cleaned up');
    assert.ok(!(await listMachineKeyIds(w.keysRoot)).includes(runId), `cancelled during ${stage}: keys removed`);
  }
  await assertNoUnmarkedMachine(w, ids.all);
  assert.equal(w.hook.hosts.size, 0, 'every test host was deleted through the API');
  assert.deepEqual(w.emu.errors, []);
});

test('a binary: the machine runs it, the run shows its output, and the machine powers itself off for the reaper', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const p = ports('hetzner', { powerPollMs: 200 });
  // Built, signed and pushed through the same ports a configuration run uses.
  const signal = new AbortController().signal;
  const jobPath = await p.build(`path:${flake.dir}#packages.x86_64-linux.job`, signal, () => undefined);
  await p.sign(jobPath, signal);
  await p.push(jobPath, signal, () => undefined);

  const rec = recorder();
  const result = await runToplevel(p, request('hetzner', { kind: 'binary', storePath: jobPath, binary: 'bin/job' }), signal, rec.emit, ids.next());
  assert.deepEqual(rec.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'ready']);
  assert.deepEqual(result.outcome, { ok: true, poweredOff: true });
  assert.equal(parseUserData(w.userDataOf(result.machine)).binary?.path, `${jobPath}/bin/job`);
  const log = rec.log();
  assert.ok(log.includes('job done') && log.includes(flake.greeting.trim()), log.join('\n'));
  assert.equal(log.at(-1), 'thebacknd: stage=poweroff exit=0');
  assert.equal(await until('the machine off', async () => ((await w.provider('hetzner').get(result.machine.id))?.status === 'off' ? true : undefined)), true);
});

test('a binary that finishes before SSH answers: the run says the machine powered off, and destroys it', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  const real = ports('hetzner', { powerPollMs: 200 });
  // SSH is only tried once the host has run its job and powered off (as when a short job beats the first connection).
  const p = {
    ...real,
    async waitSsh(ip: string, keys: Parameters<typeof real.waitSsh>[1], signal: AbortSignal) {
      await until('the host powered off', async () => ([...w.hosts.values()].find((h) => h.ip === ip)?.poweredOff ? true : undefined));
      return real.waitSsh(ip, keys, signal);
    },
  };
  const rec = recorder();
  await assert.rejects(
    runToplevel(
      p,
      request('hetzner', { kind: 'binary', storePath: path.dirname(path.dirname(closures.binary)), binary: closures.binary }),
      new AbortController().signal,
      rec.emit,
      ids.next(),
    ),
    /^UserError: thebacknd-\d+: the machine powered itself off before SSH answered; its boot log is gone with it$/,
  );
  assert.deepEqual(rec.stages(), ['keys', 'create', 'wait-running', 'wait-ssh', 'boot', 'cleanup']);
  const created = rec.events.find((e) => e.type === 'machine');
  assert.ok(created?.type === 'machine');
  await assertGone(w, created.machine, undefined);
  await assertNoUnmarkedMachine(w, ids.all);
});
