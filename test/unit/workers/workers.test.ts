// Build on Ephemeral Workers against real components: the emulated clouds create real test hosts (sshd on port 22,
// Debian's Nix on a private store), this machine's Nix builds with them as its only builders, and every worker is
// destroyed after a success, a failing derivation and a cancellation (or kept, when asked, with its deadline).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { isAbort, UserError } from '../../../src/base/errors';
import { listMachineKeyIds } from '../../../src/ssh/keys';
import { buildOnWorkers, shellForMachine, type WorkersEvent, type WorkersRequest } from '../../../src/workers';
import { PLACEMENT, testFlake, workerWorld, type WorkerWorld } from './helpers';
import type { ProviderId } from '../../../src/providers/types';

const TIMEOUT = 240_000;

function request(w: WorkerWorld, provider: ProviderId, installable: string, over: Partial<WorkersRequest> = {}): WorkersRequest {
  return {
    installable,
    placement: PLACEMENT[provider],
    count: 2,
    maxAgeMinutes: 30,
    outLink: `${w.dir}/result`,
    keepOnFailure: false,
    // One build at a time per worker: with three leaves in flight, Nix has to use both.
    maxJobs: 1,
    pollMs: 100,
    sshTimeoutMs: 60_000,
    ...over,
  };
}

function recorder(): { events: WorkersEvent[]; log: string[]; emit: (e: WorkersEvent) => void } {
  const events: WorkersEvent[] = [];
  const log: string[] = [];
  return {
    events,
    log,
    emit: (e) => {
      events.push(e);
      if (e.type === 'log') log.push(e.line);
    },
  };
}

test('a build spread over 2 Hetzner workers leaves its result here, and both workers are destroyed', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `ok-${Date.now()}`);
  const rec = recorder();
  const ctx = { provider: w.provider('hetzner'), storageDir: w.storageDir, nix: { env: w.env } };
  const result = await buildOnWorkers(ctx, request(w, 'hetzner', flake.installable('all')), new AbortController().signal, rec.emit);

  // The result is here, as an out-link to a store path of this machine's store.
  assert.equal(result.outLink, `${w.dir}/result`);
  const target = fs.readlinkSync(result.outLink);
  assert.equal(target, result.outputs[0]);
  assert.match(target, /^\/nix\/store\/[a-z0-9]{32}-all$/);
  assert.equal(fs.readFileSync(result.outLink, 'utf8'), 'leaf a\nleaf b\nleaf c\n');

  // Both workers built something, and the log says where each derivation went.
  const names = result.workers.map((x) => x.name).sort();
  assert.deepEqual(names, ['thebacknd-1', 'thebacknd-2']);
  const used = new Set(rec.events.flatMap((e) => (e.type === 'remote-build' ? [e.worker] : [])));
  assert.deepEqual([...used].sort(), names, 'each worker built at least one derivation');
  const ips = result.workers.map((x) => x.ip!);
  for (const ip of ips)
    assert.ok(
      rec.log.some((l) => l.startsWith("building '/nix/store/") && l.includes(`on 'ssh://root@${ip}'`)),
      `the log shows ${ip} building`,
    );
  assert.ok(!rec.log.some((l) => /^building '\/nix\/store\/[^']+'\.\.\.$/.test(l)), 'nothing was built locally');
  assert.equal(
    result.workers.reduce((a, x) => a + x.builds, 0),
    4,
    'three leaves and the top went to the workers',
  );
  assert.ok(result.workers.every((x) => x.state === 'destroyed'));

  // The cost: the estimate before, the bill after (Hetzner bills each started hour: 2 × €0.006 net for cx22).
  const estimate = rec.events.find((e) => e.type === 'stage' && e.stage === 'estimate');
  assert.match(estimate?.type === 'stage' ? (estimate.detail ?? '') : '', /^2 × cx22 at €0\.0060\/h = €0\.0120\/h; about €0\.0120 for 30 min/);
  assert.equal(result.cost.workers.length, 2);
  assert.equal(result.cost.total.toFixed(4), '0.0120');
  assert.match(result.cost.text, /^2 workers for up to \d+ (s|min): €0\.0120 \(Hetzner bills each started hour\)\.$/);

  await w.assertNothingLeft('hetzner');
});

test("a failing derivation fails the build with Nix's reason, naming the worker, and destroys the DigitalOcean workers", { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `fail-${Date.now()}`);
  const rec = recorder();
  const ctx = { provider: w.provider('digitalocean'), storageDir: w.storageDir, nix: { env: w.env } };
  await assert.rejects(buildOnWorkers(ctx, request(w, 'digitalocean', flake.installable('fails')), new AbortController().signal, rec.emit), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /^Building path:.*#fails on the workers failed: build of '\/nix\/store\/[a-z0-9]{32}-fails\.drv' on thebacknd-\d \(10\.213\.\d+\.\d+\) failed/);
    assert.match(err.detail ?? '', /fails> deliberate failure/);
    return true;
  });
  assert.ok(
    rec.log.some((l) => l === 'fails> deliberate failure'),
    'the builder output was streamed',
  );
  const cost = rec.events.find((e) => e.type === 'cost');
  assert.ok(cost?.type === 'cost' && cost.report.workers.length === 2, 'the bill is reported after a failure too');
  await w.assertNothingLeft('digitalocean');
});

test('cancelling during the build destroys every worker', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `cancel-${Date.now()}`);
  const ctl = new AbortController();
  const rec = recorder();
  const ctx = { provider: w.provider('hetzner'), storageDir: w.storageDir, nix: { env: w.env } };
  const out = spawnSync('nix', ['eval', '--raw', `${flake.installable('slow')}.outPath`], { env: w.env, encoding: 'utf8' }).stdout;
  assert.match(out, /^\/nix\/store\/[a-z0-9]{32}-slow$/);
  await assert.rejects(
    buildOnWorkers(ctx, request(w, 'hetzner', flake.installable('slow')), ctl.signal, (e) => {
      rec.emit(e);
      if (e.type === 'log' && e.line === 'slow> slow build starts') ctl.abort();
    }),
    (err: unknown) => isAbort(err),
  );
  assert.ok(rec.log.includes('slow> slow build starts'), 'the remote build had started');
  // The 300 s build was not waited for: its output never reached this store (and the test's timeout is shorter).
  assert.equal(fs.existsSync(out), false, 'the 300 s build was not waited for');
  await w.assertNothingLeft('hetzner');
});

test('cancelling while the workers start lets every create finish, then destroys them all', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const ctl = new AbortController();
  const ctx = { provider: w.provider('digitalocean'), storageDir: w.storageDir, nix: { env: w.env } };
  let created = 0;
  await assert.rejects(
    buildOnWorkers(ctx, request(w, 'digitalocean', 'path:/unused#x', { count: 3 }), ctl.signal, (e) => {
      if (e.type === 'worker' && e.worker.state === 'starting' && ++created === 1) ctl.abort();
    }),
    (err: unknown) => isAbort(err),
  );
  assert.ok(created >= 1);
  assert.ok(w.namespaces.length >= 1, 'at least one worker had a host');
  await w.assertNothingLeft('digitalocean');
});

test('with keep on failure, failed workers stay, tagged with their deadline, with keys for a worker shell that builds on them', { timeout: TIMEOUT }, async (t) => {
  const w = await workerWorld(t);
  const flake = testFlake(w.dir, `keep-${Date.now()}`);
  const rec = recorder();
  const provider = w.provider('hetzner');
  const ctx = { provider, storageDir: w.storageDir, nix: { env: w.env } };
  const req = request(w, 'hetzner', flake.installable('fails'), { count: 1, keepOnFailure: true, maxAgeMinutes: 20 });
  await assert.rejects(buildOnWorkers(ctx, req, new AbortController().signal, rec.emit), UserError);
  const { machines, serverTime } = await provider.list();
  assert.equal(machines.length, 1);
  const kept = machines[0]!;
  assert.ok(kept.runId && kept.deadline, 'the kept worker carries its run id and deadline, so the reaper still ends it');
  const left = Date.parse(kept.deadline) - serverTime.getTime();
  assert.ok(left > 18 * 60_000 && left <= 20 * 60_000, `deadline in ${left} ms`);
  assert.deepEqual(await listMachineKeyIds(w.storageDir), [kept.runId], 'its keys stay for Open Worker Shell');
  assert.ok(rec.log.some((l) => l.startsWith(`Keeping ${kept.name} (`) && l.includes('still destroyed at its deadline')));
  const cost = rec.events.find((e) => e.type === 'cost');
  assert.ok(cost?.type === 'cost');
  assert.match(cost.report.text, /Kept workers run on: at most €0\.0060 in all if they live until their deadline\.$/);

  // Open Worker Shell's environment works on it, through OpenSSH and Nix, pinned to its host key.
  const shell = await shellForMachine(w.storageDir, kept, 1);
  const script = [
    'set -e',
    'nix store ping --store "$store"',
    '$ssh echo hello from "$(cat /proc/sys/kernel/hostname)"',
    `nix build --json --no-link --max-jobs 0 --builders "$builder" ${flake.installable('quick')}`,
  ].join('\n');
  const sh = spawnSync('bash', ['-c', script], { env: { ...w.env, ...shell.env }, encoding: 'utf8', timeout: 120_000 });
  assert.equal(sh.status, 0, sh.stderr);
  assert.match(sh.stdout, /^hello from /m);
  assert.match(sh.stderr, new RegExp(`building '/nix/store/[a-z0-9]{32}-quick\\.drv' on 'ssh://root@${kept.ipv4!.replace(/\./g, '\\.')}'`));
  assert.match(sh.stdout, /"out":"\/nix\/store\/[a-z0-9]{32}-quick"/);

  // What the reaper would do at the deadline: destroy by run id.
  assert.equal(await provider.destroyByRunId(kept.runId), 1);
  assert.equal(w.alive('hetzner'), 0);
});
