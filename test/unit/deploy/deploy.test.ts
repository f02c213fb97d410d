// Deploy to a running machine, end to end with real parts: a test host created through the emulated cloud (its
// agent, sshd on port 22, an empty Nix store), this machine's Nix building a flake whose one line the tests change,
// the S3 cache (s3rver) or a copy over the pinned SSH connection, and the machine-side nix/agent/thebacknd-deploy.sh
// run over SSH. What is asserted is what a user sees: the service answering, which toplevel is current, the deploy
// log's stage lines, and which machines exist.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { CliIo } from '../../../src/cli/context';
import { main } from '../../../src/cli/main';
import { isAbort } from '../../../src/base/errors';
import { appendDeployHistory, currentToplevel, deployToMachine, readDeployHistory, recordOf, type DeployEvent, type DeployOptions, type DeployRequest } from '../../../src/deploy';
import { runToplevel } from '../../../src/run';
import type { Machine } from '../../../src/providers/types';
import { requireMachineKeys } from '../../../src/ssh/keys';
import { SshSession, sshTargetFor } from '../../../src/ssh/session';
import { SERVICE_PORT } from '../../fixtures/testhost';
import { eventRecorder, runRequest, sshOut, startCacheWorld, worldPorts, type CacheWorld } from '../run/cache-world';
import { runIds, TOKEN, until, type World } from '../run/world';
import { writeDeployFlake, type DeployFlake } from './flake';
import { deployOptions, deployRequest } from './options';

const TIMEOUT = 180_000;
let cw: CacheWorld;
let w: World;
let flake: DeployFlake;
let machine: Machine;
let ip: string;
let first: string;

const options = (over: Partial<DeployOptions> = {}): DeployOptions => deployOptions(cw, flake.dir, over);

const request = (over: Partial<DeployRequest> = {}): DeployRequest => deployRequest(machine, flake.dir, over);

const recorder = () => eventRecorder<DeployEvent>();

const ssh = (command: string): Promise<string> => sshOut(w, machine.runId!, ip, command);

function get(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: ip, port: SERVICE_PORT, path: '/', timeout: 5_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** What the service answers, once it answers what `want` accepts (a restarted service takes a moment to listen). */
const answers = (want: (body: string) => boolean): Promise<string> =>
  until('the service to answer', async () => {
    const body = await get().catch(() => undefined);
    return body !== undefined && want(body) ? body : undefined;
  });

const current = async (): Promise<{ system: string; profile: string }> => {
  const [system, profile] = (await ssh('readlink -f /run/current-system; readlink -f /nix/var/nix/profiles/system')).trim().split('\n');
  return { system: system!, profile: profile! };
};

const localClosure = async (p: string): Promise<Set<string>> => {
  const { execFileSync } = await import('node:child_process');
  return new Set(execFileSync('nix-store', ['-qR', p], { env: w.env, encoding: 'utf8' }).trim().split('\n'));
};

before(async () => {
  cw = await startCacheWorld();
  w = cw.w;
  flake = writeDeployFlake(w.dir, `${process.pid}-${Date.now()}`);
});

after(async () => {
  await cw?.close();
});

test('a running machine gets a second toplevel: its new service answers, the old one is gone, no machine is created', { timeout: TIMEOUT }, async (t) => {
  const ids = runIds(t, w);
  // The machine, as Run Toplevel makes it: v1 built, pushed, switched to at boot.
  const run = await runToplevel(
    worldPorts(cw, 'hetzner', flake.dir),
    runRequest('hetzner', { kind: 'configuration', flakeRef: flake.dir, name: 'svc' }),
    new AbortController().signal,
    () => undefined,
    ids.next(),
  );
  // Kept for the next tests (the world's close removes it).
  ids.all.length = 0;
  machine = run.machine;
  ip = machine.ipv4!;
  first = run.storePath!;
  assert.equal(await answers(() => true), flake.greetingOf('v1'));
  const oldPid = (await ssh('cat /run/deploy-e2e-service.pid')).trim();
  const before = (await w.alive()).map((m) => `${m.id} ${m.deadline}`).sort();

  const greeting = flake.setVersion('v2');
  const rec = recorder();
  const result = await deployToMachine(options(), request(), new AbortController().signal, rec.emit);

  assert.equal(result.outcome, 'confirmed', rec.log().join('\n'));
  assert.deepEqual(rec.stages(), ['build', 'sign', 'push', 'activate', 'switch', 'confirm', 'done']);
  assert.notEqual(result.storePath, first);
  assert.equal(result.previous, first);
  assert.equal(await answers((b) => b !== flake.greetingOf('v1')), greeting);
  assert.deepEqual(await current(), { system: result.storePath, profile: result.storePath });
  // Stopped (a killed process may linger as a zombie of whoever adopted it: that is gone too).
  const state = `s=$(cut -d' ' -f3 /proc/${oldPid}/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] && echo gone || echo alive`;
  await until("the old generation's service to stop", async () => ((await ssh(state)).trim() === 'gone' ? true : undefined));
  assert.notEqual((await ssh('cat /run/deploy-e2e-service.pid')).trim(), oldPid, 'the service is a new process');
  // The switch's own output streamed like the boot log, then the machine's verdict.
  const log = rec.log();
  assert.ok(log.includes(`activated ${result.storePath}`), log.join('\n'));
  assert.ok(
    log.some((l) => /^thebacknd: stage=armed wait=30s /.test(l)),
    log.join('\n'),
  );
  assert.equal(log.at(-1), `thebacknd: stage=done result=confirmed toplevel=${result.storePath}`);
  // Only what changed travelled: the paths of the new closure that the old one lacks, uploaded and fetched once.
  const old = await localClosure(first);
  const fresh = [...(await localClosure(result.storePath))].filter((p) => !old.has(p));
  assert.equal(result.uploadedPaths, fresh.length);
  assert.ok(log.includes(`thebacknd: stage=fetch paths=${fresh.length}/${fresh.length} bytes=${result.fetchedBytes}/${result.fetchedBytes}`), log.join('\n'));
  assert.ok(result.uploadedBytes > 0 && result.uploadedBytes < 64 * 1024, `a few KiB travelled (${result.uploadedBytes})`);
  // Same machines, same deadlines.
  assert.deepEqual((await w.alive()).map((m) => `${m.id} ${m.deadline}`).sort(), before);

  // The history the tree and panel show.
  await appendDeployHistory(w.keysRoot, machine.runId!, recordOf(result));
  const history = await readDeployHistory(w.keysRoot, machine.runId!);
  assert.equal(history.length, 1);
  assert.equal(currentToplevel(history), result.storePath);

  // A redeploy of the same configuration sends nothing and fetches nothing.
  const again = await deployToMachine(options(), request({ transfer: 'ssh' }), new AbortController().signal, () => undefined);
  assert.equal(again.outcome, 'confirmed');
  assert.equal(again.uploadedPaths, 0);
  assert.equal(again.fetchedBytes, 0);
});

test('a toplevel whose switch kills sshd is rolled back by the machine itself; SSH answers again with the pinned key', { timeout: TIMEOUT }, async () => {
  assert.ok(machine, 'the first test made the machine');
  const before = await current();
  const rec = recorder();
  // Over SSH this time (no cache): the copy goes over the pinned connection too.
  const result = await deployToMachine(
    options(),
    request({ payload: { kind: 'configuration', flakeRef: flake.dir, name: 'nossh' }, transfer: 'ssh', confirmTimeoutSeconds: 3 }),
    new AbortController().signal,
    rec.emit,
  );
  const log = rec.log();
  assert.equal(result.outcome, 'rolled-back', log.join('\n'));
  assert.ok(log.includes('sshd stopped'), log.join('\n'));
  assert.ok(
    log.some((l) => l.startsWith('thebacknd: stage=rollback reason=confirm-timeout')),
    log.join('\n'),
  );
  assert.equal(log.at(-1), `thebacknd: stage=rolled-back reason=confirm-timeout message="no confirmation over a new SSH session within 3s" toplevel=${before.system}`);
  assert.match(result.reason ?? '', /^no confirmation over a new SSH session within 3s \(from here: SSH on [\d.]+ refused the connection/);
  // SSH with the pinned key answers again (ssh() refuses any other host key) and the old toplevel is current.
  assert.deepEqual(await current(), before);
  assert.equal(await answers(() => true), await ssh('cat /run/current-system/greeting'));
});

test('cancelling during a deploy leaves the machine on a consistent generation', { timeout: TIMEOUT }, async () => {
  assert.ok(machine, 'the first test made the machine');
  const before = await current();
  flake.setVersion('v3');
  const ctl = new AbortController();
  const rec = recorder();
  await assert.rejects(
    deployToMachine(options(), request(), ctl.signal, (e) => {
      rec.emit(e);
      if (e.type === 'stage' && e.stage === 'switch') ctl.abort();
    }),
    (err: unknown) => isAbort(err),
  );
  assert.ok(
    rec.log().some((l) => l.startsWith('Cancelled')),
    rec.log().join('\n'),
  );
  // The machine settles by itself: wait for its deploy's last line, then look.
  const deploysDir = w.hostOf(machine)!.file('run/thebacknd/deploys');
  const newest = (): string => fs.readdirSync(deploysDir).sort().at(-1)!;
  const last = await until('the machine-side deploy to end', async () => {
    const lines = fs
      .readFileSync(path.join(deploysDir, newest(), 'log'), 'utf8')
      .trim()
      .split('\n');
    const l = lines.at(-1) ?? '';
    return /stage=(done|rolled-back|failed)/.test(l) ? l : undefined;
  });
  assert.match(last, /stage=rolled-back reason=cancelled/);
  const now = await current();
  assert.equal(now.system, now.profile, "the running system is the profile's generation");
  assert.deepEqual(now, before);
  const greeting = await ssh('cat /run/current-system/greeting');
  assert.equal(await answers((b) => b === greeting), greeting, "the service is the generation's own");
  // Nothing holds the machine's deploy lock: the next deploy may start.
  assert.equal((await ssh('test -e /run/thebacknd/deploy.lock && echo held || echo free')).trim(), 'free');
});

test('thebacknd deploy: the CLI deploys over SSH without a cache, prints NAME PATH OUTCOME, and refuses bad arguments with exit 2', { timeout: TIMEOUT }, async () => {
  assert.ok(machine, 'the first test made the machine');
  const cli = async (argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: new Writable({ write: (c: Buffer, _e, cb) => ((stdout += c.toString()), cb()) }),
      stderr: new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) }),
      env: { ...w.env, HCLOUD_TOKEN: TOKEN },
      interactive: false,
      signal: new AbortController().signal,
      providerOptions: { retry: { baseDelayMs: 5, maxDelayMs: 50 } },
    };
    return { code: await main(argv, io), stdout, stderr };
  };
  const common = ['--provider', 'hetzner', '--endpoint', w.emu.hetznerUrl, 'deploy', machine.name];
  const greeting = flake.setVersion('v4');
  const r = await cli([...common, 'svc', '--flake', flake.dir, '--state-dir', w.keysRoot, '--no-cache', '--deploy-command', options().deployCommand!]);
  assert.equal(r.code, 0, r.stderr);
  const m = new RegExp(`^${machine.name} (/nix/store/[a-z0-9]{32}-nixos-system-deploy-e2e) confirmed\\n$`).exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] confirm a new SSH session to /m);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] done confirmed$/m);
  assert.match(r.stderr, /^Sent [\d.]+ (B|KiB) \(1 new path\); the machine fetched 0 B\.$/m);
  assert.equal((await current()).system, m[1]);
  assert.equal(await answers((b) => b === greeting), greeting);
  const history = await readDeployHistory(w.keysRoot, machine.runId!);
  assert.equal(history.at(-1)?.storePath, m[1]);

  for (const [args, message] of [
    [['--confirm-timeout', '0'], /--confirm-timeout must be whole seconds from 1 to 3600\./],
    [['--no-rollback', '--confirm-timeout', '5'], /--no-rollback and --confirm-timeout exclude each other\./],
    [['a', 'b'], /deploy takes a machine and at most one thing to deploy/],
  ] as const) {
    const bad = await cli([...common, ...args]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, message);
  }
  const unknown = await cli(['--provider', 'hetzner', '--endpoint', w.emu.hetznerUrl, 'deploy', 'thebacknd-999']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^thebacknd: No thebacknd machine named or numbered "thebacknd-999" on Hetzner\.\n$/);
});

test('one deploy at a time: a second start while one is armed is refused; confirming the first frees the machine', { timeout: TIMEOUT }, async () => {
  assert.ok(machine, 'the first test made the machine');
  const script = options().deployCommand!;
  const { system } = await current();
  const first = await ssh(`${script} start busy-1 ${system} 30`);
  assert.match(first, /^thebacknd: stage=started id=busy-1 log=\/run\/thebacknd\/deploys\/busy-1\/log\n$/);
  // The same toplevel switches again; wait until it is armed (on its log, not a clock).
  await until('the first deploy to be armed', async () => ((await ssh('cat /run/thebacknd/deploys/busy-1/log')).includes('stage=armed') ? true : undefined));
  const session = await SshSession.connect(await sshTargetFor(await requireMachineKeys(w.keysRoot, machine.runId!), ip));
  try {
    const second = await session.run(`${script} start busy-2 ${system} 30`);
    assert.equal(second.code, 1);
    assert.equal(second.stdout, 'thebacknd: stage=failed reason=busy message="another deploy (busy-1) is still running on this machine"\n');
    assert.equal((await session.run(`${script} confirm busy-1`)).code, 0);
    const late = await session.run(`${script} cancel busy-1`);
    assert.equal(late.code, 3, 'a cancel after the confirmation does not win');
    assert.equal(late.stdout, 'thebacknd: stage=decided id=busy-1 by=confirmed\n');
  } finally {
    session.close();
  }
  await until('the first deploy to end', async () => ((await ssh('tail -n 1 /run/thebacknd/deploys/busy-1/log')).includes('stage=done result=confirmed') ? true : undefined));
  await until('the lock to be released', async () => ((await ssh('test -e /run/thebacknd/deploy.lock && echo held || echo free')).trim() === 'free' ? true : undefined));
  assert.deepEqual(await current(), { system, profile: system });
});
